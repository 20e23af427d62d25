"""The inference methods specrec offers, declared once: the table every other part reads.

A method is a row (``Method``): what it produces, whether it has a loss trace, whether it takes
minibatches, which sampler statistics it reports, which ``inference`` settings apply to it, and
how a fit of it may start.  The spec schema, the CLI's ``--method`` choices, the study file, the
evaluator, the summary, LOO, agreement, SBC, the conformance suite and the docs all read this
table, so adding a method is one ``register`` call and one kernel: a native kernel in each
backend that offers it (``Backend.methods`` names it and ``Backend.fit`` runs it) or one
backend-neutral ``kernel`` here, run over any backend's log density (``specrec.optimisers``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # the table is read by the spec schema, which must not import the fit machinery
    from specrec.backends import FitResult, LogDensity
    from specrec.model.ir import Model
    from specrec.spec.models import Inference

#: What a fit of the method gives the evaluator: one point (chain 1, draw 1), independent
#: draws from a fitted distribution (1 chain, ``draws`` draws), or Markov chains (``chains`` x
#: ``draws``, with MCMC error and convergence diagnostics).
Produces = Literal["point", "draws", "chains"]

#: A backend-neutral kernel: (log density, ready model, settings, constrained start, progress,
#: label) -> arrays.  It reaches the backend only through the compiled ``Backend.log_density``;
#: a kernel that works on the model representation alone (closed-form updates derived from it,
#: as EM and coordinate-ascent VI do) declares ``needs_density=False`` and is passed ``None``.
CoreKernel = Callable[["LogDensity | None", "Model", "Inference", dict, bool, str], "FitResult"]

#: Why a method cannot fit a model with these settings, decided on the model representation
#: before any work (empty: it can).  A kernel derived from the model's structure (EM,
#: coordinate-ascent VI) says here what structure it needs; every backend refuses alike.
ModelReasons = Callable[["Model", "Inference"], list[str]]

#: Settings every method reads.
COMMON_SETTINGS = frozenset({"method", "seed", "init", "init_radius"})


@dataclass(frozen=True)
class Method:
    """One inference method: what it is and what it may be asked for.

    ``settings`` are the ``inference`` keys that apply to it besides ``COMMON_SETTINGS`` (the
    docs list them per method; the others keep their values but are not read, so one spec can
    be fitted by several methods with ``--method``).  ``restarts``: it may be run from several
    starts keeping the lowest final loss (needs a loss); ``map_start``: ``init: map`` may
    start it at a map fit; ``svd_start``: ``init: svd`` may start it at a truncated SVD of the
    residuals (``conjugacy.spectral``); ``minibatch``: ``batch_size`` is honoured (an unbiased
    estimate of its objective); ``kernel``: the backend-neutral implementation, used by a
    backend that has no native one but offers a log density (with the Jacobian switch when
    ``jacobian`` is False, as the MAP of the constrained values needs); ``quick``: settings of
    a tiny fit that only has to run (the conformance suite's seeding tests), as (key, value) pairs.
    ``defaults``: settings whose default differs for this method, as (key, value) pairs: a spec
    that leaves the key out gets this value (cavi's ELBO creeps for hundreds of sweeps after the
    predictions have settled, so its ``tol`` is looser than em's).
    ``needs_density``: the core kernel evaluates the backend's compiled log density (False for
    a kernel that computes from the model representation alone: no backend program is built).
    ``model_reasons``: why the method cannot fit a given model (``ModelReasons``), read by
    ``backends.refusal_reasons`` with the backend's own reasons.  ``exact_loss``: the loss trace
    is exact, not an estimate (em's log posterior per iteration): the evaluator reads its last
    value and last change, not means over windows.
    """

    name: str
    summary: str
    produces: Produces
    loss_trace: bool
    settings: frozenset[str]
    sample_stats: tuple[str, ...] = ()
    minibatch: bool = False
    restarts: bool = False
    map_start: bool = False
    svd_start: bool = False
    kernel: CoreKernel | None = field(default=None, compare=False, repr=False)
    jacobian: bool = True
    needs_density: bool = True
    quick: tuple[tuple[str, object], ...] = ()
    defaults: tuple[tuple[str, object], ...] = ()
    model_reasons: ModelReasons | None = field(default=None, compare=False, repr=False)
    exact_loss: bool = False

    def refusal_reasons(self, model: Model, settings: Inference) -> list[str]:
        """Why this method cannot fit ``model`` with ``settings`` (empty: it can)."""
        return [] if self.model_reasons is None else self.model_reasons(model, settings)

    @property
    def has_draws(self) -> bool:
        """More than one posterior draw: intervals, LOO and MCSE make sense."""
        return self.produces != "point"

    @property
    def is_mcmc(self) -> bool:
        """Draws from Markov chains: R-hat, ESS, traces and MCSE apply."""
        return self.produces == "chains"

    def shape(self, settings: Inference) -> tuple[int, int]:
        """(chains, draws) of the posterior arrays a fit with ``settings`` returns."""
        if self.produces == "point":
            return (1, 1)
        if self.produces == "draws":
            return (1, settings.draws)
        return (settings.chains, settings.draws)

    def applies(self, setting: str) -> bool:
        return setting in COMMON_SETTINGS or setting in self.settings


_TABLE: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add ``method`` to the table (a plugin or a test may add its own); returns it.

    Registering a name twice is an error: two rows for one name would mean two meanings.
    """
    if method.name in _TABLE and _TABLE[method.name] != method:
        raise ValueError(f"inference method {method.name!r} is already registered")
    _TABLE[method.name] = method
    return method


def unregister(name: str) -> None:
    """Remove a method (tests that register a throwaway method clean up with this)."""
    _TABLE.pop(name, None)


def get(name: str) -> Method:
    """The row of ``name``; KeyError names the methods there are."""
    try:
        return _TABLE[name]
    except KeyError:
        raise KeyError(f"unknown inference method {name!r}; methods: {', '.join(_TABLE)}") from None


def names() -> tuple[str, ...]:
    return tuple(_TABLE)


def all_methods() -> tuple[Method, ...]:
    return tuple(_TABLE.values())


class MethodNames(Sequence[str]):
    """The table's names, read when used, not when imported: a click ``Choice`` or a schema
    enum built from this sees a method registered after specrec was imported."""

    def __init__(self, where: Callable[[Method], bool] = lambda m: True):
        self._where = where

    def _names(self) -> list[str]:
        return [m.name for m in _TABLE.values() if self._where(m)]

    def __getitem__(self, i):  # type: ignore[override]
        return self._names()[i]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __contains__(self, name: object) -> bool:
        return name in self._names()


def has_draws(name: str) -> bool:
    return get(name).has_draws


def is_mcmc(name: str) -> bool:
    return get(name).is_mcmc


#: ArviZ's sampler statistics an HMC sampler reports.
HMC_STATS = ("lp", "diverging", "acceptance_rate", "step_size", "tree_depth", "n_steps")

OPTIMISER_SETTINGS = frozenset({"steps", "lr", "restarts"})


def _builtins() -> None:
    from specrec.optimisers import adam_map, mean_field_advi

    register(
        Method(
            "map",
            "posterior mode by Adam (no Jacobian: the mode of the constrained values)",
            produces="point",
            loss_trace=True,
            settings=OPTIMISER_SETTINGS,
            restarts=True,
            kernel=adam_map,
            jacobian=False,
            quick=(("steps", 50), ("lr", 0.05)),
        )
    )
    register(
        Method(
            "vi",
            "mean-field Normal guide in the unconstrained space, fitted by Adam on the ELBO",
            produces="draws",
            loss_trace=True,
            settings=OPTIMISER_SETTINGS | {"draws", "batch_size"},
            minibatch=True,
            restarts=True,
            map_start=True,
            kernel=mean_field_advi,
            quick=(("steps", 100), ("lr", 0.05), ("draws", 20)),
        )
    )
    register(
        Method(
            "nuts",
            "the No-U-Turn sampler (MCMC)",
            produces="chains",
            loss_trace=False,
            settings=frozenset(
                {
                    "draws",
                    "warmup",
                    "chains",
                    "target_accept",
                    "max_tree_depth",
                    "sampler",
                    "steps",
                    "lr",
                }
            ),
            sample_stats=HMC_STATS,
            map_start=True,
            quick=(("warmup", 30), ("draws", 20), ("chains", 1), ("max_tree_depth", 4)),
        )
    )
    register(
        Method(
            "gibbs",
            "Gibbs sampling: closed-form full conditionals derived from the spec "
            "(specrec explain lists them), slice steps elsewhere (MCMC)",
            produces="chains",
            loss_trace=False,
            settings=frozenset({"draws", "warmup", "chains", "thin"}),
            sample_stats=("lp",),  # each draw's log density (NUTS' lp), for ArviZ
            svd_start=True,
            map_start=True,
            quick=(("warmup", 30), ("draws", 20), ("chains", 1)),
        )
    )

    register(
        Method(
            "em",
            "expectation-maximisation: E-step responsibilities of a mixture's components, "
            "M-step closed-form modes under the priors (the MAP map finds, no Adam)",
            produces="point",
            loss_trace=True,
            settings=frozenset({"steps", "tol", "restarts"}),
            svd_start=True,
            restarts=True,
            kernel=_em_kernel,
            jacobian=False,
            needs_density=False,
            quick=(("steps", 50),),
            model_reasons=_em_reasons,
            exact_loss=True,
        )
    )
    register(
        Method(
            "cavi",
            "coordinate-ascent mean-field VI: the Gibbs conditionals with expectations of the "
            "other blocks (a full-covariance Gaussian per factor row), draws from the fit",
            produces="draws",
            loss_trace=True,
            settings=frozenset({"steps", "tol", "draws", "restarts"}),
            svd_start=True,
            restarts=True,
            map_start=True,
            kernel=_cavi_kernel,
            needs_density=False,
            quick=(("steps", 50), ("draws", 20)),
            # 1e-5 of the ELBO: on ML-100k bpmf_nw about 55 sweeps, test RMSE 0.8862 against
            # 0.8860 after 200 (1e-8 runs hundreds of sweeps for the last 0.0002)
            defaults=(("tol", 1e-5),),
            model_reasons=_cavi_reasons,
            exact_loss=True,
        )
    )


def _cavi_kernel(density, model, settings, init, progress, label):  # type: ignore[no-untyped-def]
    from specrec.conjugacy import cavi

    return cavi.fit(density, model, settings, init, progress, label)


def _cavi_reasons(model: Model, settings: Inference) -> list[str]:
    from specrec.conjugacy import cavi

    reasons = [f"cavi: {r}" for r in cavi.refusal_reasons(model)]
    if settings.batch_size is not None:
        reasons.append("cavi uses every row in every sweep; drop batch_size (a vi setting)")
    return reasons


def _em_kernel(density, model, settings, init, progress, label):  # type: ignore[no-untyped-def]
    from specrec.conjugacy import em  # scipy and the model code: imported when fitting

    return em.fit(density, model, settings, init, progress, label)


def _em_reasons(model: Model, settings: Inference) -> list[str]:
    from specrec.conjugacy import em

    return [f"em: {r}" for r in em.refusal_reasons(model)]


_builtins()
