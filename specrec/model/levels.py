"""A fitted model grown by levels it never saw: new users or items, predicted from the population.

Codes are made over the whole data set before a split (``specrec.data.dataset``), so a user who
has no training rows already has parameters, drawn from the population level (the prior given
the hyperparameters), and every statistic of the spec gives such a level the value it gives any
level without rows.  An id that was not in the data at all is made into exactly such a level:
it is appended to its dim's level table and the spec is lowered again on the same training
rows, so the new level's constants (``mean_by`` of a level without rows, ...) come from the one
lowering, never from a second copy of its rules.  The old levels keep the constants the fit
used (a statistic over the other dim, such as ``dense_var_by``, would otherwise shift).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from specrec.data.dataset import Dataset
from specrec.model.ir import Const, Expr, Model, RandomVariable
from specrec.spec.load import LoadedSpec


def with_new_levels(
    loaded: LoadedSpec, train: Dataset, model: Model, new_ids: dict[str, np.ndarray]
) -> Model:
    """``model`` with ``new_ids[dim]`` appended to each data dim's levels (raw ids, not codes)."""
    from specrec.model.lower import lower

    levels = dict(train.levels)
    for dim, ids in new_ids.items():
        column = model.dims[dim].column
        assert column is not None, f"{dim!r} is not a data dim"
        old = levels[column]
        levels[column] = np.concatenate([old.astype(object), np.asarray(ids, dtype=object)])
    grown = Dataset(train.response, train.y, train.codes, levels, train.numeric, train.source)
    bigger = lower(loaded, grown)
    old_sizes = {dim: model.dims[dim].size for dim in new_ids}
    return replace(
        bigger,
        latents=tuple(
            _graft_rv(o, n, old_sizes) for o, n in zip(model.latents, bigger.latents, strict=True)
        ),
        likelihood=_graft_rv(model.likelihood, bigger.likelihood, old_sizes),
    )


def old_levels(dims: tuple[str, ...], old_sizes: dict[str, int]) -> tuple[slice, ...]:
    """The index of the levels a value had before ``old_sizes``' dims were grown."""
    return tuple(slice(0, old_sizes[d]) if d in old_sizes else slice(None) for d in dims)


def _graft_rv(
    old: RandomVariable, new: RandomVariable, old_sizes: dict[str, int]
) -> RandomVariable:
    if old.name != new.name:  # lowering is deterministic: the same spec gives the same order
        raise AssertionError(f"relowered model differs: {old.name} vs {new.name}")
    args = {k: _graft(old.args[k], new.args[k], old_sizes) for k in new.args}
    return replace(new, args=args)


def _graft(old: Expr, new: Expr, old_sizes: dict[str, int]) -> Expr:
    """``new`` with ``old``'s constant values on the old levels (new levels keep theirs)."""
    if isinstance(new, Const):
        assert isinstance(old, Const), "relowered model differs in structure"
        value = np.array(new.value, dtype=np.result_type(new.value, old.value), copy=True)
        value[old_levels(new.dims, old_sizes)] = old.value
        return replace(new, value=value)
    kids = old.children()
    assert type(old) is type(new) and len(kids) == len(new.children()), (
        "relowered model differs in structure"
    )
    it = iter(kids)
    return new.map_children(lambda b: _graft(next(it), b, old_sizes))
