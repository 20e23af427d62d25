"""Backend arrays -> the run's InferenceData groups (``RunData``), named once for every backend.

Because specrec (not each backend) builds the InferenceData, variable names, dims, coords and
sample-statistic names are identical across NumPyro, PyMC and Pyro, and the evaluator can read
any of them the same way.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from specrec.backends import SAMPLE_STATS, FitResult
from specrec.idata import RunData, draws_dataset
from specrec.model.ir import Model
from specrec.model.reference import derived_draws, mixture_draws


def to_inference_data(model: Model, result: FitResult) -> RunData:
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
    groups = {"posterior": draws_dataset(posterior, dims, coords)}
    if stats:
        groups["sample_stats"] = draws_dataset(stats, {}, {})
    if result.loss is not None:  # kept beside the draws so a saved run carries its loss trace
        loss = np.asarray(result.loss, dtype=float)
        groups["loss"] = xr.Dataset({"loss": (("step",), loss)})
    return RunData(groups, attrs={"inference_library": "specrec", "method": result.method})


def _assignment(model: Model, result: FitResult) -> str | None:
    """The name of the sampled components in ``result`` (Gibbs by data augmentation), if any."""
    from specrec.conjugacy.augment import assignment_name

    name = assignment_name(model)
    return name if model.mixture and model.mixture.per and name in result.posterior else None


def add_groups(idata: RunData, groups: dict) -> None:
    """Add ``observed_data``, ``log_likelihood``, ... (``specrec.evaluate.groups``) in place."""
    if groups:
        idata.add_groups(groups)
