"""Testing tools for specrec backends: the conformance suite and the models it runs on.

``specrec.testing.conformance`` is the pytest suite a backend package runs against itself
(see that module for the two files to add to a backend's tests); ``specrec.testing.cases``
holds the models, generated from the distribution table so new entries are covered at once.
Importing the cases needs no test dependencies; when pytest is installed, the suite's module
is registered for pytest's assertion rewriting (it lives in a package, not a test file, so
pytest would otherwise report its failed asserts without the values compared).
"""

import contextlib

from specrec.testing.cases import (
    EXAMPLE_SPECS,
    Case,
    Prepared,
    example_spec,
    group_means_posterior,
    likelihood_spec,
    parity_cases,
    prepare,
    prior_spec,
)

with contextlib.suppress(ImportError):
    import pytest

    pytest.register_assert_rewrite("specrec.testing.conformance")

__all__ = [
    "EXAMPLE_SPECS",
    "Case",
    "Prepared",
    "example_spec",
    "group_means_posterior",
    "likelihood_spec",
    "parity_cases",
    "prepare",
    "prior_spec",
]
