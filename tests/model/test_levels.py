"""New levels of a data dim (unknown users): constants of the old levels kept, new ones from the
one lowering, new parameters drawn from the population level (numpy reference only)."""

from __future__ import annotations

import numpy as np

from specrec.data.dataset import Dataset
from specrec.model.ir import Const
from specrec.model.levels import with_new_levels
from specrec.model.lower import lower
from specrec.model.reference import sample_new_levels
from specrec.spec.load import parse_spec_text

SPEC = """
specrec: 1
name: levels
data: {source: file, path: x.csv}
dims:
  user: {column: user_id}
  item: {column: item_id}
let:
  sd_u: sqrt(mean(dense_var_by(rating, user)))
params:
  m: Normal(0, 1)
  b_u: {prior: "Normal(mean_by(rating, user) + m, sd_u)", dims: [user]}
  b_i: {prior: "Normal(0, 1)", dims: [item]}
likelihood:
  rating: Normal(b_u[user] + b_i[item], 1)
"""


def _train() -> Dataset:
    return Dataset(
        "rating",
        np.array([1.0, 3.0, 5.0, 4.0]),
        {"user_id": np.array([0, 0, 1, 1]), "item_id": np.array([0, 1, 0, 2])},
        {"user_id": np.array([10, 20]), "item_id": np.array([7, 8, 9])},
    )


def test_new_user_gets_the_empty_level_statistic_and_old_constants_stay() -> None:
    loaded = parse_spec_text(SPEC)
    train = _train()
    model = lower(loaded, train)
    grown = with_new_levels(loaded, train, model, {"user": np.array(["new"])})
    assert grown.dims["user"].size == 3 and grown.dims["user"].coords[-1] == "new"
    b_u = grown.latent("b_u")
    consts = [a for a in _consts(b_u.args["mu"]) if a.dims == ("user",)]
    (mean_by,) = consts
    # users 10 and 20 keep their means (2 and 4.5); the new one gets the overall mean (3.25)
    np.testing.assert_allclose(mean_by.value, [2.0, 4.5, 3.25])
    # the scalar sd_u keeps the fitted value, although a third user would change the mean
    np.testing.assert_allclose(b_u.args["sigma"].value, model.latent("b_u").args["sigma"].value)


def test_new_levels_are_drawn_from_the_prior_given_the_draw() -> None:
    loaded = parse_spec_text(SPEC)
    train = _train()
    model = lower(loaded, train)
    grown = with_new_levels(loaded, train, model, {"user": np.array(["new"])})
    draw = {"m": np.array(10.0), "b_u": np.array([-1.0, 1.0]), "b_i": np.zeros(3)}
    rng = np.random.default_rng(0)
    news = [sample_new_levels(grown, draw, {"user": 2}, rng)["b_u"] for _ in range(2000)]
    values = np.array(news)
    assert (values[:, :2] == [-1.0, 1.0]).all()  # fitted levels untouched
    sd_u = float(model.latent("b_u").args["sigma"].value)
    assert abs(values[:, 2].mean() - (3.25 + 10.0)) < 4 * sd_u / np.sqrt(2000)
    assert abs(values[:, 2].std() - sd_u) < 0.1 * sd_u


def _consts(e) -> list[Const]:
    if isinstance(e, Const):
        return [e]
    out = []
    for v in vars(e).values():
        if isinstance(v, tuple):
            for x in v:
                if hasattr(x, "dims"):
                    out += _consts(x)
        elif hasattr(v, "dims"):
            out += _consts(v)
    return out
