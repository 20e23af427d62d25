"""``inference.init: map``: nuts starts where a map fit of the same backend ended."""

from __future__ import annotations

import numpy as np
import pytest

from specrec import backends
from specrec.errors import SpecError
from specrec.fitting import fit
from specrec.spec.load import parse_spec_text
from specrec.testing.cases import EXAMPLE_SPECS, QUICKSTART_SMALL


@pytest.mark.backend("numpyro")
def test_nuts_starts_at_the_map_point(monkeypatch):
    real = backends.get("numpyro")
    calls = []
    original = type(real).fit

    def spy(self, model, settings, init, progress):  # the real backend, its calls recorded
        result = original(self, model, settings, init, progress)
        calls.append((settings.method, init, result))
        return result

    monkeypatch.setattr(type(real), "fit", spy)
    sets = [
        *QUICKSTART_SMALL,
        "inference.method=nuts",
        "inference.init=map",
        "inference.steps=300",
        "inference.lr=0.05",
        "inference.warmup=30",
        "inference.draws=30",
        "inference.max_tree_depth=4",
    ]
    run = fit(
        parse_spec_text(EXAMPLE_SPECS["quickstart"], "<q>", sets),
        backend="numpyro",
        out=None,
        progress=False,
    )
    assert [c[0] for c in calls] == ["map", "nuts"]
    (_, _, pre), (_, nuts_init, _) = calls
    for name, value in nuts_init.items():
        np.testing.assert_array_equal(value, np.asarray(pre.posterior[name])[0, 0], err_msg=name)
    assert abs(float(nuts_init["sigma"]) - 1.0) > 0.2  # moved from the uniform start (~1)
    assert run.metrics["init_fit"]["method"] == "map"
    assert run.metrics["timing"]["fit_s"] >= run.metrics["init_fit"]["fit_s"] > 0


def test_init_map_is_refused_for_map():
    with pytest.raises(SpecError, match="init: map starts vi or nuts"):
        parse_spec_text(
            EXAMPLE_SPECS["quickstart"], "<q>", ["inference.method=map", "inference.init=map"]
        )
