"""The backend conformance suite (``specrec.testing.conformance``) on the built-in backends.

The same suite a third-party backend runs; here ``backend_name`` is parametrised over the
three built-in backends, each marked ``backend(name)`` so ``-m`` can select one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from specrec.spec.load import load_spec
from specrec.testing import EXAMPLE_SPECS, example_spec
from specrec.testing.conformance import *  # noqa: F403

SPECS = Path(__file__).resolve().parents[2] / "specs"

BUILTIN = ("numpyro", "pymc", "pyro")


@pytest.fixture(params=[pytest.param(n, marks=pytest.mark.backend(n)) for n in BUILTIN])
def backend_name(request: pytest.FixtureRequest) -> str:
    return request.param


#: The shipped spec each suite copy stands for, and what the copy may change: the mixture case
#: is the Netflix spec with two types on a smaller simulated set.
SHIPPED = {
    "quickstart": ("quickstart", set()),
    "group_means": ("group_means", set()),
    "mixture": ("netflix_mixture", {"name", "data", "dims"}),
}


@pytest.mark.parametrize("name", sorted(EXAMPLE_SPECS))
def test_suite_specs_match_the_shipped_examples(name: str) -> None:
    """The suite carries copies of specs/ (it must run from a wheel); they must not drift."""
    file, may_differ = SHIPPED[name]
    shipped = load_spec(SPECS / f"{file}.yaml").spec
    copy = example_spec(name).spec
    exclude = {"description", "inference", *may_differ}
    assert copy.model_dump(exclude=exclude) == shipped.model_dump(exclude=exclude)
