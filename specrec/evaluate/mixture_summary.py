"""What a mixture fit says about its components: weights, and how clearly each level belongs.

Read from the InferenceData after relabelling (``reference.mixture_draws``), so component k is
the same component in every draw and chain, on every backend.
"""

from __future__ import annotations

import numpy as np

from specrec.evaluate.thinning import spread
from specrec.model import mixture
from specrec.model.ir import Model

#: a level whose largest responsibility is below this is counted as ambiguous
CLEAR = 0.9
#: draws the data log-likelihood is averaged over (evenly spaced; a point fit has one)
REPORT_DRAWS = 10


def mixture_summary(model: Model, idata) -> dict:
    mix = model.mixture
    assert mix is not None
    post = idata.posterior
    names = [rv.name for rv in model.latents]
    chains, draws = post[names[0]].shape[:2]
    weights = []
    for c in range(chains):
        for d in range(draws):
            values = {n: np.asarray(post[n].values[c, d]) for n in names}
            w = np.exp(mixture.log_weights(model, values))
            weights.append(w.reshape(-1, w.shape[-1]).mean(0))
    picked = spread(chains * draws, REPORT_DRAWS)
    reports = [
        mixture.point_report(
            model,
            {n: np.asarray(post[n].values[i // draws, i % draws]) for n in names},
        )
        for i in picked
    ]
    out: dict = {
        "dim": mix.dim,
        "per": mix.per,
        "components": model.dims[mix.dim].size,
        "order": "draws matched to a pivot draw by their predictions; the pivot's components "
        "by mean prediction over the training rows, lowest first",
        "weights_mean": np.mean(weights, axis=0).round(6).tolist(),
        "log_likelihood": float(np.mean([r["log_likelihood"] for r in reports])),
        "nonempty_components": int(np.rint(np.mean([r["nonempty_components"] for r in reports]))),
    }
    if mix.per is None or model.responsibility_name is None:
        return out
    seen = np.unique(mix.rows.index[mix.per])
    resp = np.asarray(post[model.responsibility_name].values).mean(axis=(0, 1))[seen]
    top = resp.max(axis=1)
    out |= {
        "levels": int(seen.size),
        "levels_per_component": np.bincount(resp.argmax(1), minlength=resp.shape[1]).tolist(),
        "mean_max_responsibility": float(top.mean()),
        "ambiguous_levels": int((top < CLEAR).sum()),
    }
    return out
