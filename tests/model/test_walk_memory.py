"""The expression walk frees its intermediates when it returns, without the cyclic collector.

At 10M ratings every draw's gathers are (rows x factors) float64 arrays; the evaluator walks the
likelihood once per draw.  When the walk's cache stayed alive in a reference cycle, those arrays
piled up until the cyclic collector ran, and peak memory grew to 18 GB.
"""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import numpy as np

from specrec.data.simulate import simulate
from specrec.model.lower import lower
from specrec.model.reference import sample_prior
from specrec.model.walk import NumpyOps, evaluate
from specrec.spec.load import load_spec

SPECS = Path(__file__).resolve().parents[2] / "specs"


class RecordingOps(NumpyOps):
    """NumPy ops that keep a weak reference to every gathered array."""

    def __init__(self) -> None:
        self.gathered: list[weakref.ref] = []

    def gather(self, x, index, axis):
        out = super().gather(x, index, axis)
        self.gathered.append(weakref.ref(out))
        return out


def test_intermediates_are_freed_when_the_walk_returns():
    loaded = load_spec(
        SPECS / "scale.yaml",
        ["data.sizes.user=10", "data.sizes.item=8", "dims.factor=3", "data.rows=200"],
    )
    model = lower(loaded, simulate(loaded))
    values = sample_prior(model, np.random.default_rng(0))
    ops = RecordingOps()
    gc.collect()
    gc.disable()  # only reference counting may free them
    try:
        mean = evaluate(model.likelihood.args["mu"], values, model.data, ops)
        assert ops.gathered, "the likelihood mean gathers factors by row"
        alive = [ref for ref in ops.gathered if ref() is not None and ref() is not mean]
        assert not alive, f"{len(alive)} gathered arrays outlive the walk"
    finally:
        gc.enable()
