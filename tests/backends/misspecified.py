"""A deliberately mis-specified backend for the SBC tests: NumPyro fitting the spec's model with
one prior's scale shrunk tenfold, the kind of slip a translation can make.  The change is made
on the model representation before the real backend sees it, so the same wrapper would
mis-specify any backend.  Registered through a fake entry point, never installed."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from specrec_numpyro import NumPyroBackend

from specrec.model.ir import Const, Model

#: parameter -> (argument, factor): sigma ~ HalfNormal(1) is fitted as HalfNormal(0.1).
WRONG = {"sigma": ("sigma", 0.1)}


def misspecify(model: Model) -> Model:
    latents = []
    for rv in model.latents:
        if rv.name in WRONG:
            arg, factor = WRONG[rv.name]
            old = rv.args[arg]
            assert isinstance(old, Const)
            wrong = Const(np.asarray(old.value * factor), old.dims, f"{factor} * {old.label}")
            rv = replace(rv, args={**rv.args, arg: wrong})
        latents.append(rv)
    return replace(model, latents=tuple(latents))


class WrongScaleBackend(NumPyroBackend):
    name = "wrongscale"

    def fit(self, model, settings, init, progress):
        return super().fit(misspecify(model), settings, init, progress)
