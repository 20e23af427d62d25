"""Per-block Grams and weighted sums by batched products (``specrec.conjugacy.grams``),
against the sum over each block's rows written out."""

from __future__ import annotations

import numpy as np
import pytest

from specrec.conjugacy import grams


def _by_hand(x, w, v, blocks, g):
    d = x.shape[1]
    gram, sums = np.zeros((g, d, d)), np.zeros((g, d))
    for j, b in enumerate(blocks):
        gram[b] += w[j] * np.outer(x[j], x[j])
        sums[b] += v[j] * x[j]
    return gram, sums


@pytest.mark.parametrize(
    "counts",
    [[1, 2, 3, 4, 5, 64, 65, 1000], [0, 3, 0, 1], [7], [0, 0]],
    ids=["skewed", "empty blocks", "one block", "no rows"],
)
def test_block_grams_match_the_sum_over_rows(counts):
    rng = np.random.default_rng(len(counts))
    g = len(counts)
    blocks = rng.permutation(np.repeat(np.arange(g), counts))
    n, d = len(blocks), 3
    x, w, v = rng.normal(size=(n, d)), rng.uniform(0.5, 2, n), rng.normal(size=n)
    grouping = grams.layout(blocks, g)
    padded = sum(i.size for i in grouping[1:])
    assert padded <= 2 * n + g  # a block's rows are at most doubled by the padding
    gram, sums = grams.block_grams(np, x, w, v, grouping)
    want_gram, want_sums = _by_hand(x, w, v, blocks, g)
    np.testing.assert_allclose(gram, want_gram, atol=1e-10)
    np.testing.assert_allclose(sums, want_sums, atol=1e-10)
