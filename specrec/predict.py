"""A fit that lives on: ratings for new pairs by raw id, and top-n recommendations.

Predictions come from the numpy reference (``specrec.model.reference``), like the evaluator's,
so they need the spec, the training rows and the posterior draws, and no backend.  The data
dims are read from the model (the dims the likelihood indexes by), so nothing here assumes
they are called user and item.  An id the fit never saw becomes a new level of its dim, drawn
from the population level (``specrec.model.levels``), and is marked as unknown; so is an id
that had no training rows (its parameters are population-level draws too).

A prediction is a function of its pair alone.  A pair of the run's test split gets the values
of the run's ``predictions.csv`` (the evaluator's, to the last digit).  Any other pair draws its
simulated responses from a generator seeded by the run's seed and the pair's ids, and a new id
its population-level parameters from one seeded by the run's seed and the id; so neither the
order of the pairs, nor duplicates, nor the other pairs of a file change a pair's values.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from specrec.data.dataset import Dataset
from specrec.errors import DataError, UsageError
from specrec.evaluate.evaluator import MAX_DRAWS, MIN_PREDICTIVE, predict_rows, row_chunks
from specrec.evaluate.metrics import clip, predictive_interval
from specrec.evaluate.thinning import thin_draws
from specrec.model.ir import Dim, Gather, Model, RowData, walk
from specrec.model.levels import old_levels, with_new_levels

# One pair's simulated responses are drawn by the reference model's own steps, exactly as
# ``predict_draws`` draws a row's, only from the pair's own generator.
from specrec.model.reference import (
    broadcast_args,
    choose_cumulative,
    cumulative_probabilities,
    likelihood_args,
    predict_draws,
    row_log_weights,
    sample_component,
    sample_new_levels,
    sample_response,
)
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
    #: the run's test predictions (``predictions.csv``), returned as they are for those pairs
    saved: pd.DataFrame | None = None
    _lookup: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)
    _saved: dict[tuple[str, ...], tuple[float, float, float]] | None = field(
        default=None, repr=False
    )

    @classmethod
    def from_idata(
        cls,
        loaded: LoadedSpec,
        train: Dataset,
        model: Model,
        idata,
        seed: int = 0,
        saved: pd.DataFrame | None = None,
    ) -> Predictor:
        post = {rv.name: np.asarray(idata.posterior[rv.name].values) for rv in model.latents}
        return cls(loaded, train, model, thin_draws(post, MAX_DRAWS), seed, saved)

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
            unknown = sorted({i for i in ids[d.name] if i not in lookup})
            if unknown:
                new[d.name] = unknown
            extra = {u: d.size + k for k, u in enumerate(unknown)}
            codes[d.name] = np.array(
                [lookup.get(i, extra.get(i, -1)) for i in ids[d.name]], dtype=np.int64
            )
        if not new:
            return self.model, self.posterior, codes
        model = with_new_levels(
            self.loaded, self.train, self.model, {k: np.asarray(v) for k, v in new.items()}
        )
        return model, self._grow(model, new), codes

    def _grow(self, model: Model, new: dict[str, list[str]]) -> dict[str, np.ndarray]:
        """The posterior of ``model`` (grown by ``new`` ids per dim): the fitted draws on the old
        levels, and for each new id population-level draws of its own.

        Each id is drawn as the single new level of a model grown by one level of its dim,
        from a generator seeded by the run's seed, the dim and the id: its values are the same
        whichever other ids are new, and in whatever order they come.
        """
        names = [rv.name for rv in model.latents]
        chains, draws = self.posterior[names[0]].shape[:2]
        old_sizes = {k: self.model.dims[k].size for k in new}
        out = {}
        for n in names:
            rv = model.latent(n)
            spans = [d for d in rv.dims if d in new]
            if len(spans) > 1:
                raise UsageError(
                    f"{n!r} is indexed by {' and '.join(spans)}, which both have ids the fit "
                    "never saw here; predict the pairs of new ids of one of them at a time"
                )
            grown = np.empty((chains, draws, *rv.shape))
            grown[(slice(None), slice(None), *old_levels(rv.dims, old_sizes))] = self.posterior[n]
            out[n] = grown
        for dim, unknown in new.items():
            alone = len(new) == 1 and len(unknown) == 1  # ``model`` is that model already
            one = (
                model
                if alone
                else with_new_levels(
                    self.loaded, self.train, self.model, {dim: np.asarray(unknown[:1])}
                )
            )
            size = old_sizes[dim]
            over = [
                (n, model.latent(n).dims.index(dim)) for n in names if dim in model.latent(n).dims
            ]
            for k, uid in enumerate(unknown):
                rng = _generator(self.seed, 1, dim, uid)
                for c in range(chains):
                    for d in range(draws):
                        draw = {n: self.posterior[n][c, d] for n in names}
                        values = sample_new_levels(one, draw, {dim: size}, rng)
                        for n, axis in over:
                            at = (slice(None),) * axis + (size + k,)
                            out[n][c, d][at] = np.take(values[n], size, axis=axis)
        return out

    # ---- predictions -----------------------------------------------------------------------------
    def predict(self, pairs: pd.DataFrame, interval: float | None = None) -> pd.DataFrame:
        """``pairs`` with the predicted mean, a central predictive interval and, per data dim,
        whether the id was known (had training rows) or was predicted from the population.

        A pair of the run's test split gets its ``predictions.csv`` values (the interval only
        at the run's own level); any other its own seeded draws (see the module docstring).
        """
        settings = self.loaded.spec.evaluate
        level = settings.interval if interval is None else interval
        dims = self.dims()
        ids, columns = self._read_pairs(pairs, dims)
        texts = [*ids.values(), *([_number_text(x) for x in v] for v in columns.values())]
        keys = list(zip(*texts, strict=True))
        # computed in one canonical order, so that neither order nor duplicates matter
        unique = sorted(set(keys))
        at = {k: i for i, k in enumerate(unique)}
        first = {k: i for i, k in reversed(list(enumerate(keys)))}  # a row of each pair
        values = np.full((len(unique), 3), np.nan)
        saved = self.saved_predictions()
        for i, k in enumerate(unique):
            if k in saved:
                values[i, 0] = saved[k][0]
                if level == settings.interval:
                    values[i, 1:] = saved[k][1:]
        todo = np.flatnonzero(np.isnan(values[:, 1]))
        if todo.size:
            part = [unique[i] for i in todo]
            part_ids = {d.name: [k[j] for k in part] for j, d in enumerate(dims)}
            model, post, codes = self._codes(dims, part_ids)
            part_columns = {name: columns[name][[first[k] for k in part]] for name in columns}
            rows = RowData(np.full(len(part), np.nan), codes, part_columns)
            point = predict_rows(model, post, rows, None, None, False)[0]
            lower, upper = self._seeded_interval(model, post, rows, part, level)
            vr = self.model.value_range
            fresh = np.column_stack([point, lower, upper])
            fresh = clip(fresh, vr) if settings.clip else fresh
            keep = ~np.isnan(values[todo, 0])  # a test pair's mean stays predictions.csv's
            fresh[keep, 0] = values[todo[keep], 0]
            values[todo] = fresh
        order = np.array([at[k] for k in keys], dtype=np.int64)
        out = pairs.copy()
        for j, name in enumerate(("mean", "lower", "upper")):
            out[name] = values[order, j]
        for d in dims:
            lookup, trained = self.code_of(d), set(self.trained_codes(d).tolist())
            out[f"{d.name}_known"] = [lookup.get(i, -1) in trained for i in ids[d.name]]
        out.attrs["interval"] = level
        return out

    def saved_predictions(self) -> dict[tuple[str, ...], tuple[float, float, float]]:
        """The run's test pairs, by the ids of the likelihood's dims (and its data columns'
        values), -> mean, lower, upper as ``predictions.csv`` has them (a pair repeated in the
        test split: its first row)."""
        if self._saved is None:
            self._saved = {}
            t, dims = self.saved, self.dims()
            names = [d.column for d in dims] + list(self.model.data.columns)
            if t is not None and all(n in t.columns for n in names):
                keys = zip(
                    *(t[d.column].map(_id_text) for d in dims),
                    *(t[c].map(_number_text) for c in self.model.data.columns),
                    strict=True,
                )
                bounds = t[["mean", "lower", "upper"]].to_numpy(dtype=float)
                for k, v in zip(keys, bounds, strict=True):
                    self._saved.setdefault(tuple(k), (float(v[0]), float(v[1]), float(v[2])))
        return self._saved

    def _seeded_interval(
        self,
        model: Model,
        post: dict[str, np.ndarray],
        rows: RowData,
        keys: list[tuple[str, ...]],
        level: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The central ``level`` interval of each row's simulated responses, one per posterior
        draw (at least ``MIN_PREDICTIVE``: a point fit's draw is repeated), each row drawn from
        a generator seeded by the run's seed and its key (``keys``, one per row)."""
        names = [rv.name for rv in model.latents]
        chains, draws = post[names[0]].shape[:2]
        reps = max(1, int(np.ceil(MIN_PREDICTIVE / (chains * draws))))
        n_draws = chains * draws * reps
        lower, upper = np.empty(len(rows)), np.empty(len(rows))
        for chunk in row_chunks(len(rows), _row_width(model, post, rows)):
            part = rows.take(chunk)
            args, cumulative = _args_by_draw(model, post, part)
            y = np.empty((n_draws, len(part)))
            for j in range(len(part)):
                rng = _generator(self.seed, 2, *keys[chunk.start + j])
                one = {a: np.repeat(v[:, j], reps, axis=0) for a, v in args.items()}
                if cumulative is None:
                    y[:, j] = sample_response(model, rng, one, n_draws)
                else:
                    chosen = choose_cumulative(rng, np.repeat(cumulative[:, j], reps, axis=0))
                    y[:, j] = sample_component(model, rng, one, chosen)
            bounds = predictive_interval(
                model.to_data_scale(y), level, model.likelihood.dist.discrete
            )
            lower[chunk], upper[chunk] = bounds
        return lower, upper

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


def _number_text(v: object) -> str:
    """A numeric column's value as a key: the float's shortest exact text."""
    return repr(float(v))  # type: ignore[arg-type]


def _generator(seed: int, stream: int, *parts: str) -> np.random.Generator:
    """A generator of its own for one pair (``stream`` 2) or one new id (``stream`` 1), seeded
    by the run's seed and the ids, so that its draws depend on nothing else predicted."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).digest()
    return np.random.default_rng([seed, stream, int.from_bytes(digest, "little")])


def _args_by_draw(
    model: Model, post: dict[str, np.ndarray], rows: RowData
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """The likelihood's arguments on ``rows`` at every draw, stacked as (draw, row, ...); for
    a mixture aligned to (draw, row, component), with each row's cumulative component
    probabilities (what ``predict_draws`` draws a row's component from)."""
    names = [rv.name for rv in model.latents]
    chains, draws = post[names[0]].shape[:2]
    stacked: dict[str, np.ndarray] = {}
    cumulative = None
    for s, (c, d) in enumerate(np.ndindex(chains, draws)):
        values = {n: post[n][c, d] for n in names}
        args = likelihood_args(model, values, rows)
        if model.mixture is None:
            full = broadcast_args(model.likelihood, args, (len(rows),))
        else:
            log_w = row_log_weights(model, values, rows)
            p = cumulative_probabilities(log_w)
            if cumulative is None:
                cumulative = np.empty((chains * draws, *p.shape))
            cumulative[s] = p
            full = {a: np.broadcast_to(np.asarray(v, float), log_w.shape) for a, v in args.items()}
        for a, v in full.items():
            if a not in stacked:
                stacked[a] = np.empty((chains * draws, *np.shape(v)))
            stacked[a][s] = v
    return stacked, cumulative


def _row_width(model: Model, post: dict[str, np.ndarray], rows: RowData) -> int:
    """Values per row of ``_args_by_draw``'s largest array: draws x components (a mixture) or
    x categories (a categorical's probabilities), so that its chunks of rows stay bounded."""
    one = _args_by_draw(model, {k: v[:1, :1] for k, v in post.items()}, rows.take(slice(0, 1)))
    per_row = max(int(np.prod(v.shape[2:], dtype=int)) for v in one[0].values())
    chains, draws = next(iter(post.values())).shape[:2]
    return chains * draws * max(1, per_row)
