"""The scaled style score: a judge cosine mapped onto 0-1 by where same-author and cross-author pairs fall.

``calibrate`` summarises the judge benchmark's cosines of same-author and cross-author pairs (medians and
quartiles); ``anchors`` picks the two cosines that become 0 and 1:

- ``quartiles`` (the paper): 0 at the 25th percentile of cross-author cosines, 1 at the 75th percentile of
  same-author cosines (the released judge: 0.0597 and 0.8192);
- ``medians``: 0 at the median cross-author cosine, 1 at the median same-author cosine (a narrower band:
  more stories end at 0 or 1);
- ``fixed``: two numbers given in the recipe (e.g. the released judge's constants).

``scaled_style`` is ``clip((cos - low) / (high - low), 0, 1)``.
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np

Scale = Literal["quartiles", "medians", "fixed"]
KEYS = {"quartiles": ("cross_q1", "same_q3"), "medians": ("cross_median", "same_median")}


def calibrate(same: Sequence[float], cross: Sequence[float]) -> dict[str, float]:
    """Medians and quartiles of the same-author and cross-author cosines."""
    s, c = np.asarray(same, dtype=float), np.asarray(cross, dtype=float)
    return {"same_median": float(np.median(s)), "cross_median": float(np.median(c)),
            "same_q1": float(np.quantile(s, 0.25)), "same_q3": float(np.quantile(s, 0.75)),
            "cross_q1": float(np.quantile(c, 0.25)), "cross_q3": float(np.quantile(c, 0.75))}


def anchors(calibration: dict[str, float], scale: Scale, fixed: Sequence[float] | None = None) -> tuple[float, float]:
    """The cosines that scale to 0 and to 1."""
    if scale == "fixed":
        if fixed is None or len(fixed) != 2:
            raise ValueError("scale fixed needs two numbers [low, high]")
        return float(fixed[0]), float(fixed[1])
    low, high = KEYS[scale]
    if low not in calibration or high not in calibration:
        raise KeyError(f"the calibration has no {low} / {high} (written by an older judge_benchmark): rerun it "
                       "with --force --only judge_benchmark")
    return calibration[low], calibration[high]


def scaled_style(cos: float, low: float, high: float) -> float:
    """0 at ``low``, 1 at ``high``, linear between, clipped to [0, 1]."""
    if high <= low:
        raise ValueError(f"calibration maps 1 to {high} <= {low} mapped to 0: the judge does not separate authors")
    return float(np.clip((cos - low) / (high - low), 0.0, 1.0))
