"""Which teacher stories become SFT rows: pure rules, no I/O (table-tested).

A story is dropped, with the first reason that applies, when it
- ``failed``: the teacher call failed (no text);
- ``no_end_line``: its last non-empty line is not exactly ``THE END.``;
- ``names_author_or_title``: it names the author or the target book;
- ``too_short``: it has fewer than ``min_words`` words;
- ``duplicate``: it repeats an earlier story exactly, or is a near copy (word 5-gram Jaccard at or
  above the threshold) of an earlier sample of the same prompt;
- ``low_style``: its style-judge score is below ``min_style`` (or, with ``keep_top``, it is not in
  the best share of its author).
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

from litstyle.llm.judge import names_author_or_title
from litstyle.text import count_words, ends_properly, jaccard, ngrams, words

REASONS = ("failed", "no_end_line", "names_author_or_title", "too_short", "duplicate", "low_style")


@dataclass
class Candidate:
    author: str
    title: str
    plot: str
    sample: int  # index of the sample for this (author, plot)
    text: str | None
    style: float | None = None
    reason: str | None = None  # why it was dropped; None = kept

    @property
    def words(self) -> int:
        return count_words(self.text or "")


def rule_reason(c: Candidate, min_words: int) -> str | None:
    if c.text is None:
        return "failed"
    if not ends_properly(c.text):
        return "no_end_line"
    if names_author_or_title(c.text, c.author, c.title):
        return "names_author_or_title"
    if count_words(c.text) < min_words:
        return "too_short"
    return None


def mark_duplicates(candidates: Sequence[Candidate], threshold: float, n: int = 5) -> None:
    """Mark exact repeats (anywhere) and near copies among the samples of one prompt; the first one stays."""
    seen_exact: set[str] = set()
    groups: dict[tuple[str, str], list[set]] = defaultdict(list)
    for c in candidates:
        if c.reason is not None or c.text is None:
            continue
        digest = hashlib.sha256(" ".join(words(c.text.lower())).encode()).hexdigest()
        shingles = ngrams([w.lower() for w in words(c.text)], n)
        earlier = groups[(c.author, c.plot)]
        if digest in seen_exact or any(jaccard(shingles, other) >= threshold for other in earlier):
            c.reason = "duplicate"
            continue
        seen_exact.add(digest)
        earlier.append(shingles)


def mark_style(candidates: Sequence[Candidate], min_style: float, keep_top: float | None) -> None:
    """Drop stories by style score: below ``min_style``, or outside the best ``keep_top`` share per author."""
    alive = [c for c in candidates if c.reason is None]
    if keep_top is None:
        for c in alive:
            if c.style is None or c.style < min_style:
                c.reason = "low_style"
        return
    by_author: dict[str, list[Candidate]] = defaultdict(list)
    for c in alive:
        by_author[c.author].append(c)
    for group in by_author.values():
        ranked = sorted(group, key=lambda c: (-(c.style if c.style is not None else -math.inf), c.plot, c.sample))
        keep = math.ceil(len(ranked) * keep_top)
        for c in ranked[keep:]:
            c.reason = "low_style"


def counts(candidates: Sequence[Candidate]) -> dict[str, int]:
    out = {"generated": len(candidates), "kept": sum(1 for c in candidates if c.reason is None)}
    for reason in REASONS:
        out[f"dropped_{reason}"] = sum(1 for c in candidates if c.reason == reason)
    return out
