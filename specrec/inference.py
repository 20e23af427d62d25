"""Backend arrays -> ArviZ InferenceData, named once for every backend.

Because specrec (not each backend) builds the InferenceData, variable names, dims, coords and
sample-statistic names are identical across NumPyro, PyMC and Pyro, and the evaluator can read
any of them the same way.
"""

from __future__ import annotations

import warnings

import numpy as np

from specrec.backends import SAMPLE_STATS, FitResult
from specrec.model.ir import Model
from specrec.model.reference import derived_draws, mixture_draws

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az


def to_inference_data(model: Model, result: FitResult) -> az.InferenceData:
    dims = {rv.name: list(rv.dims) for rv in model.latents}
    coords = {name: d.coords for name, d in model.dims.items()}
    posterior = {rv.name: np.asarray(result.posterior[rv.name]) for rv in model.latents}
    for name, arr in posterior.items():
        expected = model.latent(name).shape
        if arr.shape[2:] != expected:
            raise ValueError(
                f"backend returned {name} with shape {arr.shape[2:]}, expected {expected}"
            )
    # non-centred parameters by their own names, computed once here from the backend's draws
    posterior |= derived_draws(model, posterior)
    dims |= {d.name: list(d.dims) for d in model.derived}
    if model.mixture is not None:  # stable component labels; each level's responsibilities
        assignment = _assignment(model, result)
        if assignment is not None:  # a sampler's own draws of each level's component
            posterior[assignment] = np.asarray(result.posterior[assignment])
            dims[assignment] = [model.mixture.per]
        posterior = mixture_draws(model, posterior, assignment)
        if model.responsibility_name and model.mixture.per:
            dims[model.responsibility_name] = [model.mixture.per, model.mixture.dim]
    stats = {k: np.asarray(v) for k, v in result.sample_stats.items() if k in SAMPLE_STATS}
    idata = az.from_dict(
        posterior=posterior,
        sample_stats=stats or None,
        dims=dims,
        coords=coords,
        attrs={"inference_library": "specrec", "method": result.method},
    )
    if result.loss is not None:  # kept beside the draws so a saved run carries its loss trace
        import xarray as xr

        loss = np.asarray(result.loss, dtype=float)
        idata.add_groups({"loss": xr.Dataset({"loss": (("step",), loss)})})
    return idata


def _assignment(model: Model, result: FitResult) -> str | None:
    """The name of the sampled components in ``result`` (Gibbs by data augmentation), if any."""
    from specrec.conjugacy.augment import assignment_name

    name = assignment_name(model)
    return name if model.mixture and model.mixture.per and name in result.posterior else None


def add_groups(idata: az.InferenceData, groups: dict) -> None:
    """Add ``observed_data``, ``log_likelihood``, ... (``specrec.evaluate.groups``) in place.

    ArviZ warns about a group name outside its schema; every name here is inside it.
    """
    if groups:
        idata.add_groups(groups)
