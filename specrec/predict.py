"""A fit that lives on: ratings for new pairs by raw id, and top-n recommendations.

Predictions come from the numpy reference (``specrec.model.reference``), like the evaluator's,
so they need the spec, the training rows and the posterior draws, and no backend.  The data
dims are read from the model (the dims the likelihood indexes by), so nothing here assumes
they are called user and item.  An id the fit never saw becomes a new level of its dim, drawn
from the population level (``specrec.model.levels``), and is marked as unknown; so is an id
that had no training rows (its parameters are population-level draws too).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from specrec.data.dataset import Dataset
from specrec.errors import DataError, UsageError
from specrec.evaluate.evaluator import MAX_DRAWS, predict_rows, thin_draws
from specrec.evaluate.metrics import clip
from specrec.model.ir import Dim, Gather, Model, RowData, walk
from specrec.model.levels import with_new_levels
from specrec.model.reference import predict_draws, sample_new_levels
from specrec.spec.load import LoadedSpec


def likelihood_dims(model: Model) -> list[Dim]:
    """The data dims the likelihood indexes by, in the spec's order (user, item, ...); a
    mixture's ``per`` dim too (a user's type probabilities come from the user's ratings, so
    a prediction needs to know whose it is, though no parameter is indexed by user)."""
    found = {
        e.dim for arg in model.likelihood.args.values() for e in walk(arg) if isinstance(e, Gather)
    }
    if model.mixture is not None and model.mixture.per is not None:
        found.add(model.mixture.per)
    return [d for d in model.dims.values() if d.name in found]


@dataclass
class Predictor:
    """A posterior ready to predict: the spec and training rows it was fitted on, and its draws.

    ``model`` is the spec lowered on ``train`` (what was fitted); ``posterior`` maps latent
    names to (chain, draw, *shape) arrays, thinned to at most ``MAX_DRAWS`` draws.
    """

    loaded: LoadedSpec
    train: Dataset
    model: Model
    posterior: dict[str, np.ndarray]
    seed: int = 0
    _lookup: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_idata(
        cls, loaded: LoadedSpec, train: Dataset, model: Model, idata, seed: int = 0
    ) -> Predictor:
        post = {rv.name: np.asarray(idata.posterior[rv.name].values) for rv in model.latents}
        return cls(loaded, train, model, thin_draws(post, MAX_DRAWS), seed)

    # ---- ids -------------------------------------------------------------------------------------
    def dims(self) -> list[Dim]:
        return likelihood_dims(self.model)

    def code_of(self, dim: Dim) -> dict[str, int]:
        """Raw id (as text, so 7 and "7" agree) -> code, for one data dim."""
        if dim.name not in self._lookup:
            self._lookup[dim.name] = {str(c): i for i, c in enumerate(dim.coords)}
        return self._lookup[dim.name]

    def trained_codes(self, dim: Dim) -> np.ndarray:
        """Codes of the levels with at least one training row."""
        assert dim.column is not None
        return np.unique(self.train.codes[dim.column])

    def _codes(self, dims: list[Dim], ids: dict[str, list[str]]) -> tuple[Model, dict, dict]:
        """Codes for raw ids per dim; unknown ids become new levels of a grown model."""
        new: dict[str, list[str]] = {}
        codes: dict[str, np.ndarray] = {}
        for d in dims:
            lookup = self.code_of(d)
            unknown = list(dict.fromkeys(i for i in ids[d.name] if i not in lookup))
            if unknown:
                new[d.name] = unknown
            extra = {u: d.size + k for k, u in enumerate(unknown)}
            codes[d.name] = np.array([lookup.get(i, extra.get(i, -1)) for i in ids[d.name]])
        if not new:
            return self.model, self.posterior, codes
        model = with_new_levels(
            self.loaded, self.train, self.model, {k: np.asarray(v) for k, v in new.items()}
        )
        old_sizes = {k: self.model.dims[k].size for k in new}
        return model, self._grow(model, old_sizes), codes

    def _grow(self, model: Model, old_sizes: dict[str, int]) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([self.seed, 1])
        names = [rv.name for rv in model.latents]
        chains, draws = self.posterior[names[0]].shape[:2]
        out = {n: np.empty((chains, draws, *model.latent(n).shape)) for n in names}
        for c in range(chains):
            for d in range(draws):
                draw = {n: self.posterior[n][c, d] for n in names}
                for n, v in sample_new_levels(model, draw, old_sizes, rng).items():
                    out[n][c, d] = v
        return out

    # ---- predictions -----------------------------------------------------------------------------
    def predict(self, pairs: pd.DataFrame, interval: float | None = None) -> pd.DataFrame:
        """``pairs`` with the predicted mean, a central predictive interval and, per data dim,
        whether the id was known (had training rows) or was predicted from the population."""
        settings = self.loaded.spec.evaluate
        level = settings.interval if interval is None else interval
        dims = self.dims()
        ids, columns = self._read_pairs(pairs, dims)
        model, post, codes = self._codes(dims, ids)
        n = len(pairs)
        rows = RowData(np.full(n, np.nan), codes, columns)
        rng = np.random.default_rng(self.seed)
        # chunks of pairs, as in the evaluator: millions of pairs x draws stay bounded in memory
        point, lower, upper, _ = predict_rows(model, post, rows, level, rng, keep_draws=False)
        vr = self.model.value_range
        out = pairs.copy()
        for name, v in {"mean": point, "lower": lower, "upper": upper}.items():
            out[name] = clip(v, vr) if settings.clip else v
        for d in dims:
            out[f"{d.name}_known"] = np.isin(codes[d.name], self.trained_codes(d))
        out.attrs["interval"] = level
        return out

    def _read_pairs(
        self, pairs: pd.DataFrame, dims: list[Dim]
    ) -> tuple[dict[str, list[str]], dict[str, np.ndarray]]:
        file = pairs.attrs.get("file")
        # file rows as an editor shows them (header row 1); a frame built in code has no file
        rows = pairs.attrs.get("rows", np.arange(2, len(pairs) + 2))
        rename = self._rename(pairs)
        ids: dict[str, list[str]] = {}
        for d in dims:
            assert d.column is not None
            found = (rename.get(d.column, d.column), d.column, d.name)
            col = next((c for c in found if c in pairs.columns), d.name)
            if col not in pairs.columns:
                raise DataError(
                    f"the pairs have no column for dim {d.name!r}: expected "
                    f"{' or '.join(map(repr, dict.fromkeys(found[:2])))}, "
                    f"found {', '.join(map(str, pairs.columns)) or 'no columns'}",
                    file=file,
                )
            ids[d.name] = [_id_text(v) for v in pairs[col]]
            empty = [i for i, v in enumerate(ids[d.name]) if v.strip() in ("", "nan", "None")]
            if empty:
                raise DataError(
                    f"column {col!r} has an empty id", file=file, row=int(rows[empty[0]])
                )
        columns = {}
        for name in self.model.data.columns:
            col = rename.get(name, name)
            col = col if col in pairs.columns else name
            if col not in pairs.columns:
                raise DataError(
                    f"the likelihood uses column {name!r}; the pairs have none", file=file
                )
            try:
                columns[name] = np.asarray(pairs[col], dtype=float)
            except ValueError as exc:
                raise DataError(f"column {name!r} is not numeric: {exc}", file=file) from None
        if len(pairs) == 0:
            raise DataError("no pairs to predict (only a header)", file=file)
        return ids, columns

    def _rename(self, pairs: pd.DataFrame) -> dict[str, str]:
        """Spec column -> pairs column, merged as the loader merges them (``loaders._check``):
        the renames the pairs file's format implies (``read_pairs`` keeps them in
        ``attrs["rename"]``), overridden by the spec's own ``data.columns``.  So a pairs file
        may name its columns as the data file does (``userId``, ``movieId``) or as the spec
        does (``user_id``, ``item_id``)."""
        spec_columns = getattr(self.loaded.spec.data, "columns", None) or {}
        return {**pairs.attrs.get("rename", {}), **spec_columns}

    # ---- recommendations -------------------------------------------------------------------------
    def recommend(self, user: object, n: int = 10, dim: str | None = None) -> pd.DataFrame:
        """The ``n`` unrated levels of the other data dim with the highest expected response.

        ``p_top`` is the share of posterior draws in which the item is among the user's top
        ``n`` of all unrated items (by expected response in that draw).  An unknown user gets
        the population-level recommendation (``attrs["known"]`` is False).
        """
        dims = self.dims()
        if len(dims) != 2:
            raise UsageError(
                f"recommend needs a likelihood over two data dims; {self.model.name!r} has "
                f"{len(dims)} ({', '.join(d.name for d in dims) or 'none'})"
            )
        if self.model.data.columns:
            raise UsageError(
                f"the likelihood uses column(s) {', '.join(self.model.data.columns)}, which a "
                "recommendation cannot know; predict chosen pairs with `specrec predict` instead"
            )
        if n < 1:
            raise UsageError(f"n must be at least 1, found {n}")
        who = next((d for d in dims if d.name == dim), None) if dim else dims[0]
        if who is None:
            raise UsageError(
                f"unknown dim {dim!r}; the likelihood's data dims are "
                f"{', '.join(d.name for d in dims)}"
            )
        what = next(d for d in dims if d.name != who.name)
        uid = _id_text(user)
        if not uid.strip():
            raise UsageError(
                f"an empty {who.name} id: give the id of a {who.name} to recommend for"
            )
        assert who.column is not None and what.column is not None
        code = self.code_of(who).get(uid)
        rated = (
            self.train.codes[what.column][self.train.codes[who.column] == code]
            if code is not None
            else np.array([], dtype=np.int64)
        )
        items = np.setdiff1d(np.arange(what.size), rated)
        if items.size == 0:
            raise UsageError(f"{who.column} {uid} has rated every {what.name}")
        ids = {who.name: [uid] * items.size, what.name: [str(c) for c in what.coords[items]]}
        model, post, codes = self._codes([who, what], ids)
        rows = RowData(np.full(items.size, np.nan), codes, {})
        mean_draws, _ = predict_draws(model, post, rows)
        flat = mean_draws.reshape(-1, items.size)
        top = min(n, items.size)
        in_top = np.zeros(flat.shape, dtype=bool)
        np.put_along_axis(in_top, np.argsort(-flat, axis=1)[:, :top], True, axis=1)
        expected = flat.mean(axis=0)
        order = np.argsort(-expected, kind="stable")[:top]
        out = pd.DataFrame(
            {
                "rank": np.arange(1, top + 1),
                what.column: what.coords[items[order]],
                "expected": expected[order],
                f"p_top_{n}": in_top.mean(axis=0)[order],
                f"{what.name}_known": np.isin(items[order], self.trained_codes(what)),
            }
        )
        out.attrs |= {
            "known": code is not None and code in set(self.trained_codes(who).tolist()),
            "dim": who.name,
            "id": uid,
            "candidates": int(items.size),
            "draws": int(flat.shape[0]),
        }
        return out


def unknown_pairs_note(dim: str, n: int) -> str:
    """The line ``specrec predict`` prints for ``n`` pairs whose ``dim`` id the fit did not
    know.  Worded with "the" so that no dim name needs its article guessed ("a user" but
    "an item", "an hour" but "a unit")."""
    pairs = "1 pair" if n == 1 else f"{n} pairs"
    return f"{pairs} where the {dim} is unknown to the fit: predicted from the population level"


def _id_text(v: object) -> str:
    """Raw ids compare as text; an integer read as a float (``7.0``) is the id ``7``."""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)
