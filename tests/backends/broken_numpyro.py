"""A deliberately wrong backend for the tests of ``specrec check``: NumPyro with HalfNormal's
scale doubled in its translation table, the kind of slip a backend author makes.  Registered
through a fake entry point (``fake_entry_points.registered``), never installed."""

from __future__ import annotations

from typing import Any
from unittest import mock

import numpy as np
import numpyro.distributions as dist
from specrec_numpyro import NumPyroBackend, translate

from specrec.backends import LogDensity
from specrec.model.ir import Model

WRONG = {"HalfNormal": lambda sigma: dist.HalfNormal(2 * sigma)}


class BrokenBackend(NumPyroBackend):
    name = "broken"

    def log_density(self, model: Model) -> LogDensity:
        inner = super().log_density(model)

        def call(point: dict[str, Any]) -> tuple[float, dict[str, np.ndarray]]:
            # NumPyro traces the model at the first call: the wrong entry is compiled in there
            with mock.patch.dict(translate.DISTRIBUTIONS, WRONG):
                return inner(point)

        return call
