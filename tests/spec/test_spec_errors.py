"""Every way a spec can be wrong, and the exact message specrec prints for it.

Each case is a spec text (usually ``BASE``, a copy of ``specs/quickstart.yaml``, with a few
lines replaced) and the exact output expected: ``file:line:col: path: message`` plus the
``expected:``/``found:``/``hint:`` lines.  ``BASE`` is a copy rather than the file itself so
that editing the example never moves the line numbers asserted here.

The printed output of every case is also kept in ``tests/spec/golden/errors.txt`` (the docs'
error gallery is built from it).  After an intended change of wording, regenerate it with::

    SPECREC_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/spec

and review the diff; without the variable, the test fails when the file is stale.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from specrec.data.dataset import Dataset
from specrec.errors import EXIT_BAD_INPUT, SpecError
from specrec.model.distributions import DISTRIBUTIONS
from specrec.model.lower import lower
from specrec.spec.load import parse_spec_text

# the table grows; the message lists it in table order
EXPECTED_DISTRIBUTIONS = "    expected: one of " + ", ".join(DISTRIBUTIONS)
GOLDEN = Path(__file__).parent / "golden" / "errors.txt"
FILE = "spec.yaml"

# Line numbers are part of the expectations below; keep this text as it is.
BASE = """\
specrec: 1
name: quickstart
data:
  source: simulate
  sizes: {user: 120, item: 80}
  density: 0.3
  seed: 1
  split: {kind: random, test_fraction: 0.1, seed: 42}
dims:
  user: {column: user_id}
  item: {column: item_id}
  factor: 3
params:
  mu: Normal(3.5, 1)
  mu_u:
    prior: Normal(0, 1)
    dims: [factor]
  U:
    prior: Normal(mu_u, 0.5)
    dims: [user, factor]
  V:
    prior: Normal(0, 0.5)
    dims: [item, factor]
  sigma: HalfNormal(1)
likelihood:
  rating: Normal(mu + dot(U[user], V[item]), sigma)
inference:
  method: nuts
  steps: 100
"""
LIKELIHOOD = "rating: Normal(mu + dot(U[user], V[item]), sigma)"
MIXTURE = (
    "rating:\n    distribution: Normal(mu + dot(U[user], V[item]), sigma)\n"
    "    mixture: {over: %s, weights: %s, per: %s}"
)


def tiny_ratings(y: list[float]) -> Dataset:
    """Rows of a 3-user x 2-item rating table (user_id, item_id, rating) built by hand."""
    n = len(y)
    return Dataset(
        response="rating",
        y=np.asarray(y, dtype=float),
        codes={"user_id": np.arange(n) % 3, "item_id": np.arange(n) % 2},
        levels={"user_id": np.array([10, 11, 12]), "item_id": np.array([1, 2])},
    )


@dataclass(frozen=True)
class Case:
    id: str
    edits: tuple[tuple[str, str], ...] | str  # (old, new) replacements in BASE, or a whole text
    expected: tuple[str, ...]  # the printed problems, line by line (without the count line)
    overrides: tuple[str, ...] = ()
    data: Dataset | None = field(default=None, compare=False)

    @property
    def text(self) -> str:
        if isinstance(self.edits, str):
            return self.edits
        t = BASE
        for old, new in self.edits:
            assert t.count(old) == 1, f"{self.id}: {old!r} must occur once in BASE"
            t = t.replace(old, new)
        return t

    def describe(self) -> str:
        """The input, as the golden file (and the docs' gallery) show it."""
        if isinstance(self.edits, str):
            lines = self.edits.splitlines()
            body = "".join(f"    | {line}".rstrip() + "\n" for line in lines) or "    (empty)\n"
            out = f"input ({FILE}):\n{body}"
        else:
            out = "input: the quickstart spec with\n" + "".join(
                f"    {old.strip()!r} -> {new.strip()!r}\n" for old, new in self.edits
            )
        for s in self.overrides:
            out += f"    --set {s}\n"
        return out


def C(id: str, edits, *expected: str, overrides=(), data=None) -> Case:
    """A case; ``edits`` is a whole text, or (old, new, old2, new2, ...), or ((old, new), ...)."""
    if isinstance(edits, tuple) and edits and isinstance(edits[0], str):
        edits = tuple(zip(edits[::2], edits[1::2], strict=True))
    return Case(id, edits, expected, tuple(overrides), data)


CASES = [
    # ---- YAML and the top level ------------------------------------------------------------------
    C(
        "not-yaml",
        "specrec: 1\nname: [quickstart\n",
        "spec.yaml:3:1: not valid YAML: expected ',' or ']', but got '<stream end>'",
        "    hint:     while parsing a flow sequence that starts at line 2, column 7",
    ),
    C(
        "yaml-tab-indent",
        "specrec: 1\ndata:\n\tsource: simulate\n",
        "spec.yaml:3:1: not valid YAML: found character '\\t' that cannot start any token",
        "    hint:     YAML indents with spaces, not tabs",
    ),
    C(
        "yaml-alias-refused",
        "specrec: 1\nname: &n quickstart\ndescription: *n\n",
        "spec.yaml:2:7: refused: anchor &n is not allowed",
        "    hint:     anchors (&name), aliases (*name) and merge keys (<<) are refused; "
        "write values out",
    ),
    C(
        "yaml-tag-refused",
        "specrec: 1\nname: !!python/object/apply:os.system [echo]\n",
        "spec.yaml:2:7: refused: YAML tag tag:yaml.org,2002:python/object/apply:os.system is "
        "not allowed",
        "    hint:     a spec holds plain scalars, lists and mappings only; remove the tag",
    ),
    C(
        "yaml-too-deep",
        "specrec: 1\nname: " + "[" * 100 + "]" * 100 + "\n",
        "spec.yaml:2:70: refused: nested deeper than 64 levels of lists and mappings",
    ),
    C(
        "set-not-yaml",
        (),
        "--set inference.steps=[1, 2: inference.steps: not valid YAML: expected ',' or ']', "
        "but got '<stream end>' at character 6 of the value",
        "    hint:     while parsing a flow sequence that starts at line 1, column 1",
        overrides=["inference.steps=[1, 2"],
    ),
    C(
        "count-is-a-boolean",
        ("  steps: 100", "  steps: true"),
        "spec.yaml:29:10: inference.steps: wrong type",
        "    expected: a valid integer",
        "    found:    True",
    ),
    C(
        "lr-not-finite",
        ("  steps: 100", "  steps: 100\n  lr: .inf"),
        "spec.yaml:30:7: inference.lr: not a finite number",
        "    expected: a finite number",
        "    found:    inf",
    ),
    C(
        "unknown-backend",
        ("name: quickstart", "name: quickstart\nbackend: numpyr"),
        "spec.yaml:3:10: backend: unknown backend",
        "    expected: numpyro, pymc, pyro",
        "    found:    'numpyr'",
        "    hint:     did you mean 'numpyro'?",
    ),
    C(
        "empty-file",
        "",
        "spec.yaml: a spec is a mapping of keys",
        "    expected: a mapping",
        "    found:    an empty file",
    ),
    C(
        "top-level-list",
        "- specrec: 1\n- name: x\n",
        "spec.yaml:1:1: a spec is a mapping of keys",
        "    expected: a mapping",
        "    found:    a list",
    ),
    C(
        "top-level-scalar",
        "Normal(0, 1)\n",
        "spec.yaml:1:1: a spec is a mapping of keys",
        "    expected: a mapping",
        "    found:    a single value 'Normal(0, 1)'",
    ),
    C(
        "duplicate-key",
        ("  seed: 1\n", "  seed: 1\n  seed: 2\n"),
        "spec.yaml:8:3: data.seed: duplicate key",
        "    hint:     first given at line 7; YAML would keep only the last",
    ),
    C(
        "unknown-top-level-key",
        ("inference:", "inferense:"),
        "spec.yaml:27:1: inferense: unknown key 'inferense'",
        "    hint:     did you mean 'inference'?",
    ),
    C(
        "key-at-the-wrong-level",
        ("inference:", "steps: 10\ninference:"),
        "spec.yaml:27:1: steps: unknown key 'steps'",
        "    hint:     'steps' is a key at inference.steps, not at the top level",
    ),
    C(
        "misspelt-nested-key",
        ("    dims: [factor]", "    dim: [factor]"),
        "spec.yaml:17:5: params.mu_u.dim: unknown key 'dim'",
        "    hint:     did you mean 'dims'?",
    ),
    C(
        "spec-version",
        ("specrec: 1", "specrec: 2"),
        "spec.yaml:1:10: specrec: not one of the allowed values",
        "    expected: 1",
        "    found:    2",
    ),
    C(
        "bad-name",
        ("name: quickstart", "name: quick start"),
        "spec.yaml:2:7: name: bad name",
        "    expected: letters, digits, '_', '-' or '.', starting with a letter or digit",
        "    found:    'quick start'",
    ),
    # ---- structure: types, ranges, choices -------------------------------------------------------
    C(
        "wrong-type",
        ("factor: 3", 'factor: "ten"'),
        "spec.yaml:12:11: dims.factor: wrong type",
        "    expected: a valid integer",
        "    found:    'ten'",
    ),
    C(
        "factor-zero",
        ("factor: 3", "factor: 0"),
        "spec.yaml:12:11: dims.factor: value out of range",
        "    expected: greater than or equal to 1",
        "    found:    0",
    ),
    C(
        "unknown-data-source",
        ("source: simulate", "source: simulat"),
        "spec.yaml:4:11: data.source: not one of the allowed values",
        "    expected: movielens-100k, file, simulate",
        "    found:    'simulat'",
        "    hint:     did you mean 'simulate'?",
    ),
    C(
        "missing-data-source",
        ("  source: simulate\n", ""),
        "spec.yaml:3:1: data: missing required key 'source'",
    ),
    C(
        "missing-split-kind",
        ("split: {kind: random, test_fraction: 0.1, seed: 42}", "split: {test_fraction: 0.1}"),
        "spec.yaml:8:3: data.split: missing required key 'kind'",
    ),
    C(
        "test-fraction-range",
        ("test_fraction: 0.1", "test_fraction: 1.5"),
        "spec.yaml:8:40: data.split.test_fraction: value out of range",
        "    expected: less than 1",
        "    found:    1.5",
    ),
    C(
        "kfold-fold-not-below-k",
        (
            "split: {kind: random, test_fraction: 0.1, seed: 42}",
            "split: {kind: kfold, k: 5, fold: 5}",
        ),
        "spec.yaml:8:36: data.split.fold: fold must be in 0..4, found 5",
    ),
    C(
        "simulate-density-and-rows",
        ("  density: 0.3\n", "  density: 0.3\n  rows: 100\n"),
        "spec.yaml:4:3: data: give exactly one of density or rows, found both",
    ),
    C(
        "simulate-neither-density-nor-rows",
        ("  density: 0.3\n", ""),
        "spec.yaml:4:3: data: give exactly one of density or rows, found neither",
    ),
    C(
        "range-not-ordered",
        ("  seed: 1\n", "  seed: 1\n  range: [5, 1]\n"),
        "spec.yaml:8:10: data.range: range must be [min, max] with min < max, found [5.0, 1.0]",
    ),
    C(
        "missing-likelihood",
        (f"likelihood:\n  {LIKELIHOOD}\n", ""),
        "spec.yaml:1:1: missing required key 'likelihood'",
    ),
    C(
        "two-likelihoods",
        ("likelihood:\n", "likelihood:\n  y: Normal(0, 1)\n"),
        "spec.yaml:26:3: likelihood: exactly one observed column, found 2",
    ),
    C(
        "likelihood-not-a-string",
        (LIKELIHOOD, "rating: 3"),
        "spec.yaml:26:11: likelihood.rating: wrong type",
        "    expected: a valid string",
        "    found:    3",
    ),
    C(
        "missing-prior",
        ("    prior: Normal(0, 0.5)\n", ""),
        "spec.yaml:21:3: params.V: missing required key 'prior'",
    ),
    C(
        "unknown-method",
        ("method: nuts", "method: nut"),
        "spec.yaml:28:11: inference.method: not one of the allowed values",
        "    expected: map, vi, nuts, gibbs, em, cavi",
        "    found:    'nut'",
        "    hint:     did you mean 'nuts'?",
    ),
    C(
        # a found value longer than 80 characters loses its middle (specrec.errors.shorten)
        "long-found-value-shortened",
        ("method: nuts", "method: " + "nuts_" * 30),
        "spec.yaml:28:11: inference.method: not one of the allowed values",
        "    expected: map, vi, nuts, gibbs, em, cavi",
        "    found:    'nuts_nuts_nuts_nuts_nuts_nuts_nuts_nuts_nuts_nuts_n...uts_nuts_nuts_nuts_nuts_'",
    ),
    C(
        "long-list-shortened",
        ("steps: 100", "steps: [" + ", ".join(str(i) for i in range(100, 140)) + "]"),
        "spec.yaml:29:10: inference.steps: wrong type",
        "    expected: a valid integer",
        "    found:    [100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 1... 135, 136, 137, 138, 139]",
    ),
    C(
        "negative-steps",
        ("steps: 100", "steps: -1"),
        "spec.yaml:29:10: inference.steps: value out of range",
        "    expected: greater than or equal to 1",
        "    found:    -1",
    ),
    # ---- --set overrides are reported where they came from --------------------------------------
    C(
        "set-bad-value",
        (),
        "--set inference.steps=-5: inference.steps: value out of range",
        "    expected: greater than or equal to 1",
        "    found:    -5",
        overrides=["inference.steps=-5"],
    ),
    C(
        "set-unknown-key",
        (),
        "--set inference.stepz=5: inference.stepz: unknown key 'stepz'",
        "    hint:     did you mean 'steps'?",
        overrides=["inference.stepz=5"],
    ),
    C(
        "set-not-key-value",
        (),
        "--set: expected KEY=VALUE, found 'inference.steps'",
        overrides=["inference.steps"],
    ),
    # ---- expressions that do not parse -----------------------------------------------------------
    C(
        "flow-mapping-cut-at-comma",
        ("  mu: Normal(3.5, 1)\n", "  mu: {prior: Normal(3.5, 1)}\n"),
        "spec.yaml:14:8: params.mu.prior: an expression was cut at a comma inside a flow mapping {...}",
        "    found:    'Normal(3.5'",
        '    hint:     quote the expression (prior: "Normal(0, 1)") or use block style',
    ),
    C(
        "parse-error-unquoted",
        ("sigma: HalfNormal(1)", "sigma: HalfNormal(1 +* 2)"),
        "spec.yaml:24:24: params.sigma: cannot parse expression: expected a number, a name or '(', found '*'",
        "    found:    'HalfNormal(1 +* 2)'",
    ),
    C(
        "parse-error-single-quoted",
        ("sigma: HalfNormal(1)", "sigma: 'HalfNormal(1 +* 2)'"),
        "spec.yaml:24:25: params.sigma: cannot parse expression: expected a number, a name or '(', found '*'",
        "    found:    'HalfNormal(1 +* 2)'",
    ),
    C(
        "parse-error-double-quoted",
        ("sigma: HalfNormal(1)", 'sigma: "HalfNormal(1 +* 2)"'),
        "spec.yaml:24:25: params.sigma: cannot parse expression: expected a number, a name or '(', found '*'",
        "    found:    'HalfNormal(1 +* 2)'",
    ),
    C(
        "parse-error-in-block-prior",
        ("prior: Normal(mu_u, 0.5)", "prior: Normal(mu_u 0.5)"),
        "spec.yaml:19:24: params.U.prior: cannot parse expression: expected ')', found '0.5'",
        "    found:    'Normal(mu_u 0.5)'",
    ),
    C(
        "unclosed-parenthesis",
        ("mu: Normal(3.5, 1)", "mu: Normal(3.5, 1"),
        "spec.yaml:14:20: params.mu: cannot parse expression: expected ')', found end of expression",
        "    found:    'Normal(3.5, 1'",
    ),
    C(
        "trailing-token",
        ("mu: Normal(3.5, 1)", "mu: Normal(3.5, 1) x"),
        "spec.yaml:14:22: params.mu: cannot parse expression: unexpected 'x' after a complete expression",
        "    found:    'Normal(3.5, 1) x'",
    ),
    C(
        "bad-character",
        ("mu: Normal(3.5, 1)", "mu: Normal(3.5, 1) $"),
        "spec.yaml:14:22: params.mu: cannot parse expression: unexpected character '$'",
        "    found:    'Normal(3.5, 1) $'",
    ),
    C(
        "python-is-not-evaluated",
        ("mu: Normal(3.5, 1)", "mu: \"Normal(__import__('os'), 1)\""),
        'spec.yaml:14:26: params.mu: cannot parse expression: unexpected character "\'"',
        "    found:    \"Normal(__import__('os'), 1)\"",
    ),
    C(
        "error-in-folded-plain-scalar",
        (LIKELIHOOD, "rating: Normal(mu + dot(U[user], V[item]),\n    sigmaa)"),
        "spec.yaml:27:5: likelihood.rating: undefined name 'sigmaa'",
        "    expected: a parameter, a let helper or a data column",
        "    hint:     did you mean 'sigma'?",
    ),
    C(
        "error-in-folded-block-scalar",
        (LIKELIHOOD, "rating: >-\n    Normal(mu + dot(U[user], V[item]),\n      sigmaa)"),
        "spec.yaml:28:7: likelihood.rating: undefined name 'sigmaa'",
        "    expected: a parameter, a let helper or a data column",
        "    hint:     did you mean 'sigma'?",
    ),
    C(
        "error-in-literal-block-scalar",
        (LIKELIHOOD, "rating: |\n    Normal(mu + dot(U[user], V[item]), sigmaa)"),
        "spec.yaml:27:40: likelihood.rating: undefined name 'sigmaa'",
        "    expected: a parameter, a let helper or a data column",
        "    hint:     did you mean 'sigma'?",
    ),
    C(
        "error-in-multiline-quoted-scalar",
        (LIKELIHOOD, 'rating: "Normal(mu + dot(U[user], V[item]),\n    sigmaa)"'),
        "spec.yaml:27:5: likelihood.rating: undefined name 'sigmaa'",
        "    expected: a parameter, a let helper or a data column",
        "    hint:     did you mean 'sigma'?",
    ),
    # ---- distributions and functions -------------------------------------------------------------
    C(
        "unknown-distribution",
        ("mu: Normal(3.5, 1)", "mu: Normall(3.5, 1)"),
        "spec.yaml:14:7: params.mu: expected a distribution, found 'Normall'",
        EXPECTED_DISTRIBUTIONS,
        "    hint:     did you mean 'Normal'?",
    ),
    C(
        "prior-not-a-distribution",
        ("sigma: HalfNormal(1)", "sigma: exp(mu)"),
        "spec.yaml:24:10: params.sigma: expected a distribution, found 'exp'",
        EXPECTED_DISTRIBUTIONS,
    ),
    C(
        "unknown-function",
        ("dot(U[user]", "dott(U[user]"),
        "spec.yaml:26:23: likelihood.rating: unknown function 'dott'",
        "    hint:     did you mean 'dot'?",
    ),
    C(
        "python-name-is-unknown-function",
        ("mu + dot", "__import__(1) + dot"),
        "spec.yaml:26:18: likelihood.rating: unknown function '__import__'",
    ),
    C(
        "wrong-arg-count",
        ("mu: Normal(3.5, 1)", "mu: Normal(3.5, 1, 2)"),
        "spec.yaml:14:7: params.mu: Normal(mu, sigma) takes 2 arguments, found 3",
    ),
    C(
        "wrong-arg-count-function",
        ("mu + dot", "mean_by(rating) + dot"),
        "spec.yaml:26:18: likelihood.rating: mean_by() takes 2 arguments, found 1",
    ),
    C(
        "unknown-keyword-arg",
        ("mu: Normal(3.5, 1)", "mu: Normal(3.5, sd=1)"),
        "spec.yaml:14:19: params.mu: Normal has no argument 'sd'",
        "    expected: Normal(mu, sigma)",
    ),
    C(
        "keyword-arg-given-twice",
        ("mu: Normal(3.5, 1)", "mu: Normal(3.5, 1, mu=2)"),
        "spec.yaml:14:22: params.mu: argument 'mu' given twice",
    ),
    C(
        "keyword-arg-to-function",
        ("mu + dot", "exp(x=1) + dot"),
        "spec.yaml:26:18: likelihood.rating: exp() takes no keyword arguments",
    ),
    C(
        "missing-arg",
        ("mu: Normal(3.5, 1)", "mu: Normal(3.5)"),
        "spec.yaml:14:7: params.mu: Normal is missing sigma",
        "    expected: Normal(mu, sigma)",
    ),
    C(
        "scale-negative",
        ("sigma: HalfNormal(1)", "sigma: HalfNormal(-1)"),
        "spec.yaml:24:21: params.sigma: HalfNormal's sigma is outside its constraint",
        "    expected: a number > 0",
        "    found:    -1",
    ),
    C(
        "scale-zero",
        ("mu: Normal(3.5, 1)", "mu: Normal(0, 0)"),
        "spec.yaml:14:17: params.mu: Normal's sigma is outside its constraint",
        "    expected: a number > 0",
        "    found:    0",
    ),
    C(
        "scale-computed-zero",
        ("mu: Normal(3.5, 1)", "mu: Normal(0, 1 - 1)"),
        "spec.yaml:14:17: params.mu: Normal's sigma is outside its constraint",
        "    expected: a number > 0",
        "    found:    (1 - 1) = 0",
    ),
    C(
        "beta-arg-outside-constraint",
        ("sigma: HalfNormal(1)", "sigma: Beta(2, -0.5)"),
        "spec.yaml:24:18: params.sigma: Beta's beta is outside its constraint",
        "    expected: a number > 0",
        "    found:    -0.5",
    ),
    C(
        "uniform-bounds-reversed",
        ("sigma: HalfNormal(1)", "sigma: Uniform(2, 1)"),
        "spec.yaml:24:10: params.sigma: Uniform needs lower < upper",
        "    found:    lower = 2, upper = 1",
    ),
    C(
        "discrete-prior",
        ("mu: Normal(3.5, 1)", "mu: Poisson(3)"),
        "spec.yaml:14:7: params.mu: mu has a discrete prior (Poisson); discrete latent parameters cannot be fitted by map, vi or nuts",
        "    hint:     marginalise the discrete variable in the likelihood",
    ),
    C(
        "distribution-inside-expression",
        ("mu + dot", "Normal(0, 1) + dot"),
        "spec.yaml:26:18: likelihood.rating: Normal is a distribution; it can only be a whole prior or likelihood",
    ),
    C(
        "likelihood-without-mean",
        (LIKELIHOOD, "rating: HalfCauchy(exp(mu + dot(U[user], V[item])) + sigma)"),
        "spec.yaml:26:11: likelihood.rating: HalfCauchy has no finite mean, so it cannot predict ratings",
    ),
    # ---- names -----------------------------------------------------------------------------------
    C(
        "undefined-name",
        ("prior: Normal(mu_u, 0.5)", "prior: Normal(mu_uu, 0.5)"),
        "spec.yaml:19:19: params.U.prior: undefined name 'mu_uu'",
        "    expected: a parameter, a let helper or a data column",
        "    hint:     did you mean 'mu_u'?",
    ),
    C(
        "unused-parameter",
        ("  sigma: HalfNormal(1)\n", "  sigma: HalfNormal(1)\n  tau: HalfNormal(1)\n"),
        "spec.yaml:25:3: params.tau: parameter 'tau' is never used by the likelihood",
    ),
    C(
        "unused-let",
        ("likelihood:", "let:\n  k: 2\nlikelihood:"),
        "spec.yaml:26:3: let.k: let helper 'k' is never used",
    ),
    C(
        "unused-dim",
        ("  factor: 3\n", "  factor: 3\n  extra: 4\n"),
        "spec.yaml:13:3: dims.extra: dim 'extra' is declared but never used",
    ),
    C(
        "name-is-dim-and-parameter",
        ("  factor: 3\n", "  factor: 3\n  mu: 2\n"),
        "spec.yaml:13:3: dims.mu: 'mu' is both a dim and a parameter or let name",
    ),
    C(
        "parameter-cycle",
        (
            "mu: Normal(3.5, 1)",
            "mu: Normal(sigma, 1)",
            "sigma: HalfNormal(1)",
            "sigma: HalfNormal(exp(mu))",
        ),
        "spec.yaml:14:7: params.mu: parameters depend on each other in a cycle: mu -> sigma -> mu",
    ),
    C(
        "let-cycle",
        (
            "likelihood:",
            "let:\n  a: b + 1\n  b: a * 2\nlikelihood:",
            "mu: Normal(3.5, 1)",
            "mu: Normal(a, 1)",
        ),
        "spec.yaml:27:6: let.b: let helpers refer to each other in a cycle: a -> b -> a",
    ),
    C(
        "observed-column-as-value",
        ("mu + dot", "rating + dot"),
        "spec.yaml:26:18: likelihood.rating: the observed column 'rating' cannot be used as a value",
        "    hint:     use a statistic such as mean(rating)",
    ),
    C(
        "id-column-as-value",
        ("mu: Normal(3.5, 1)", "mu: Normal(user_id, 1)"),
        "spec.yaml:14:14: params.mu: 'user_id' is the id column of dim 'user', not a value",
        "    hint:     index a parameter by the dim: X[user]",
    ),
    C(
        "dim-as-value",
        ("mu: Normal(3.5, 1)", "mu: Normal(factor, 1)"),
        "spec.yaml:14:14: params.mu: dim 'factor' used as a value",
        "    hint:     index a parameter by it: X[factor]",
    ),
    C(
        "statistic-of-a-parameter",
        ("mu: Normal(3.5, 1)", "mu: Normal(mean(sigma), 1)"),
        "spec.yaml:14:19: params.mu: mean() summarises a data column",
        "    expected: rating",
        "    found:    sigma",
    ),
    C(
        "grouped-statistic-by-fixed-dim",
        ("mu + dot", "mean_by(rating, factor) + dot"),
        "spec.yaml:26:34: likelihood.rating: mean_by() groups by a data dim",
        "    found:    factor",
    ),
    # ---- dims ------------------------------------------------------------------------------------
    C(
        "dims-not-declared",
        ("dims: [user, factor]", "dims: [usr, factor]"),
        "spec.yaml:20:12: params.U.dims[0]: unknown dim 'usr'",
        "    hint:     did you mean 'user'?",
    ),
    C(
        "dim-listed-twice",
        ("dims: [user, factor]", "dims: [user, user]"),
        "spec.yaml:20:18: params.U.dims[1]: dim 'user' listed twice",
    ),
    C(
        "dot-of-mismatched-dims",
        (("  factor: 3\n", "  factor: 3\n  k2: 2\n"), ("dims: [item, factor]", "dims: [item, k2]")),
        "spec.yaml:27:23: likelihood.rating: dot() of values that share no fixed-size dim",
        "    expected: two values over the same factor dim",
        "    found:    (obs, factor) and (obs, k2)",
    ),
    C(
        "sum-over-missing-dim",
        ("mu + dot", "sum(mu, factor) + dot"),
        "spec.yaml:26:18: likelihood.rating: sum(x, dim) needs a fixed-size dim of x",
        "    found:    factor",
    ),
    C(
        "likelihood-leaves-factor-dim",
        (LIKELIHOOD, "rating: Normal(U[user], sigma)"),
        "spec.yaml:26:18: likelihood.rating: Normal's mu has dims (obs, factor), but the likelihood is over dims (obs)",
        "    hint:     reduce 'factor' with dot() or sum()",
    ),
    C(
        "prior-has-more-dims-than-parameter",
        ("mu: Normal(3.5, 1)", "mu: Normal(mu_u, 1)"),
        "spec.yaml:14:14: params.mu: Normal's mu has dims (factor), but this parameter has no dims",
        "    hint:     add 'factor' to this parameter's dims",
    ),
    C(
        "data-dim-parameter-not-indexed",
        ("dot(U[user]", "dot(U"),
        "spec.yaml:26:27: likelihood.rating: 'U' has data dim 'user'; index it in the likelihood",
        "    hint:     write U[user]",
    ),
    C(
        "data-dim-parameter-in-other-prior",
        (
            "prior: Normal(0, 0.5)\n    dims: [item, factor]",
            "prior: Normal(U, 0.5)\n    dims: [item, factor]",
        ),
        "spec.yaml:22:19: params.V.prior: 'U' has data dim 'user'; index it here",
        "    hint:     U can only be used by a parameter over 'user'",
    ),
    C(
        "index-by-unknown-dim",
        ("V[item]", "V[itme]"),
        "spec.yaml:26:38: likelihood.rating: unknown dim 'itme'",
        "    hint:     did you mean 'item'?",
    ),
    C(
        "index-by-dim-the-parameter-lacks",
        ("V[item]", "V[user]"),
        "spec.yaml:26:38: likelihood.rating: cannot index 'V' by 'user': V has dims (item, factor)",
    ),
    C(
        "index-by-fixed-size-dim",
        ("U[user], V[item]", "U[user][factor], V[item]"),
        "spec.yaml:26:35: likelihood.rating: 'factor' is a fixed-size dim; only data dims index rows",
    ),
    C(
        "index-by-two-dims",
        ("V[item]", "V[item, user]"),
        "spec.yaml:26:44: likelihood.rating: index by one data dim at a time",
    ),
    # ---- with training rows ----------------------------------------------------------------------
    C(
        "likelihood-support-cannot-hold-data",
        (LIKELIHOOD, "rating: Poisson(exp(mu + dot(U[user], V[item])) + sigma)"),
        "spec.yaml:26:11: likelihood.rating: Poisson cannot hold the observed 'rating'",
        "    expected: a whole number >= 0",
        "    found:    3.5 and 1 more",
        data=tiny_ratings([1, 3.5, 2, 4, 0.5, 5]),
    ),
    C(
        "data-has-no-such-column",
        ("user_id", "usr_id"),
        "spec.yaml:10:18: dims.user.column: the data has no categorical column 'usr_id'",
        "    expected: item_id, user_id",
        "    found:    'usr_id'",
        "    hint:     did you mean 'user_id'?",
        data=tiny_ratings([1, 3, 2, 4]),
    ),
    # ---- evaluate: ranking settings ----------------------------------------------------------
    C(
        "ranking-per-is-not-a-data-dim",
        ("inference:", "evaluate:\n  ranking: {per: factor}\ninference:"),
        "spec.yaml:28:18: evaluate.ranking.per: ranking is per level of a data dim",
        "    expected: user, item",
        "    found:    'factor'",
    ),
    C(
        "ranking-threshold-outside-the-rating-range",
        (
            ("  seed: 1\n", "  seed: 1\n  range: [1, 5]\n"),
            ("inference:", "evaluate:\n  ranking: {threshold: 6}\ninference:"),
        ),
        "spec.yaml:29:24: evaluate.ranking.threshold: no rating could be relevant, or every one "
        "would be",
        "    expected: a rating in (1, 5] (data.range)",
        "    found:    6",
    ),
    C(
        "ranking-k-below-one",
        ("inference:", "evaluate:\n  ranking: {k: 0}\ninference:"),
        "spec.yaml:28:16: evaluate.ranking.k: value out of range",
        "    expected: greater than or equal to 1",
        "    found:    0",
    ),
    # ---- several problems are reported together -------------------------------------------------
    C(
        "several-structure-problems",
        (
            ("factor: 3", "factor: 0"),
            ("method: nuts", "method: nut"),
            ("steps: 100", "steps: -1"),
            ("inference:", "evaluate: {clip: maybe}\ninference:"),
        ),
        "spec.yaml:12:11: dims.factor: value out of range",
        "    expected: greater than or equal to 1",
        "    found:    0",
        "spec.yaml:27:18: evaluate.clip: wrong type",
        "    expected: a valid boolean",
        "    found:    'maybe'",
        "spec.yaml:29:11: inference.method: not one of the allowed values",
        "    expected: map, vi, nuts, gibbs, em, cavi",
        "    found:    'nut'",
        "    hint:     did you mean 'nuts'?",
        "spec.yaml:30:10: inference.steps: value out of range",
        "    expected: greater than or equal to 1",
        "    found:    -1",
    ),
    C(
        "several-model-problems",
        (
            ("mu: Normal(3.5, 1)", "mu: Normall(3.5, 1)"),
            ("prior: Normal(0, 0.5)", "prior: Normal(0, tau)"),
            ("sigma: HalfNormal(1)", "sigma: HalfNormal(-1)"),
            ("dot(U[user]", "dott(U[user]"),
        ),
        "spec.yaml:14:7: params.mu: expected a distribution, found 'Normall'",
        EXPECTED_DISTRIBUTIONS,
        "    hint:     did you mean 'Normal'?",
        "spec.yaml:22:22: params.V.prior: undefined name 'tau'",
        "    expected: a parameter, a let helper or a data column",
        "spec.yaml:24:21: params.sigma: HalfNormal's sigma is outside its constraint",
        "    expected: a number > 0",
        "    found:    -1",
        "spec.yaml:26:23: likelihood.rating: unknown function 'dott'",
        "    hint:     did you mean 'dot'?",
    ),
    # --- multivariate, mixtures, ordinal ---
    C(
        "matrix-param-dims-of-different-sizes",
        (
            "  factor: 3\n",
            "  factor: 3\n  other: 4\n",
            "  sigma: HalfNormal(1)\n",
            "  sigma: HalfNormal(1)\n  L:\n    prior: LKJCholesky(2)\n    dims: [factor, other]\n",
        ),
        "spec.yaml:28:11: params.L.dims: L is a matrix (LKJCholesky): its last two dims must be distinct fixed-size dims of the same size",
        "    expected: [..., a, b]: a and b distinct fixed-size dims of the same size",
        "    found:    (factor: 3, other: 4)",
    ),
    C(
        "matrix-param-one-dim",
        (
            "  sigma: HalfNormal(1)\n",
            "  sigma: HalfNormal(1)\n  L:\n    prior: LKJCholesky(2)\n    dims: [factor]\n",
        ),
        "spec.yaml:27:11: params.L.dims: L is a matrix (LKJCholesky): its last two dims must be distinct fixed-size dims of the same size",
        "    expected: [..., a, b]: a and b distinct fixed-size dims of the same size",
        "    found:    (factor: 3)",
    ),
    C(
        "mvnormal-chol-not-square",
        (
            "  factor: 3\n",
            "  factor: 3\n  other: 4\n",
            "prior: Normal(mu_u, 0.5)\n",
            "prior: MvNormal(mu_u, C)\n",
            "  sigma: HalfNormal(1)\n",
            "  sigma: HalfNormal(1)\n  C:\n    prior: Normal(0, 1)\n    dims: [factor, other]\n",
        ),
        "spec.yaml:20:27: params.U.prior: MvNormal's chol must be a matrix over ('factor', a second fixed-size dim of size 3)",
        "    expected: a matrix over ('factor', a second fixed-size dim of size 3)",
        "    found:    dims (factor, other), other: 4",
    ),
    C(
        "mvnormal-mean-not-over-event-dim",
        (
            "prior: Normal(mu_u, 0.5)\n",
            "prior: MvNormal(sigma, L)\n",  # a number would be a mean for every element
            "  sigma: HalfNormal(1)\n",
            "  sigma: HalfNormal(1)\n  L:\n    prior: LKJCholesky(2)\n    dims: [factor, factor2]\n",
            "  factor: 3\n",
            "  factor: 3\n  factor2: 3\n",
        ),
        "spec.yaml:20:21: params.U.prior: MvNormal's mu must be a vector over 'factor'",
        "    expected: a vector over 'factor'",
        "    found:    no dims",
    ),
    C(
        "wishart-dof-below-matrix-size",
        (
            "  sigma: HalfNormal(1)\n",
            "  sigma: HalfNormal(1)\n  L:\n    prior: WishartCholesky(2)\n"
            "    dims: [factor, factor2]\n",
            "  factor: 3\n",
            "  factor: 3\n  factor2: 3\n",
        ),
        "spec.yaml:27:28: params.L.prior: WishartCholesky's nu must exceed 2 for a 3 x 3 matrix",
        "    expected: a number > 2",
        "    found:    2",
    ),
    C(
        "ordered-constraint-on-positive-prior",
        (
            "    prior: Normal(0, 1)\n    dims: [factor]\n",
            "    prior: HalfNormal(1)\n    dims: [factor]\n    constraint: ordered\n",
        ),
        "spec.yaml:18:17: params.mu_u.constraint: constraint ordered needs a prior over all real numbers, found HalfNormal",
        "    expected: a univariate prior with real support, e.g. Normal(0, 3)",
        "    found:    HalfNormal on a number > 0",
    ),
    C(
        "ordered-constraint-on-scalar",
        (
            "  sigma: HalfNormal(1)\n",
            "  sigma: HalfNormal(1)\n  c:\n    prior: Normal(0, 1)\n    constraint: ordered\n",
            "dot(U[user], V[item])",
            "dot(U[user], V[item]) + c",
        ),
        "spec.yaml:26:12: params.c.prior: c is an ordered vector: its last dim must be a fixed-size dim",
        "    expected: [..., a fixed-size dim]",
        "    found:    (no dims)",
    ),
    C(
        "mvnormal-likelihood",
        (LIKELIHOOD, "rating: MvNormal(mu_u, sigma)"),
        "spec.yaml:26:11: likelihood.rating: MvNormal is multivariate; a likelihood has one value per row",
        "    hint:     use it as the prior of a parameter over a fixed-size dim",
    ),
    C(
        "scaled-likelihood-outside-support",
        (
            LIKELIHOOD,
            "rating:\n    distribution: Beta(sigmoid(mu + dot(U[user], V[item])) * 3 + sigma, 2)\n    shift: 1\n    scale: 2",
        ),
        "spec.yaml:27:19: likelihood.rating.distribution: Beta cannot hold (rating - 1) / 2",
        "    expected: a number in (0, 1)",
        "    found:    0 and 3 more",
        data=tiny_ratings([1.0, 2.0, 5.0, 3.0, 2.0, 4.0]),
    ),
    C(
        "scaled-likelihood-zero-scale",
        (
            LIKELIHOOD,
            "rating:\n    distribution: Normal(dot(U[user], V[item]), sigma)\n    scale: 0",
        ),
        "spec.yaml:28:12: likelihood.rating.scale: scale must not be 0",
    ),
    # ---- aggregates, count/positive likelihoods, covariates ----------------------------------------
    C(
        "segment-by-fixed-dim",
        (
            LIKELIHOOD,
            "rating: Normal(mu + dot(segment_mean(V[item], factor)[user], U[user]), sigma)",
        ),
        "spec.yaml:26:49: likelihood.rating: segment_mean() aggregates per level of a data dim",
        "    expected: user, item",
        "    found:    factor",
    ),
    C(
        "segment-of-non-row-value",
        (LIKELIHOOD, "rating: Normal(mu + dot(segment_mean(mu_u, user)[user], V[item]), sigma)"),
        "spec.yaml:26:40: likelihood.rating: segment_mean() needs a row expression: index a parameter by a data dim",
        "    hint:     for example segment_mean(V[item], user)",
    ),
    C(
        "hurdle-as-prior",
        ("sigma: HalfNormal(1)", "sigma: HurdleGamma(0.5, 2, 2)"),
        "spec.yaml:24:10: params.sigma: sigma has a prior (HurdleGamma) with support 'a number >= 0', which has no map to the unconstrained space",
        "    hint:     HurdleGamma can be a likelihood, not a latent parameter",
    ),
    C(
        "noncentered-non-normal",
        (
            "prior: Normal(0, 0.5)\n    dims: [item, factor]",
            "prior: StudentT(3, 0, 0.5)\n    dims: [item, factor]\n    noncentered: true",
        ),
        "spec.yaml:24:18: params.V.noncentered: V cannot be non-centred: only a Normal(mu, sigma) prior can",
        "    expected: Normal(mu, sigma)",
        "    found:    StudentT",
        "    hint:     remove noncentered, or give a Normal prior",
    ),
    C(
        "noncentered-name-taken",
        (
            "    prior: Normal(mu_u, 0.5)\n    dims: [user, factor]",
            "    prior: Normal(mu_u, U_raw)\n    dims: [user, factor]\n    noncentered: true\n"
            "  U_raw: HalfNormal(1)",
        ),
        "spec.yaml:21:18: params.U.noncentered: non-centring U needs the name 'U_raw', which is already taken",
        "    hint:     rename U_raw",
    ),
    C(
        "covariate-of-fixed-dim",
        (
            "  split: {kind: random, test_fraction: 0.1, seed: 42}",
            "  split: {kind: random, test_fraction: 0.1, seed: 42}\n  covariates:\n"
            "    age: {of: factor}",
            LIKELIHOOD,
            "rating: Normal(mu + age[user] + dot(U[user], V[item]), sigma)",
        ),
        "spec.yaml:10:15: data.covariates.age.of: covariate 'age' must describe a data dim",
        "    expected: user, item",
        "    found:    'factor'",
    ),
    C(
        "covariate-not-indexed",
        (
            "  split: {kind: random, test_fraction: 0.1, seed: 42}",
            "  split: {kind: random, test_fraction: 0.1, seed: 42}\n  covariates:\n"
            "    age: {of: user}",
            LIKELIHOOD,
            "rating: Normal(mu + age + dot(U[user], V[item]), sigma)",
        ),
        "spec.yaml:28:23: likelihood.rating: covariate 'age' has data dim 'user'; index it",
        "    hint:     write age[user]",
    ),
    C(
        "covariate-missing-from-data",
        (
            "  split: {kind: random, test_fraction: 0.1, seed: 42}",
            "  split: {kind: random, test_fraction: 0.1, seed: 42}\n  covariates:\n"
            "    age: {of: user}",
            LIKELIHOOD,
            "rating: Normal(mu + age[user] + dot(U[user], V[item]), sigma)",
        ),
        "spec.yaml:10:5: data.covariates.age: the data has no covariate 'age' for 'user_id'",
        "    expected: (none: this source has no side data)",
        "    found:    'age'",
        data=tiny_ratings([3, 4, 5, 2, 1, 3]),
    ),
    # ---- mixture likelihoods --------------------------------------------------------------------
    C(
        "mixture-over-data-dim",
        ("  factor: 3", "  factor: 3\n  type: 2", LIKELIHOOD, MIXTURE % ("item", "1", "user")),
        "spec.yaml:29:21: likelihood.rating.mixture.over: the components of a mixture are a "
        "fixed-size dim, 'item' is a data dim",
        "    hint:     declare the number of components as a dim: type: 3",
    ),
    C(
        "mixture-weights-not-a-vector",
        ("  factor: 3", "  factor: 3\n  type: 2", LIKELIHOOD, MIXTURE % ("type", "sigma", "user")),
        "spec.yaml:29:36: likelihood.rating.mixture.weights: mixture weights must be a vector "
        "over the components",
        "    expected: dims (type) or (user, type)",
        "    found:    no dims",
    ),
    C(
        "mixture-per-fixed-dim",
        ("  factor: 3", "  factor: 3\n  type: 2", LIKELIHOOD, MIXTURE % ("type", "1", "factor")),
        "spec.yaml:29:44: likelihood.rating.mixture.per: per must be a data dim, found 'factor'",
        "    expected: user, item",
    ),
    C(
        "mixture-minibatch-per-user",
        (
            "  factor: 3",
            "  factor: 3\n  type: 2",
            LIKELIHOOD,
            MIXTURE % ("type", "1", "user"),
            "  method: nuts",
            "  method: vi\n  batch_size: 100",
        ),
        "spec.yaml:32:15: inference.batch_size: minibatches cannot split a mixture per 'user': "
        "each level's rows share one component and must be in the same likelihood term",
        "    hint:     remove batch_size (full-batch vi), or mix per row (no per)",
    ),
]


def run_case(case: Case) -> SpecError:
    """Load (and lower) the case's spec; return the SpecError it must raise."""
    with pytest.raises(SpecError) as info:
        loaded = parse_spec_text(case.text, FILE, list(case.overrides))
        lower(loaded, case.data)
    return info.value


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 30


def test_base_spec_is_valid():
    lower(parse_spec_text(BASE, FILE))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_spec(case: Case):
    err = run_case(case)
    assert err.exit_code == EXIT_BAD_INPUT
    got = "\n".join(p.format() for p in err.problems)
    assert got == "\n".join(case.expected)
    n = len(err.problems)
    assert str(err) == f"{got}\n{n} problem{'s' if n != 1 else ''} found"


def golden_text() -> str:
    """Every case's input and output, after ``BASE`` (the docs' error gallery shows it too)."""
    base = "".join(f"    | {line}".rstrip() + "\n" for line in BASE.splitlines())
    parts = [f"the quickstart spec (the text the cases below edit):\n{base}"]
    for case in CASES:
        parts.append(f"=== {case.id}\n{case.describe()}--- output\n{run_case(case)}\n")
    return "\n".join(parts)


def test_golden_file():
    text = golden_text()
    if os.environ.get("SPECREC_REGEN_GOLDEN"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    assert GOLDEN.exists(), "no golden file; run with SPECREC_REGEN_GOLDEN=1"
    assert GOLDEN.read_text(encoding="utf-8") == text, (
        "tests/spec/golden/errors.txt is stale; regenerate with "
        "SPECREC_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/spec and review the diff"
    )
