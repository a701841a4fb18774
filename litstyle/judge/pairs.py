"""Authorship pairs for the style judge: (sentence1, sentence2, score in [0, 1]).

- Extreme pairs: same author, different books -> 1.0; different authors -> 0.0.
- Graded pairs: the longest sentences of a chunk are masked at ratio r and rewritten by the
  rewriter LLM; for two rewritten chunks with ratios r1, r2:
  ``integrity = sqrt((1 - r1^2)(1 - r2^2))``, ``n = (max(integrity, 0.19) - 0.19) / 0.81``,
  same author ``0.5 + 0.5 n``, different authors ``0.5 (1 - n)``, rounded to 0.1 and clipped to
  [0.1, 0.9]; 0.5 is never used: same-author pairs live in the zone 0.6..0.9 and
  different-author pairs in 0.1..0.4.
- Splits (``judge_pairs.split``): ``author_disjoint`` (the paper): train / validation / test authors
  never overlap, and every split gets an author with two or more books, so that it has same-author
  pairs.  ``book_disjoint``: the same author split, and every training author with two or more books
  also gives one of its books to a fourth split, ``test_books``, so that the trained authors are
  tested on a book the judge never saw (its pairs hold one chunk of the unseen book and one of
  another book).  Training authors left with one book give same-author pairs from that book.
  ``all_books``: the author split, the run's authors pinned to train, and every book of the training
  authors trained on, so that every same-author training pair crosses books (one-book authors give
  different-author pairs only); unseen books are measured by leave-book-out folds (``fold_books``:
  fold k holds out one book of every k-th training author with 2+ books; the judge stage trains a
  judge per fold without them).
  Everything is drawn from ``random.Random`` seeded by the recipe: the same config (and the same
  rewrites) gives a byte-identical dataset.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Sequence

from litstyle.corpus.chunk import split_sentences
from litstyle.style.pairs import PairSampler

SPLITS = ("train", "validation", "test")
SPLIT_MODES = ("author_disjoint", "book_disjoint", "all_books")
BOOK_SPLIT = "test_books"
FOLDS_DIR = "folds"  # <run_dir>/judge/folds/<k>/model: the judge of leave-book-out fold k
FUSION_SPLIT = "fusion"  # validation-author pairs at judge_pairs.fusion_words: what the fused weights are fitted on


def split_names(mode: str) -> tuple[str, ...]:
    return SPLITS + ((BOOK_SPLIT,) if mode == "book_disjoint" else ())
SAME_ZONE = (0.6, 0.7, 0.8, 0.9)
DIFF_ZONE = (0.1, 0.2, 0.3, 0.4)


def integrity(r1: float, r2: float) -> float:
    return math.sqrt((1 - r1 ** 2) * (1 - r2 ** 2))


def graded_score(r1: float, r2: float, same_author: bool) -> float:
    n = (max(integrity(r1, r2), 0.19) - 0.19) / 0.81
    raw = 0.5 + 0.5 * n if same_author else 0.5 * (1 - n)
    score = min(max(math.floor(raw * 10 + 0.5) / 10, 0.1), 0.9)
    if score == 0.5:  # never 0.5: keep each pair in its zone
        score = 0.6 if same_author else 0.4
    return score


@dataclass(frozen=True)
class Chunk:
    uid: str  # "<book_id>:<chunk_idx>"
    author: str
    book_id: int
    text: str


@dataclass(frozen=True)
class Rewrite:
    chunk: Chunk
    ratio: float
    text: str


def split_authors(chunks_by_author: dict[str, list[Chunk]], ratios: Sequence[float], seed: int,
                  pinned: Sequence[str] = ()) -> dict[str, str]:
    """Author -> split, disjoint.  ``pinned`` authors go to train; then each split gets an author with
    2+ books and one more author (when there are enough), and the rest go by chunk count towards
    ``ratios``."""
    rng = random.Random(f"{seed}:split")
    assignment: dict[str, str] = {}
    load = dict.fromkeys(SPLITS, 0)
    total = sum(len(cs) for cs in chunks_by_author.values())

    def place(author: str, split: str) -> None:
        assignment[author] = split
        load[split] += len(chunks_by_author[author])

    for author in sorted(set(pinned) & set(chunks_by_author)):
        place(author, "train")
    multi = sorted(a for a, cs in chunks_by_author.items() if len({c.book_id for c in cs}) >= 2 and a not in assignment)
    single = sorted(a for a in chunks_by_author if a not in multi and a not in assignment)
    rng.shuffle(multi)
    rng.shuffle(single)
    open_splits = [s for s in SPLITS if not load[s]]
    for split, author in zip(open_splits, multi):  # one multi-book author per split first
        place(author, split)
    rest = single + multi[len(open_splits):]
    for split, author in zip(open_splits, rest):  # then a second author each, for different-author pairs
        place(author, split)
    for author in rest[len(open_splits):]:
        # the split furthest below its share of chunks
        split = min(SPLITS, key=lambda s: (load[s] / total - ratios[SPLITS.index(s)], SPLITS.index(s)))
        place(author, split)
    return assignment


def split_books(chunks_by_author: dict[str, list[Chunk]], ratios: Sequence[float], seed: int,
                mode: str, targets: Sequence[str] = ()) -> dict[int, str]:
    """Book id -> split: authors split by ``split_authors``; in ``book_disjoint`` mode the ``targets``
    (the run's authors) are training authors, and each training author with 2+ books gives one of
    them (seeded pick) to ``test_books``."""
    if mode not in SPLIT_MODES:
        raise ValueError(f"unknown split mode {mode!r}: one of {', '.join(SPLIT_MODES)}")
    by_author = split_authors(chunks_by_author, ratios, seed, pinned=targets if mode != "author_disjoint" else ())
    rng = random.Random(f"{seed}:books")
    books: dict[int, str] = {}
    for author in sorted(chunks_by_author):
        ids = sorted({c.book_id for c in chunks_by_author[author]})
        held = rng.choice(ids) if mode == "book_disjoint" and by_author[author] == "train" and len(ids) >= 2 else None
        books.update({b: BOOK_SPLIT if b == held else by_author[author] for b in ids})
    return books


def fold_books(chunks_by_author: dict[str, list[Chunk]], book_split: dict[int, str], folds: int,
               seed: int) -> list[list[int]]:
    """Leave-book-out folds: the training authors with 2+ books, shuffled (seeded) and dealt round-robin
    into ``folds`` groups; fold k holds out one (seeded) book of each author of group k."""
    rng = random.Random(f"{seed}:folds")
    multi = []
    for author in sorted(chunks_by_author):
        ids = sorted({c.book_id for c in chunks_by_author[author] if book_split[c.book_id] == "train"})
        if len(ids) >= 2:
            multi.append(ids)
    if len(multi) < folds:
        raise ValueError(f"{folds} folds need {folds} training authors with 2+ books; there are {len(multi)}")
    rng.shuffle(multi)
    out: list[list[int]] = [[] for _ in range(folds)]
    for i, ids in enumerate(multi):
        out[i % folds].append(rng.choice(ids))
    return [sorted(books) for books in out]


FOLD_SPLIT_PREFIX = "train_fold"


def fold_split(k: int) -> str:
    """The training pairs of leave-book-out fold ``k`` (none touching its books, as many as ``train``)."""
    return f"{FOLD_SPLIT_PREFIX}{k}"


def mask_longest(text: str, ratio: float) -> tuple[list[str], list[int]]:
    """Sentences of ``text`` and the indexes of the longest ones covering >= ``ratio`` of its words."""
    sentences = split_sentences(" ".join(text.split()))
    total = sum(len(s.split()) for s in sentences)
    order = sorted(range(len(sentences)), key=lambda i: (-len(sentences[i].split()), i))
    masked, covered = [], 0
    for i in order:
        if masked and covered >= ratio * total:
            break
        masked.append(i)
        covered += len(sentences[i].split())
    return sentences, sorted(masked)


GAP = "[MISSING]"
OTHER_GAP = "[...]"


def gap_prompts(sentences: list[str], masked: list[int]) -> list[list[dict[str, str]]]:
    """One chat request per masked sentence: the passage with that gap marked."""
    requests = []
    for i in masked:
        shown = [GAP if j == i else OTHER_GAP if j in masked else s for j, s in enumerate(sentences)]
        words = len(sentences[i].split())
        requests.append([
            {"role": "system", "content": "You restore missing sentences in passages of classic fiction."},
            {"role": "user", "content": (
                "Passage:\n" + " ".join(shown) + f"\n\nWrite the one sentence, about {words} words long, "
                f"that belongs where {GAP} stands. Use your own words. Reply with that sentence only.")},
        ])
    return requests


def fill_gaps(sentences: list[str], masked: list[int], answers: Sequence[str | None]) -> str | None:
    """The passage with each masked sentence replaced by its rewrite; None if any rewrite failed."""
    out = list(sentences)
    for i, answer in zip(masked, answers):
        line = _first_sentence_line(answer or "")
        if not line:
            return None
        out[i] = line
    return " ".join(out)


def _first_sentence_line(answer: str) -> str:
    """The first line that reads as a sentence: no preamble ("Here is the sentence:"), no quotes."""
    for line in answer.splitlines():
        line = " ".join(line.split()).strip("\"'")
        if line and not line.endswith(":"):
            return line
    return ""


def extreme_pairs(chunks: list[Chunk], n: int, rng: random.Random, *, anchor: Callable | None = None,
                  same_book: bool = False) -> list[dict]:
    """``n`` pairs, half same-author/different-book (1.0), half different-author (0.0), no repeats
    (``anchor`` and ``same_book`` as in ``PairSampler``)."""
    sampler = PairSampler(chunks, lambda c: c.author, lambda c: c.book_id, anchor=anchor, same_book=same_book)
    rows, seen = [], set()
    for want_same in [True] * (n - n // 2) + [False] * (n // 2):
        for _ in range(50):  # a few draws to avoid a repeat; small pools simply yield fewer pairs
            pair = sampler.same(rng) if want_same else sampler.cross(rng)
            if pair is None:
                break
            key = tuple(sorted((pair[0].uid, pair[1].uid)))
            if key not in seen:
                seen.add(key)
                rows.append(_row(pair[0].text, pair[1].text, 1.0 if want_same else 0.0, "extreme",
                                 pair[0], pair[1], None, None))
                break
    return rows


def graded_pairs(rewrites: list[Rewrite], n: int, rng: random.Random) -> list[dict]:
    """``n`` graded pairs spread evenly over the bins of both zones (as far as the pool allows)."""
    by_bin: dict[float, list[tuple[Rewrite, Rewrite]]] = defaultdict(list)
    for i, a in enumerate(rewrites):
        for b in rewrites[i + 1:]:
            if a.chunk.uid == b.chunk.uid:
                continue
            same = a.chunk.author == b.chunk.author
            if same and a.chunk.book_id == b.chunk.book_id:
                continue  # same book: topic, not style
            by_bin[graded_score(a.ratio, b.ratio, same)].append((a, b))
    bins = [b for b in SAME_ZONE + DIFF_ZONE if by_bin.get(b)]
    rows: list[dict] = []
    for candidates in by_bin.values():
        rng.shuffle(candidates)
    cursor = dict.fromkeys(bins, 0)
    while len(rows) < n and bins:
        for score in list(bins):
            if len(rows) >= n:
                break
            if cursor[score] >= len(by_bin[score]):
                bins.remove(score)
                continue
            a, b = by_bin[score][cursor[score]]
            cursor[score] += 1
            rows.append(_row(a.text, b.text, score, "graded", a.chunk, b.chunk, a.ratio, b.ratio))
    return rows


def _row(text1: str, text2: str, score: float, kind: str, c1: Chunk, c2: Chunk,
         r1: float | None, r2: float | None) -> dict:
    return {"sentence1": text1, "sentence2": text2, "score": score, "kind": kind,
            "author1": c1.author, "author2": c2.author, "book1": c1.book_id, "book2": c2.book_id,
            "mask1": r1, "mask2": r2}
