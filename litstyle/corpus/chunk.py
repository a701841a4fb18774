"""Sentence-aware chunking: split paragraphs into sentences, pack them greedily to a word target.

No model is needed: a rule-based splitter handles abbreviations (Mr., Mrs., Dr., St., ...),
initials, dialogue (``"Stop!" he cried.`` stays one sentence) and ellipses.  Every chunk has
``target * (1 - tol) <= words <= target * (1 + tol)``; a sentence is cut (at a clause boundary
when there is one) only when no whole sentence fits the window; a too-short tail is dropped.
Words are whitespace tokens, and chunking never loses, reorders or repeats one.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

ABBREVIATIONS = frozenset("""
mr mrs ms messrs mme mlle dr st jr sr col capt gen lt sgt rev prof hon gov esq sq mt ft no nos vol vols
ch chap vs etc viz cf ibid op fig p pp e.g i.e a.m p.m b.c a.d ult inst prox jan feb mar apr aug sept sep
oct nov dec
""".split())
_CANDIDATE = re.compile(r"""[.!?]+['")\]]*(?=\s)""")
_CLAUSE_END = re.compile(r"[,;:]['\")]*$|--$")


def split_sentences(paragraph: str) -> list[str]:
    """Sentences of one paragraph; joining them with single spaces gives the paragraph back."""
    out: list[str] = []
    start = 0
    for match in _CANDIDATE.finditer(paragraph):
        rest = paragraph[match.end():].lstrip()
        if not rest or not (rest[0].isupper() or rest[0].isdigit() or rest[0] in "\"'(["):
            continue  # "Stop!" he cried. / ... and then
        mark = match.group()
        if mark[0] == "." and not mark.startswith(".."):
            word = paragraph[start:match.start()].rsplit(None, 1)[-1] if paragraph[start:match.start()].strip() else ""
            word = word.lstrip("\"'([")
            if word.lower() in ABBREVIATIONS or (len(word) == 1 and word.isupper() and word not in "IA"):
                continue  # Mr. Darcy / E. W. Kemble (but "said I. Then")
        out.append(paragraph[start:match.end()].strip())
        start = match.end()
    tail = paragraph[start:].strip()
    if tail:
        out.append(tail)
    return out


@dataclass(frozen=True)
class Unit:
    text: str
    words: int
    new_paragraph: bool


def sentence_units(text: str) -> list[Unit]:
    """Sentences of a cleaned text (paragraphs separated by blank lines)."""
    units = []
    for paragraph in text.split("\n\n"):
        for i, sentence in enumerate(split_sentences(" ".join(paragraph.split()))):
            units.append(Unit(sentence, len(sentence.split()), i == 0))
    return units


def word_window(target: int, tolerance: float) -> tuple[int, int]:
    return math.ceil(target * (1 - tolerance)), math.floor(target * (1 + tolerance))


def _cut(unit: Unit, need: int, low: int, high: int) -> tuple[Unit, Unit]:
    """Split ``unit`` after about ``need`` words (between ``low`` and ``high``), at a clause end if any."""
    words = unit.text.split()
    best = None
    for k in range(min(high, len(words) - 1), max(low, 1) - 1, -1):
        if _CLAUSE_END.search(words[k - 1]) and (best is None or abs(k - need) < abs(best - need)):
            best = k
    k = best if best is not None else max(1, min(need, len(words) - 1))
    return (Unit(" ".join(words[:k]), k, unit.new_paragraph),
            Unit(" ".join(words[k:]), len(words) - k, False))


def _render(units: list[Unit]) -> str:
    text = ""
    for unit in units:
        text += ("\n\n" if unit.new_paragraph else " ") + unit.text if text else unit.text
    return text


def pack(units: list[Unit], target: int, tolerance: float = 0.15) -> tuple[list[str], int]:
    """Greedy packing of sentences into chunks of ``target`` words (+-tolerance).

    Returns (chunk texts, words dropped in the too-short tail)."""
    low, high = word_window(target, tolerance)  # low <= target <= high for any target >= 1
    chunks: list[str] = []
    current: list[Unit] = []
    count = 0
    queue = list(reversed(units))
    while queue:
        unit = queue.pop()
        if count + unit.words <= high:
            current.append(unit)
            count += unit.words
            if count >= target:
                chunks.append(_render(current))
                current, count = [], 0
        elif count >= low:
            chunks.append(_render(current))
            current, count = [], 0
            queue.append(unit)
        else:  # no whole sentence fits: cut this one to fill the chunk
            head, rest = _cut(unit, target - count, low - count, high - count)
            chunks.append(_render(current + [head]))
            current, count = [], 0
            queue.append(rest)
    if count >= low:
        chunks.append(_render(current))
        count = 0
    return chunks, count
