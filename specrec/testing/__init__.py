"""Testing tools for specrec backends: the conformance suite and the models it runs on.

``specrec.testing.conformance`` is the pytest suite a backend package runs against itself
(see that module for the two files to add to a backend's tests); ``specrec.testing.cases``
holds the models, generated from the distribution table so new entries are covered at once.
This package imports pytest only in ``conformance``, so importing the cases needs no test
dependencies.
"""

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
