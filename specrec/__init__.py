"""specrec: declarative Bayesian recommender models on NumPyro, PyMC and Pyro.

The Python API mirrors the CLI::

    import specrec
    run = specrec.fit("specs/quickstart.yaml", backend="numpyro", overrides=["inference.draws=200"])
    run.metrics["metrics"]["test"]["rmse"]
    run.predict(pairs)                    # a DataFrame of raw ids -> mean, lower, upper
    run = specrec.load_run(run.path)      # later, from the run directory alone
    run.recommend(user=7, n=10)
    specrec.compare_models([run_a.path, run_b.path])   # PSIS-LOO ranking of two specs' runs

Attributes are imported lazily so that ``import specrec`` (and the CLI's start-up) stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "Comparison",
    "LoadedRun",
    "Run",
    "compare_models",
    "fit",
    "load_run",
    "load_spec",
    "lower",
    "parse_spec_text",
    "run_sbc",
]

_LAZY = {
    "fit": "specrec.fitting",
    "compare_models": "specrec.model_comparison",
    "Comparison": "specrec.model_comparison",
    "load_spec": "specrec.spec.load",
    "parse_spec_text": "specrec.spec.load",
    "lower": "specrec.model.lower",
    "load_run": "specrec.run",
    "LoadedRun": "specrec.run",
    "Run": "specrec.run",
    "run_sbc": "specrec.sbc",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'specrec' has no attribute {name!r}")
