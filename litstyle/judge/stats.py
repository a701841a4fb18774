"""Separation statistics of the judge benchmark: ROC AUC (Mann-Whitney), EER, bootstrap intervals."""

from __future__ import annotations

import numpy as np


def auc(same: np.ndarray, cross: np.ndarray) -> float:
    """ROC AUC = P(same-author cosine > different-author cosine), ties counting half (Mann-Whitney)."""
    from scipy.stats import rankdata

    ranks = rankdata(np.r_[same, cross])
    n1, n2 = len(same), len(cross)
    return float((ranks[:n1].sum() - n1 * (n1 + 1) / 2) / (n1 * n2))


def auc_eer(same: np.ndarray, cross: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(np.r_[np.ones(len(same)), np.zeros(len(cross))], np.r_[same, cross])
    fnr = 1 - tpr
    i = int(np.argmin(np.abs(fnr - fpr)))
    return auc(same, cross), float((fpr[i] + fnr[i]) / 2)


def bootstrap_auc(same: np.ndarray, cross: np.ndarray, reps: int, seed: int) -> tuple[float, float]:
    """95 % percentile interval of the AUC, resampling each class with replacement."""
    rng = np.random.default_rng(seed)
    values = [auc(same[rng.integers(0, len(same), len(same))], cross[rng.integers(0, len(cross), len(cross))])
              for _ in range(reps)]
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)
