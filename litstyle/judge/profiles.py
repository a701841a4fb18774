"""The benchmark's profile task: the reward's own question, "is this chunk by author A?", asked of chunks
of books a scorer never saw, against author *profiles* built from the training books only.

For each leave-book-out fold (or the unseen-books split): the test chunks are chunks of the held-out books
(``judge_benchmark.profile_test_chunks`` per book), every training author's profile is a seeded sample of
``judge_benchmark.profile_chunks`` chunks of its books *outside* the fold.  Each scorer gives a (chunk,
author) score matrix: an embedding method the cosine of the chunk with the author's centroid (the mean of the
profile's unit embeddings, renormalised; for the stylometric families this is Cosine Delta, Evert et al.
2017, with the profile as the author's text), the verifier its calibrated P(author).  Reported, pooled over
the folds: own-profile AUC (the chunk's own author's score against every other author's, bootstrap 95 %
interval), N-way attribution among all profile authors and 4-way among ``run.authors`` (accuracy of the
top score, bootstrap 95 % interval over chunks).
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Callable

import numpy as np

from litstyle.judge.stats import auc, bootstrap_auc
from litstyle.style.stylometry import unit

Item = tuple[str, int, str]  # (author, book id, text)


def profile_sets(chunks: list[Item], train_books: set[int], held: set[int], profile_chunks: int,
                 test_chunks: int, seed: str) -> tuple[list[Item], dict[str, list[str]]]:
    """(test chunks of the ``held`` books, author -> profile texts from ``train_books - held``)."""
    rng = random.Random(f"{seed}:profiles")
    by_book: dict[int, list[Item]] = defaultdict(list)
    for c in chunks:
        by_book[c[1]].append(c)
    tests = [c for b in sorted(held & set(by_book)) for c in pick(rng, by_book[b], test_chunks)]
    pool: dict[str, list[str]] = defaultdict(list)
    for b in sorted((train_books - held) & set(by_book)):
        pool[by_book[b][0][0]] += [c[2] for c in by_book[b]]
    profiles = {a: pick(rng, texts, profile_chunks) for a, texts in sorted(pool.items())}
    return [c for c in tests if c[0] in profiles], profiles


def pick(rng: random.Random, items: list, k: int) -> list:
    return items if len(items) <= k else [items[i] for i in sorted(rng.sample(range(len(items)), k))]


def centroid_scores(embed: Callable[[list[str]], np.ndarray], tests: list[Item],
                    profiles: dict[str, list[str]]) -> np.ndarray:
    """(tests, authors) cosine of each test chunk with each author's centroid."""
    centres = unit(np.stack([embed(texts).mean(axis=0) for texts in profiles.values()]))
    return embed([c[2] for c in tests]) @ centres.T


def verifier_scores(verifier, tests: list[Item], profiles: dict[str, list[str]]) -> np.ndarray:
    """(tests, authors) the verifier's P(author); an author it has no profile of scores 0."""
    probs = verifier.probabilities([c[2] for c in tests])
    columns = [probs[:, verifier.authors.index(a)] if verifier.knows(a) else np.zeros(len(tests)) for a in profiles]
    return np.stack(columns, axis=1)


def _accuracy(hits: np.ndarray, seed: int, reps: int) -> dict:
    """Accuracy of the 0/1 ``hits`` with a bootstrap 95 % interval over chunks."""
    rng = np.random.default_rng(seed)
    boots = [hits[rng.integers(0, len(hits), len(hits))].mean() for _ in range(reps)]
    low, high = np.percentile(boots, [2.5, 97.5])
    return {"accuracy": float(hits.mean()), "low": float(low), "high": float(high), "chunks": int(len(hits))}


def profile_row(parts: list[tuple[np.ndarray, list[Item], list[str]]], targets: list[str], seed: int,
                reps: int) -> dict:
    """Own-profile AUC and N-way / 4-way attribution of one method, pooled over the folds' score matrices
    (each with its test chunks and its profile authors)."""
    own, other, per_author = [], [], defaultdict(list)
    n_way, four_way = [], []
    for scores, tests, authors in parts:
        index = {a: i for i, a in enumerate(authors)}
        truth = np.array([index[c[0]] for c in tests])
        mask = np.zeros(scores.shape, dtype=bool)
        mask[np.arange(len(tests)), truth] = True
        own.append(scores[mask])
        other.append(scores[~mask])
        for i, c in enumerate(tests):
            per_author[c[0]].append(float(scores[i].argmax() == truth[i]))
        n_way.append((scores.argmax(axis=1) == truth).astype(float))
        keep = [index[a] for a in targets if a in index]
        rows = np.flatnonzero(np.isin(truth, keep))
        if len(keep) >= 2 and len(rows):
            sub = scores[np.ix_(rows, keep)]
            four_way.append((np.asarray(keep)[sub.argmax(axis=1)] == truth[rows]).astype(float))
    s, c = np.concatenate(own), np.concatenate(other)
    low, high = bootstrap_auc(s, c, reps, seed)
    row = {"own_auc": auc(s, c), "own_auc_low": low, "own_auc_high": high, "authors": len(parts[0][2]),
           "n_way": _accuracy(np.concatenate(n_way), seed, reps),
           "per_author": {a: float(np.mean(v)) for a, v in sorted(per_author.items())}}
    if four_way:
        row["four_way"] = _accuracy(np.concatenate(four_way), seed, reps)
    return row
