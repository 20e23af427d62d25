"""Conjugate full conditionals derived from a lowered model, and a Gibbs sampler on them.

``analyse(model)`` decides, per latent, whether its full conditional has a closed form and
which (``Update``); ``explain(loaded)`` prints that for a spec; ``sample`` is the numpy Gibbs
sampler, the reference a backend's kernel (``specrec_numpyro.gibbs``) is checked against.
"""

from __future__ import annotations

from specrec.conjugacy.analysis import Update, analyse
from specrec.conjugacy.gibbs import refusal_reasons, sample
from specrec.spec.load import LoadedSpec

__all__ = ["Update", "analyse", "explain", "refusal_reasons", "sample"]


def explain(loaded: LoadedSpec, data_path: str | None = None) -> list[Update]:
    """The Gibbs update of every latent of a spec, lowered on its training rows."""
    from specrec.data.source import load_data
    from specrec.model.lower import lower

    ds, split = load_data(loaded, data_path)
    return analyse(lower(loaded, ds.take(split.train)), loaded.spec.inference.seed)
