"""``inference.init: svd`` (``specrec.conjugacy.spectral``): on a simulated low-rank PMF the
spectral start is ahead of the uniform one after the same few cavi sweeps (ELBO and test RMSE,
by margins a start that was ignored would miss), the factors are found in the IR whatever
their names, a model without a factor product is refused at ``inference.init`` with what was
expected and found, and the same seed gives the same start.  Core only: no PPL imported."""

from __future__ import annotations

import numpy as np
import pytest

from specrec import driver
from specrec.conjugacy import cavi, spectral
from specrec.data.source import load_data
from specrec.errors import SpecError
from specrec.model.ir import Model
from specrec.model.lower import lower
from specrec.model.lowering.state import row_data
from specrec.spec.load import parse_spec_text
from specrec.spec.models import Inference

from .models import DIMS, HEAD, ITEM, TEXTS, USER

#: rank 3, strong signal, half the cells observed: a uniform start is still near U = V = 0
#: after two sweeps, the spectral one near the truth
PMF = """\
params:
  mu: Normal(3, 1)
  {u}: {{prior: "Normal(0, 0.6)", dims: [user, factor]}}
  {v}: {{prior: "Normal(0, 0.6)", dims: [item, factor]}}
  sigma: HalfNormal(1)
likelihood:
  rating: Normal(mu + dot({u}[user], {v}[item]), sigma)
"""


def _pmf(u: str = "U", v: str = "V", init: str = "svd") -> tuple[Model, Model]:
    """The model on its training rows, and on its test rows."""
    head = HEAD.format(
        name="pmf", dims=USER + ITEM + "  factor: 3\n", sizes="user: 80, item: 60",
        rows="density: 0.5, true: {sigma: 0.3}, ",
    )  # fmt: skip
    loaded = parse_spec_text(
        head + PMF.format(u=u, v=v), "<pmf>", ["inference.method=cavi", f"inference.init={init}"]
    )
    ds, split = load_data(loaded)
    model = lower(loaded, ds.take(split.train))
    test = row_data(ds.take(split.test), model.dims, list(model.data.columns))
    return model, model.with_data(test)


def _after(model: Model, test: Model, init: str, sweeps: int) -> tuple[float, float]:
    """(ELBO, test RMSE at the factors' means) after ``sweeps`` sweeps from ``init``."""
    start = driver.start_values(model, Inference(method="cavi", init=init), 0)
    out = cavi.run(model, start, sweeps + 1, 1e-14)
    mean = spectral._mean(test, out.state.values)
    return float(out.elbo[-1]), float(np.sqrt(np.mean((mean - test.data.y) ** 2)))


def test_the_svd_start_is_ahead_of_the_uniform_one_after_the_same_sweeps() -> None:
    model, test = _pmf()
    elbo_u, rmse_u = _after(model, test, "uniform", 2)
    elbo_s, rmse_s = _after(model, test, "svd", 2)
    # the spectral start is already near the noise level (sigma 0.3); uniform is not
    assert rmse_s < 0.45 < rmse_u - 0.1, (rmse_s, rmse_u)
    assert elbo_s > elbo_u + 100, (elbo_s, elbo_u)


def test_the_factors_are_found_by_structure_not_by_name() -> None:
    model, _ = _pmf(u="items_side", v="alpha")
    pair, found = spectral.factor_pair(model)
    assert pair is not None, found
    assert (pair.row, pair.col, pair.row_dim, pair.col_dim) == (
        "items_side",
        "alpha",
        "user",
        "item",
    )
    np.testing.assert_allclose(pair.a, np.eye(3), atol=1e-12)


def test_the_same_seed_gives_the_same_start() -> None:
    model, _ = _pmf()
    a, b, c = (
        driver.start_values(model, Inference(method="cavi", init="svd"), s) for s in (4, 4, 5)
    )
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert not np.array_equal(a["U"], c["U"])
    # the factors carry the signal: their product is on the ratings' scale, not 0.1^2
    assert np.abs(a["U"] @ a["V"].T).mean() > 0.2


@pytest.mark.parametrize("case", ["inverse_gamma", "gamma_poisson"])
def test_a_model_without_a_factor_product_is_refused_at_inference_init(case: str) -> None:
    head = HEAD.format(name=case, dims=DIMS[case], sizes="user: 5", rows="rows: 20, ")
    loaded = parse_spec_text(head + TEXTS[case] + "inference: {method: cavi, init: svd}\n", "<m>")
    with pytest.raises(SpecError) as e:
        lower(loaded, None)  # no data: the placeholder rows are enough to decide
    text = str(e.value)
    assert "<m>:" in text and "inference.init: init: svd starts the factor matrices" in text
    assert "expected: a likelihood mean with dot(U[user], V[item])" in text
    found = {"inverse_gamma": "its mean reads b: fewer than two", "gamma_poisson": "a Poisson"}
    assert f"found:    {found[case]}" in text, text


def test_init_svd_is_for_the_conjugacy_methods() -> None:
    with pytest.raises(SpecError, match="init: svd starts gibbs or em or cavi at an SVD"):
        _pmf_text_with(["inference.method=vi"])


def _pmf_text_with(sets: list[str]) -> None:
    head = HEAD.format(
        name="pmf", dims=USER + ITEM + "  factor: 3\n", sizes="user: 5, item: 4", rows=""
    )
    parse_spec_text(head + PMF.format(u="U", v="V"), "<pmf>", ["inference.init=svd", *sets])
