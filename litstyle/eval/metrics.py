"""Evaluation statistics: pure functions, no I/O (table-tested).

- ``attribute``: the nearest author centroid of an embedding (cosine).
- ``bootstrap_ci``: mean and percentile bootstrap 95 % CI of one sample.
- ``paired_diff_ci``: mean difference of two systems on the same items, with a paired bootstrap CI.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def centroids(embeddings: np.ndarray, labels: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Unit-norm mean embedding per label (labels sorted)."""
    names = sorted(set(labels))
    labels_arr = np.asarray(labels)
    rows = []
    for name in names:
        mean = embeddings[labels_arr == name].mean(axis=0)
        rows.append(mean / max(np.linalg.norm(mean), 1e-12))
    return names, np.stack(rows)


def attribute(embeddings: np.ndarray, names: Sequence[str], centres: np.ndarray) -> list[str]:
    """The author whose centroid is nearest (highest cosine) to each unit-norm embedding."""
    return [names[i] for i in np.argmax(embeddings @ centres.T, axis=1)]


def bootstrap_ci(values: Sequence[float], *, n_boot: int = 2000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high); NaN-free input expected; a single value gives a zero-width interval."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return (float("nan"),) * 3
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(n_boot, data.size))].mean(axis=1)
    alpha = (1 - level) / 2
    return float(data.mean()), float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def paired_diff_ci(a: Sequence[float], b: Sequence[float], **kwargs) -> tuple[float, float, float]:
    """Mean of a - b over paired items with its bootstrap CI (items resampled together)."""
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} vs {len(b)}")
    return bootstrap_ci(np.asarray(a, dtype=float) - np.asarray(b, dtype=float), **kwargs)
