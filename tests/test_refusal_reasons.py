"""``specrec.backends.refusal_reasons``: the checks every backend shares, made once in the core.

A backend declares what it translates (``distributions``) and which model features it has
(``features``); the core turns what a model needs beyond that, and settings no backend can honour
(minibatches outside vi), into reasons given before any work.  ``fit``, ``check``, SBC and the
conformance suite all ask this one function, so these tests need no PPL.
"""

from __future__ import annotations

from typing import Any

from specrec import backends
from specrec.testing.cases import prepare_example


class _Declaring:
    """A backend that translates only Normal and adds one reason of its own."""

    name = "partial"
    methods = ("map", "vi", "nuts")
    distributions = frozenset({"Normal"})
    version = "0"

    def __init__(self, own: list[str] | None = None) -> None:
        self.own = own or []

    def unsupported(self, model: Any, settings: Any) -> list[str]:
        return list(self.own)


class _Silent(_Declaring):
    """A plugin written before ``distributions`` existed: it declares nothing."""

    distributions = None  # type: ignore[assignment]


def test_a_distribution_the_backend_does_not_declare_is_refused_by_name() -> None:
    p = prepare_example("quickstart")  # HalfNormal and Normal priors, Normal likelihood
    reasons = backends.refusal_reasons(_Declaring(), p.model, p.loaded.spec.inference)
    assert "distribution HalfNormal is not supported by partial" in reasons
    assert not any("distribution Normal " in r for r in reasons)


def test_a_backend_that_declares_nothing_is_left_to_its_own_checks() -> None:
    p = prepare_example("quickstart")
    settings = p.loaded.spec.inference
    assert backends.refusal_reasons(_Silent(), p.model, settings) == []
    assert backends.refusal_reasons(_Silent(["mine"]), p.model, settings) == ["mine"]


def test_minibatch_outside_vi_is_refused_once_even_if_the_backend_also_says_so() -> None:
    p = prepare_example("group_means")
    settings = p.loaded.spec.inference.model_copy(update={"method": "nuts", "batch_size": 10})
    [core] = backends.minibatch_reasons(settings)
    reasons = backends.refusal_reasons(_Silent([core, "mine"]), p.model, settings)
    assert reasons == [core, "mine"]
    vi = settings.model_copy(update={"method": "vi"})
    assert backends.refusal_reasons(_Silent(), p.model, vi) == []


class _MapOnly(_Declaring):
    """Runs map natively and has no log density: no core kernel can give it vi."""

    methods = ("map",)


def test_a_method_the_backend_does_not_offer_is_refused_with_what_it_offers() -> None:
    p = prepare_example("group_means")
    nuts = p.loaded.spec.inference.model_copy(update={"method": "nuts"})
    reasons = backends.refusal_reasons(_MapOnly(), p.model, nuts)
    # em computes from the model alone, so even a backend with no log density is given it
    assert reasons == ["partial does not offer method 'nuts' (it offers map, em, cavi)"]
    assert backends.offered_methods(_MapOnly()) == ("map", "em", "cavi")


def test_a_method_not_offered_is_refused_before_the_data_is_read() -> None:
    """driver.check_method: the cheap refusal fit and sbc make before loading any data."""
    import pytest

    from specrec import driver
    from specrec.errors import BackendError
    from specrec.testing.cases import example_spec

    loaded = example_spec("group_means", ["inference.method=nuts"])
    with pytest.raises(BackendError, match="does not offer method 'nuts'"):
        driver.check_method(_MapOnly(), loaded.spec.inference)
    driver.check_method(_Declaring(), loaded.spec.inference)  # offered: no error


class _OneSampler(_Declaring):
    samplers = ("own",)


def test_a_sampler_the_backend_does_not_declare_is_refused_in_the_core() -> None:
    p = prepare_example("group_means")
    settings = p.loaded.spec.inference.model_copy(update={"method": "nuts", "sampler": "stan"})
    assert backends.refusal_reasons(_OneSampler(), p.model, settings) == [
        "sampler 'stan' is unknown to the partial backend; choose one of own"
    ]
    own = settings.model_copy(update={"sampler": "own"})
    assert backends.refusal_reasons(_OneSampler(), p.model, own) == []
    assert backends.refusal_reasons(_Declaring(), p.model, settings) == []  # declares none
