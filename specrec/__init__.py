"""specrec: declarative Bayesian recommender models on NumPyro, PyMC and Pyro.

The Python API mirrors the CLI::

    import specrec
    run = specrec.fit("specs/quickstart.yaml", backend="numpyro", overrides=["inference.draws=200"])
    run.metrics["metrics"]["test"]["rmse"]

Attributes are imported lazily so that ``import specrec`` (and the CLI's start-up) stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["fit", "load_spec", "lower", "parse_spec_text"]

_LAZY = {
    "fit": "specrec.fitting",
    "load_spec": "specrec.spec.load",
    "parse_spec_text": "specrec.spec.load",
    "lower": "specrec.model.lower",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'specrec' has no attribute {name!r}")
