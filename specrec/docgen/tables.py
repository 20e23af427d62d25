"""Reference pages read from specrec's tables: distributions, expression functions, metrics.

The "supported on" columns ask each built-in backend which distributions it translates
(``specrec.backends.supported_distributions``), so a distribution added to the table but not
to a backend shows up as a gap here, not as a surprise at fit time.
"""

from __future__ import annotations

from specrec import backends, methods, registry
from specrec.docgen.markdown import code, page, table
from specrec.evaluate.fields import METRICS_FIELDS
from specrec.model import functions as F
from specrec.model.distributions import DISTRIBUTIONS, TRANSFORMS, Distribution

#: The backends whose columns the distributions page shows (the ones specrec ships).
DOCUMENTED_BACKENDS = tuple(
    n for n, p in backends.plugins().items() if p.distribution == registry.DISTRIBUTION
)


def backend_support() -> dict[str, frozenset[str] | None]:
    """Distribution names per built-in backend; None when the backend is not installed or
    does not declare them (shown as "?" rather than guessed)."""
    out: dict[str, frozenset[str] | None] = {}
    for name in DOCUMENTED_BACKENDS:
        try:
            out[name] = backends.supported_distributions(backends.get(name))
        except Exception:  # not installed here: the page says so instead of failing
            out[name] = None
    return out


def _roles(d: Distribution) -> str:
    roles = []
    if not d.discrete and d.support.kind in TRANSFORMS:
        roles.append("prior")
    if d.mean is not None and not d.event_dims:  # a likelihood has one value per row
        roles.append("likelihood")
    return ", ".join(roles) or "-"


def distributions_page() -> str:
    support = backend_support()
    rows = []
    for d in DISTRIBUTIONS.values():
        args = "; ".join(f"{code(a.name)}: {a.doc}, {a.constraint.description}" for a in d.args)
        marks = [
            "?" if support[b] is None else ("yes" if d.name in support[b] else "no")
            for b in DOCUMENTED_BACKENDS
        ]
        rows.append([code(d.signature()), d.doc, args, d.support.description, _roles(d), *marks])
    main = table(
        ["distribution", "what", "parameters", "support", "usable as", *DOCUMENTED_BACKENDS],
        rows,
    )
    transforms = table(
        ["support", "unconstrained map"],
        [[k, code(v)] for k, v in TRANSFORMS.items()],
    )
    return page(
        "Distributions",
        "specrec/model/distributions.py and each backend's translation table",
        """
Every distribution a `prior` or the `likelihood` may name, with its parameters (keyword names
as in `Normal(mu=0, sigma=1)`; positional arguments in this order), the constraint each
parameter must satisfy and the support of its values. Names and parameterisations follow
PyMC. A literal argument outside its constraint, or a likelihood whose support cannot hold
the data, is reported by `specrec validate` before anything is fitted.

*usable as*: a **prior** needs a continuous support that specrec can map to the real line;
a **likelihood** needs a finite mean (predictions are posterior means) and one value per row
(not a multivariate distribution). The backend columns
say whether each installed backend translates the distribution ("?": that backend was not
installed when this page was generated).
""",
        main,
        "## How latent values are constrained\n\n"
        "Every backend maps a latent parameter to the unconstrained space the same way, so\n"
        "that log densities (Jacobians included) agree at the same point "
        "(`specrec check` verifies it):\n\n" + transforms,
    )


def functions_page() -> str:
    groups = [
        ("Elementwise", "Functions of one argument, applied elementwise.", F.ELEMENTWISE_FUNCTIONS),
        ("Structure", "Reductions over a fixed-size dim.", F.STRUCTURAL_FUNCTIONS),
        (
            "Statistics of the training data",
            "Computed once from the training rows when the spec is lowered; they become\n"
            "constants of the model (a backend sees only numbers).",
            F.SCALAR_STATISTICS,
        ),
        (
            "Statistics per level of a data dim",
            "A vector over the dim's levels, also computed from the training rows.",
            F.GROUPED_STATISTICS,
        ),
    ]
    sections = [
        f"## {title}\n\n{text}\n\n"
        + table(["function", "meaning"], [[code(k), v] for k, v in fns.items()])
        for title, text, fns in groups
    ]
    return page(
        "Expression functions",
        "specrec/model/functions.py",
        """
Priors, the likelihood and `let` helpers are expressions: numbers, names (parameters, `let`
helpers, data columns), `+ - * / ^` with the usual precedence, unary minus, indexing by a data
dim (`U[user]`: the row's level) and calls of the functions below or of a
[distribution](distributions.md). specrec parses expressions with its own parser; nothing in
a spec is ever evaluated as Python.
""",
        *sections,
    )


def metrics_page() -> str:
    rows = [[code(k), v] for k, v in METRICS_FIELDS.items()]
    return page(
        "metrics.json",
        "specrec/evaluate/fields.py",
        """
`specrec fit` writes `metrics.json` in the run directory (and prints it with `--json`); every
backend produces the same fields, computed by the shared evaluator from the ArviZ data. A
segment in angle brackets stands for a name that depends on the spec: `<dim>` a data dim such
as `user`, `<baseline>` a baseline such as `global_mean` or `user_mean`, `<pct>` the
predictive interval in percent (`coverage_90`). `null` means "not computable" (no R-hat for
MAP, no coverage without draws).
""",
        table(["field", "meaning"], rows),
    )


def _offered_by() -> dict[str, tuple[str, ...] | None]:
    """Each built-in backend's offered methods (None: not installed where the page was made)."""
    out: dict[str, tuple[str, ...] | None] = {}
    for name in DOCUMENTED_BACKENDS:
        try:
            b = backends.get(name)
        except Exception:
            out[name] = None
            continue
        out[name] = backends.offered_methods(b)
    return out


def _settings_cell(m: methods.Method) -> str:
    """The settings a method reads; one whose default is the method's own shows it."""
    own = dict(m.defaults)
    return (
        ", ".join(
            code(k) + (f" ({own[k]:g})" if k in own else "")
            for k in sorted(m.settings - {"method"})
        )
        or "-"
    )


def methods_page() -> str:
    offered = _offered_by()
    rows = []
    for m in methods.all_methods():
        marks = []
        for b in DOCUMENTED_BACKENDS:
            got = offered[b]
            if got is None:
                marks.append("?")
            elif m.name not in got:
                marks.append("no")
            else:
                marks.append("native" if m.name in backends.get(b).methods else "core kernel")
        rows.append(
            [
                code(m.name),
                m.summary,
                m.produces,
                "yes" if m.loss_trace else "no",
                "yes" if m.minibatch else "no",
                _settings_cell(m),
                ", ".join(code(k) for k in m.sample_stats) or "-",
                *marks,
            ]
        )
    main = table(
        [
            "method",
            "what",
            "produces",
            "loss trace",
            "minibatch",
            "settings it reads",
            "sampler statistics",
            *DOCUMENTED_BACKENDS,
        ],
        rows,
    )
    return page(
        "Inference methods",
        "specrec/methods.py (the methods table) and each backend's offered methods",
        """
Every value `inference.method` (and `--method`) takes. *produces*: **point** is one value per
parameter (chain 1, draw 1), **draws** are independent draws of a fitted distribution, **chains**
are Markov chains (R-hat, ESS and MCSE apply). Besides the settings listed, every method reads
`seed`, `init` and `init_radius`. A setting shown with a value has that default for the method
when the spec leaves it out, instead of the spec reference's. `restarts` applies to the methods
with a loss, `init: map` to those that can start at a map fit. A backend runs a method
**native**ly, or gets it from the method's **core kernel**, which runs specrec's own algorithm
over the backend's compiled log density (Adam MAP and mean-field ADVI for a backend without its
own optimiser). The timings of
every run are defined once: `timing.compile_s`, `fit_s`, `evaluate_s` and `wall_s`
([metrics.json](metrics.md)).
""",
        main,
    )
