"""The structure of a spec file (v1) as pydantic models.

Only structure lives here: keys, types, ranges, defaults.  Expressions stay strings at this
stage and are parsed and resolved when the spec is lowered to the model representation
(``specrec.model.lower``), which is where names, dims and shapes are known.  ``extra="forbid"``
everywhere so that a misspelt key is an error with a suggestion, never silently ignored.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic import Strict as PydanticStrict
from pydantic_core import PydanticCustomError

from specrec import methods


class Strict(BaseModel):
    # allow_inf_nan: a learning rate of .inf or a range ending in .nan validates but cannot work
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


#: An integer setting (a count, a size, a seed): YAML's `true` is not 1, and 2.5 is not 2.
Count = Annotated[int, PydanticStrict()]

#: The largest seed: every backend's generator takes an unsigned 32-bit seed (JAX's key drops
#: the higher bits, so 2**32 would seed as 0; numpy's legacy seeding, which Pyro sets, refuses it).
MAX_SEED = 2**32 - 1

#: A seed: a count from 0 to ``MAX_SEED``.
Seed = Annotated[int, PydanticStrict(), Field(ge=0, le=MAX_SEED)]

#: The most iterations a loop may be asked for (optimiser steps; a chain's warm-up and kept
#: sweeps): JAX counts them in 32-bit integers, so 10**20 steps validated and then ended in an
#: ``OverflowError`` after compiling.
MAX_ITERATIONS = 2**31 - 1

#: An iteration count: at most ``MAX_ITERATIONS``.
Iterations = Annotated[int, PydanticStrict(), Field(le=MAX_ITERATIONS)]

#: The deepest NUTS tree: depth d takes up to 2**d - 1 leapfrog steps a draw, which NumPyro
#: counts in a 32-bit integer.
MAX_TREE_DEPTH = 30


def _not_a_boolean(v: object) -> object:
    """YAML's ``true`` is no number; anything else goes to pydantic's float parsing, which also
    takes ``1e-3`` (a string to YAML 1.1, whose floats need a dot: users write it anyway)."""
    if isinstance(v, bool):
        raise PydanticCustomError("float_type", "Input should be a valid number")
    return v


#: A number setting: an int or ``1e-3`` is fine, a YAML boolean is not (and, by the config
#: above, it is finite).
Real = Annotated[float, BeforeValidator(_not_a_boolean)]


# ---- data ----------------------------------------------------------------------------------------


class RandomSplit(Strict):
    """Rows permuted with ``numpy.random.default_rng(seed)``; the first fraction is the test set."""

    kind: Literal["random"] = Field("random", description="selects this split")
    test_fraction: Real = Field(0.1, gt=0, lt=1, description="share of rows held out")
    seed: Seed = Field(42, description="seed of the permutation")


class FilesSplit(Strict):
    """Given train and test files (MovieLens u1.base / u1.test), relative to the data folder."""

    kind: Literal["files"] = Field(description="selects this split")
    train: str = Field(description="training file, relative to the data folder (e.g. u1.base)")
    test: str = Field(description="test file, relative to the data folder (e.g. u1.test)")


class LeaveKOutSplit(Strict):
    """k random ratings of every user (with more than k) go to the test set."""

    kind: Literal["leave_k_out"] = Field(description="selects this split")
    k: Count = Field(1, ge=1, description="test ratings taken from each user")
    seed: Seed = Field(42, description="seed of the random choice")


class TimeSplit(Strict):
    """The latest ``test_fraction`` of rows by ``column`` form the test set."""

    kind: Literal["time"] = Field(description="selects this split")
    test_fraction: Real = Field(0.1, gt=0, lt=1, description="share of rows held out (the latest)")
    column: str = Field("timestamp", description="data column that orders the rows in time")


class KFoldSplit(Strict):
    """Fold ``fold`` of a seeded k-fold partition is the test set."""

    kind: Literal["kfold"] = Field(description="selects this split")
    k: Count = Field(5, ge=2, description="number of folds")
    fold: Count = Field(0, ge=0, description="the fold held out as the test set, 0..k-1")
    seed: Seed = Field(42, description="seed of the partition")

    @field_validator("fold")
    @classmethod
    def _fold_in_range(cls, v: int, info: ValidationInfo) -> int:
        # a field validator (not a model one) so that the error points at `fold:` itself
        k = info.data.get("k")
        if k is not None and v >= k:
            raise ValueError(f"fold must be in 0..{k - 1}, found {v}")
        return v


Split = Annotated[
    RandomSplit | FilesSplit | LeaveKOutSplit | TimeSplit | KFoldSplit, Field(discriminator="kind")
]


class Covariate(Strict):
    """Side data per level of a data dim (a user's age, an item's genres), usable by its name.

    A number per level is a value over ``dim`` (``beta * age[user]`` in the likelihood, or in a
    prior over ``user``); a row per level (one-hot occupation, genre flags) is a value over
    ``of`` and the fixed-size dim ``over`` (``dot(genres[item], w)``).  ``age: {of: user}``.
    """

    of: str = Field(description="the data dim whose levels the covariate describes")
    over: str | None = Field(
        None, description="fixed-size dim over the covariate's columns (a matrix covariate)"
    )
    standardize: bool | None = Field(
        None,
        description="centre and scale to sd 1 over the levels; default: yes for a number per "
        "level with more than two distinct values, no for flags and matrices",
    )


class _DataBase(Strict):
    split: Split = Field(default_factory=RandomSplit, description="how rows are held out")
    covariates: dict[str, Covariate] = Field(
        default_factory=dict,
        description="side data per level of a data dim (movielens-100k: age, male, occupation "
        "of user_id; genres of item_id; simulate: drawn at random)",
    )
    range: tuple[Real, Real] | None = Field(
        None, description="allowed [min, max] of the observed column; predictions are clipped to it"
    )

    @field_validator("range")
    @classmethod
    def _ordered(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not v[0] < v[1]:
            raise ValueError(f"range must be [min, max] with min < max, found {list(v)}")
        return v


class MovieLens100kData(_DataBase):
    """MovieLens 100k (user_id, item_id, rating, timestamp); path from ``--data`` or the cache."""

    source: Literal["movielens-100k"] = Field(description="selects this data source")
    path: str | None = Field(None, description="folder holding u.data; default: the fetch cache")
    range: tuple[Real, Real] | None = Field(
        (1.0, 5.0), description="allowed [min, max] of ratings; predictions are clipped to it"
    )


class FileData(_DataBase):
    """Any ratings file: MovieLens formats, CSV, TSV or Parquet."""

    source: Literal["file"] = Field(description="selects this data source")
    path: str = Field(
        description="the ratings file, relative to the spec's folder; a folder is accepted only "
        "with a files split, whose train and test files it holds"
    )
    format: Literal["auto", "movielens", "ml-dat", "ml-csv", "csv", "tsv", "parquet"] = Field(
        "auto", description="file format; auto guesses from the name and contents"
    )
    columns: dict[str, str] = Field(
        default_factory=dict, description="spec column name -> column name in the file"
    )


class SimulateData(_DataBase):
    """Rows drawn from the spec's own prior (or ``true`` values), so specs run with no download."""

    source: Literal["simulate"] = Field(description="selects this data source")
    sizes: dict[str, Annotated[Count, Field(ge=1)]] = Field(description="levels of each data dim")
    density: Real | None = Field(
        None, gt=0, le=1, description="share of (user, item) cells observed"
    )
    rows: Count | None = Field(None, ge=1, description="number of rows (instead of density)")
    seed: Seed = Field(0, description="seed of the simulation")
    true: dict[str, Real | list] = Field(
        default_factory=dict, description="fixed true values for some parameters"
    )
    activity: dict[str, Annotated[Real, Field(ge=0)]] = Field(
        default_factory=dict,
        description="data dim -> sd of its levels' log activity (0: uniform); heavy-tailed "
        "users or items, e.g. many users with one or two views (density designs only)",
    )

    @model_validator(mode="after")
    def _one_size(self) -> SimulateData:
        if (self.density is None) == (self.rows is None):
            found = "neither" if self.density is None else "both"
            raise ValueError(f"give exactly one of density or rows, found {found}")
        return self


Data = Annotated[MovieLens100kData | FileData | SimulateData, Field(discriminator="source")]


# ---- model ---------------------------------------------------------------------------------------


class DataDim(Strict):
    """A dim whose levels are the distinct ids of a data column (users, items, groups)."""

    column: str = Field(description="data column holding the ids")


Dim = Annotated[Count, Field(ge=1)] | DataDim


class Param(Strict):
    """A random variable: its prior (an expression such as ``Normal(mu_u, 0.5)``) and its dims."""

    prior: str = Field(description="a distribution expression, e.g. Normal(mu_u, 0.5)")
    dims: list[str] = Field(
        default_factory=list, description="dims of the parameter, in order (none: a scalar)"
    )
    constraint: Literal["ordered"] | None = Field(
        None,
        description=(
            "restrict the prior to values increasing along the last dim (cutpoints); the prior's "
            "density is kept, renormalised over that set"
        ),
    )

    noncentered: bool = Field(
        False,
        description="sample a Normal(mu, sigma) prior as mu + sigma * <name>_raw with "
        "<name>_raw ~ Normal(0, 1) (better geometry for weakly identified hierarchies)",
    )


class Mixture(Strict):
    """A finite mixture: each row, or all the rows of each level of ``per``, comes from one of the
    components along ``over``, drawn with probabilities ``weights``.

    The discrete choice is summed out of the likelihood (log-sum-exp), so map, vi and NUTS fit
    it on every backend; per-level posterior component probabilities (responsibilities) are
    reported, and component labels are ordered by each component's mean prediction.
    """

    over: str = Field(description="fixed-size dim of the components (K user types)")
    weights: str | Real = Field(
        description="non-negative weights over `over` (normalised), e.g. a Dirichlet parameter; "
        "with `per`, may also vary over the levels of `per`; a number: equal weights"
    )
    per: str | None = Field(
        None,
        description="data dim whose levels each belong to one component for all their rows "
        "(user: one type per user); none: every row chooses its own component",
    )


class Likelihood(Strict):
    """A likelihood on an affine map of the observed column: it models ``(y - shift) / scale``.

    Predictions and metrics are mapped back (``shift + scale * value``), so a model of ratings
    scaled to [0, 1] (logistic PMF) or of star categories 0..4 (ordinal) is still scored on 1..5.
    """

    distribution: str = Field(description="the distribution of (column - shift) / scale")
    shift: Real = Field(0.0, description="subtracted from the observed column")
    scale: Real = Field(1.0, description="the shifted column is divided by it (not 0)")
    mixture: Mixture | None = Field(
        None,
        description="make the distribution a mixture over a dim; its arguments may then vary "
        "over that dim (mu[type, item] indexed as mu[item])",
    )

    @field_validator("scale")
    @classmethod
    def _nonzero(cls, v: float) -> float:
        if v == 0:
            raise ValueError("scale must not be 0")
        return v


def _alternatives() -> str:
    """The method names as pydantic words a Literal's choices: 'map', 'vi' or 'nuts'."""
    quoted = [repr(n) for n in methods.names()]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _method_schema(schema: dict) -> None:
    """The schema's choices for ``inference.method``, read from the table when it is built."""
    schema["enum"] = list(methods.names())
    schema["description"] = "; ".join(f"{m.name}: {m.summary}" for m in methods.all_methods())


def known_method(v: str) -> str:
    """A name of the methods table, refused as a Literal's wrong value is (same message)."""
    if v not in methods.names():
        raise PydanticCustomError(
            "literal_error", "Input should be {expected}", {"expected": _alternatives()}
        )
    return v


#: An inference method's name: validated against the table when a spec is read, listed from
#: it when the schema is built, so a registered method needs no edit here.
MethodName = Annotated[str, AfterValidator(known_method), Field(json_schema_extra=_method_schema)]


class Inference(Strict):
    """How to fit; every setting means the same on every backend."""

    method: MethodName = Field(
        "vi", description="the inference method: one of the methods table (reference: methods)"
    )
    seed: Seed = Field(0, description="seed of initial values, inference and evaluation draws")
    steps: Iterations = Field(
        4000,
        ge=1,
        description="optimiser steps (map, vi); em: the most iterations; cavi: the most sweeps",
    )
    tol: Real = Field(
        1e-8,
        gt=0,
        description="em: stop when the log posterior changes by at most tol x its magnitude "
        "between iterations (relative; 1e-8 is a change of 0.01 on a log posterior of -1e6); "
        "cavi: the same on the ELBO between sweeps, default 1e-5 for cavi (its ELBO creeps on "
        "long after the predictions settle)",
    )
    lr: Real = Field(0.01, gt=0, description="Adam learning rate (map, vi)")
    draws: Iterations = Field(
        500, ge=1, description="posterior draws per chain (nuts, gibbs; vi: from the guide)"
    )
    warmup: Iterations = Field(500, ge=0, description="warm-up iterations per chain (nuts, gibbs)")
    thin: Iterations = Field(
        1,
        ge=1,
        description="gibbs: keep every thin-th sweep after warm-up (a chain runs draws x thin "
        "sweeps and keeps draws of them)",
    )
    chains: Count = Field(
        1,
        ge=1,
        description="independent chains (nuts, gibbs); NumPyro runs NUTS chains at once, one "
        "CPU device per core, and Pyro one process per core, with the same draws as one at a "
        "time",
    )
    target_accept: Real = Field(
        0.8, gt=0, lt=1, description="target acceptance probability of step-size adaptation (nuts)"
    )
    max_tree_depth: Count = Field(
        10, ge=1, le=MAX_TREE_DEPTH, description="maximum tree depth of NUTS (nuts)"
    )
    init_radius: Real = Field(
        0.1, ge=0, description="start uniformly within +-radius in the unconstrained space"
    )
    init: Literal["uniform", "prior", "assign", "map", "svd"] = Field(
        "uniform",
        description="uniform: start within +-init_radius of 0 in the unconstrained space; prior: "
        "start at a draw from the prior (gives mixture components distinct starts, as EM's "
        "random start does); assign (mixtures): deal the mixture's levels (users) to the "
        "components at random in equal numbers, start every spread at the data's spread and "
        "each mean at its mode given that assignment, so no component starts wide enough to "
        "take every level; map (nuts, vi): first fit map (steps, lr) from a uniform start and "
        "start there, as the PMF notebook starts NUTS at the MAP estimate; svd (cavi, gibbs, em; a "
        "likelihood mean with dot(U[user], V[item])): start the two factor matrices at a "
        "truncated SVD of the training ratings minus the rest of the mean and their average "
        "(rank: the factor dim; each component weighted by least squares so predictions are on "
        "the data's scale), the other parameters as uniform; a uniform start leaves the U = V "
        "= 0 saddle slowly",
    )
    sampler: str | None = Field(None, description="backend-specific NUTS implementation")
    restarts: Count = Field(
        1,
        ge=1,
        description="map, vi, em: fit from this many starts (seeds seed, seed + 1, ...) and "
        "keep the lowest final loss; a mixture can stop at a local optimum with an empty "
        "component",
    )

    @model_validator(mode="before")
    @classmethod
    def _method_defaults(cls, data: object) -> object:
        """A setting the spec leaves out takes its method's own default (``Method.defaults``),
        so the written resolved spec and metrics show the value that was used."""
        if not isinstance(data, dict):
            return data
        name = data.get("method", cls.model_fields["method"].default)
        known = isinstance(name, str) and name in methods.names()  # else: the field's error
        missing = {k: v for k, v in (methods.get(name).defaults if known else ()) if k not in data}
        return {**data, **missing} if missing else data

    @model_validator(mode="after")
    def _restarts_optimise(self) -> Inference:
        m = methods.get(self.method)
        last = self.seed + max(self.restarts, self.chains) - 1
        if last > MAX_SEED:  # start i and chain c are seeded seed + i, seed + c
            raise ValueError(
                f"seed {self.seed} with {max(self.restarts, self.chains)} restarts or chains "
                f"uses seeds up to {last}, more than {MAX_SEED}; choose a smaller seed"
            )
        sweeps = self.warmup + self.draws * (self.thin if m.applies("thin") else 1)
        if m.applies("warmup") and sweeps > MAX_ITERATIONS:
            raise ValueError(
                f"warmup + draws x thin is {sweeps:,} iterations a chain, more than "
                f"{MAX_ITERATIONS:,}; choose fewer"
            )
        if self.restarts > 1 and not m.restarts:
            names = [x.name for x in methods.all_methods() if x.restarts]
            takes = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 2 else names)
            instead = (
                f"for {m.name} run several chains (inference.chains) and "
                if m.is_mcmc
                else f"for {m.name} "
            )
            raise ValueError(f"restarts is for {takes}; {instead}set inference.restarts to 1")
        if self.init == "map" and not m.map_start:
            takes = " or ".join(x.name for x in methods.all_methods() if x.map_start)
            raise ValueError(
                f"init: map starts {takes} at a map fit; {m.name} itself starts uniform"
                if m.name == "map"
                else f"init: map starts {takes} at a map fit, not {m.name}"
            )
        if self.init == "svd" and not m.svd_start:
            takes = " or ".join(x.name for x in methods.all_methods() if x.svd_start)
            raise ValueError(f"init: svd starts {takes} at an SVD of the ratings, not {m.name}")
        return self

    batch_size: Count | None = Field(
        None,
        ge=1,
        description="vi only: rows per minibatch, drawn uniformly with replacement each step; "
        "the likelihood is scaled by rows / batch_size (unbiased ELBO)",
    )


class Ranking(Strict):
    """How the test set is scored as ranked lists (precision@k, recall@k, NDCG@k)."""

    k: Count = Field(10, ge=1, description="length of each ranked list that is scored")
    threshold: Real = Field(
        4.0, description="a test rating at or above this is relevant (4 = four stars and up)"
    )
    per: str | None = Field(
        None, description="data dim whose levels each get a list (default: the first data dim)"
    )


class Evaluate(Strict):
    """How a fit is scored on the held-out rows; the same for every backend."""

    clip: bool = Field(True, description="clip predictions to data.range")
    interval: Real = Field(0.9, gt=0, lt=1, description="central predictive interval reported")
    rhat_pairs: Count = Field(200, ge=1, description="test pairs whose predictions get R-hat/ESS")
    ranking: Ranking = Field(default_factory=Ranking, description="top-k ranking metrics")
    loo_max_mb: Real = Field(
        500.0,
        ge=0,
        description="PSIS-LOO is skipped (with the reason recorded) when the pointwise "
        "log-likelihood, draws x training rows in float64, would exceed this many MB",
    )
    idata_max_mb: Real = Field(
        500.0,
        ge=0,
        description="each per-draw group of posterior.nc (log_likelihood, posterior_predictive, "
        "predictions) is left out, with the reason recorded in metrics.json, when its draws x "
        "rows in float64 would exceed this many MB",
    )


class Spec(Strict):
    """A specrec model spec, version 1."""

    specrec: Literal[1] = Field(description="spec language version")
    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="names the run folder (runs/<name>/); letters, digits, _ - .",
    )
    description: str = Field("", description="free text shown in reports")
    backend: str = Field("numpyro", description="default backend for `specrec fit`")
    data: Data = Field(description="where the rows come from (chosen by source) and the split")
    dims: dict[str, Dim] = Field(
        description="name -> {column: ...} (a data dim) or a size (a fixed dim such as factor)"
    )
    params: dict[str, Param | str] = Field(
        description="name -> {prior, dims} or just a prior expression for a scalar"
    )
    let: dict[str, str | Real] = Field(
        default_factory=dict, description="named helper expressions (constants, derived values)"
    )
    likelihood: dict[str, str | Likelihood] = Field(
        description="observed column -> its distribution (or {distribution, shift, scale})"
    )
    inference: Inference = Field(default_factory=Inference, description="how to fit")
    evaluate: Evaluate = Field(default_factory=Evaluate, description="how the fit is scored")

    @field_validator("likelihood")
    @classmethod
    def _one_likelihood(cls, v: dict[str, str | Likelihood]) -> dict[str, str | Likelihood]:
        if len(v) != 1:
            raise ValueError(f"exactly one observed column, found {len(v)}")
        return v

    def param(self, name: str) -> Param:
        p = self.params[name]
        return Param(prior=p) if isinstance(p, str) else p

    @property
    def response(self) -> str:
        return next(iter(self.likelihood))

    def likelihood_spec(self) -> Likelihood:
        lik = self.likelihood[self.response]
        return Likelihood(distribution=lik) if isinstance(lik, str) else lik
