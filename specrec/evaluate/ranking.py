"""Is the top of each list right?  precision@k, recall@k and NDCG@k on held-out ratings.

Protocol (stated so that numbers from different papers are not compared blindly): every level of
one data dim (a user) gets a list made of *its own test rows* (items it rated in the test set),
ordered by the posterior-mean prediction, highest first, and cut at ``k``.  A test rating at or
above ``threshold`` is relevant.  Only lists with at least two candidates and at least one
relevant one are scored (with one candidate there is nothing to rank; with no relevant one
recall and NDCG are undefined), and each metric is the mean over those lists:

- precision@k: relevant share of the list actually shown, i.e. divided by ``min(k, candidates)``
  (dividing by ``k`` would punish users who simply have few test ratings);
- recall@k: share of the user's relevant test items that made the list;
- NDCG@k: binary gains, ``1 / log2(rank + 1)`` discount, normalised by the ideal order.

This ranks only among rated items, so it measures ordering, not discovery of unrated items.
``precision_random`` and ``recall_random`` are what a random order scores in expectation on
the same lists: a model should beat them.
"""

from __future__ import annotations

import numpy as np

from specrec.evaluate.metrics import _check_pair


def ranking_metrics(
    groups: np.ndarray, y: np.ndarray, pred: np.ndarray, k: int = 10, threshold: float = 4.0
) -> dict[str, float | int | None]:
    """precision@k, recall@k, NDCG@k (and random-order expectations) over per-group lists.

    Args:
        groups: the level (e.g. user code) of each test row; one list per distinct value.
        y: observed test ratings; ``y >= threshold`` is relevant.
        pred: predicted score of each row (higher = ranked first); ties keep row order.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    y, pred = _check_pair(y, pred)
    groups = np.asarray(groups)
    if groups.shape != y.shape:
        raise ValueError(f"groups have shape {groups.shape}, ratings {y.shape}")
    relevant = y >= threshold
    # Sort once by group, then by descending prediction within the group (stable).
    order = np.lexsort((-pred, groups))
    g_sorted, rel_sorted = groups[order], relevant[order]
    starts = np.flatnonzero(np.r_[True, g_sorted[1:] != g_sorted[:-1]])
    ends = np.r_[starts[1:], len(order)]
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    prec, rec, ndcg, prec_rand, rec_rand = [], [], [], [], []
    for s, e in zip(starts, ends, strict=True):
        rel = rel_sorted[s:e]
        n, n_rel = e - s, int(rel.sum())
        if n < 2 or n_rel == 0:
            continue
        shown = min(k, n)
        hits = int(rel[:shown].sum())
        prec.append(hits / shown)
        rec.append(hits / n_rel)
        dcg = float(np.sum(discount[:shown] * rel[:shown]))
        ideal = float(np.sum(discount[: min(shown, n_rel)]))
        ndcg.append(dcg / ideal)
        prec_rand.append(n_rel / n)
        rec_rand.append(shown / n)

    def mean(xs: list[float]) -> float | None:
        return float(np.mean(xs)) if xs else None

    return {
        "k": int(k),
        "threshold": float(threshold),
        "n_lists": len(prec),
        "precision": mean(prec),
        "recall": mean(rec),
        "ndcg": mean(ndcg),
        "precision_random": mean(prec_rand),
        "recall_random": mean(rec_rand),
    }
