"""The cross-book authorship verifier: does this text read like author A, judged on books it never saw?

Two supervised scorers over the same stylometric profile of a text (the z-scored relative frequencies of
:mod:`litstyle.style.stylometry`: character 2-4-grams, function words, function-word n-grams, punctuation,
each unit length and weighted equally), read through a topic-masked view (``keep_words`` most frequent
words used by at least half of the training authors kept, every other word ``*``: character and place
names never reach the features):

- **author profiles** (what the style reward asks: "is this story by A?"): a linear one-vs-rest model
  (``LinearSVC``) over the profile features, one weight vector per training author, trained on chunks of
  the training books; its margin for A is mapped to a probability P(A wrote it) by one sigmoid (Platt)
  fitted on *cross-book* margins: a model trained on half of every author's books scores chunks of the
  other half, so the probability is that of an unseen book, not of the training chunks (with no author
  of 2+ training books, e.g. ``book_disjoint``, each book's two halves stand in for books, and a warning
  says so).
- **pairs** ("are these two texts by one author?", for authors it never saw): a logistic regression over
  the per-family cosines of the two texts, fitted on cross-book same-author pairs against different-author
  pairs of the training books.

A linear model rewards *more* of whatever marks an author, so a caricature (another author's passage with A's
marker words spliced in every few words) could out-score A's own prose.  The author profiles are therefore
trained with hard negatives (``harden``): for every author A, chunks of other authors with A's most
over-used (or most frequent) function words spliced in after every 3rd to 20th word, labelled with
their true author; the model learns that A's markers out of A's contexts are not A.

Texts of fewer than ``min_words`` words score 0 (the floor): too short to carry a style.  Saved next to the
judge model (``litstyle_verifier.json`` + ``.npz``; no pickle), read back by :func:`Verifier.load`.
"""

from __future__ import annotations

import json
import logging
import random
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from litstyle.style.pairs import PairSampler
from litstyle.style.stylometry import FEATURES, ZScoredFrequencies, unit
from litstyle.style.views import TextView

log = logging.getLogger(__name__)

VERIFIER_FILE, ARRAYS_FILE = "litstyle_verifier.json", "litstyle_verifier.npz"
DEFAULT_FAMILIES = {"char n-grams": 3000, "function words": 300, "function-word n-grams": 500, "punctuation": 40}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


class Verifier:
    def __init__(self, view: TextView, families: dict[str, ZScoredFrequencies], authors: list[str],
                 coef: np.ndarray, intercept: np.ndarray, platt: tuple[float, float], pair: np.ndarray,
                 min_words: int, meta: dict | None = None) -> None:
        self.view, self.families, self.authors = view, families, authors
        self.coef, self.intercept, self.platt, self.pair = coef, intercept, platt, pair
        self.min_words = min_words
        self.meta = meta or {}
        self._index = {a: i for i, a in enumerate(authors)}

    # --- features -------------------------------------------------------------------------------------

    def family_embeddings(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Unit-length z-scored frequencies of each family, texts in the verifier's view."""
        viewed = [self.view.apply(t) for t in texts]
        return {name: f.embed(viewed) for name, f in self.families.items()}

    def features(self, texts: Sequence[str]) -> np.ndarray:
        """The profile features: every family's embedding, concatenated (each family unit length)."""
        if not texts:
            return np.zeros((0, sum(len(f.vocab) for f in self.families.values())))
        return np.concatenate(list(self.family_embeddings(list(texts)).values()), axis=1)

    def _short(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([len(t.split()) < self.min_words for t in texts], dtype=bool)

    # --- author profiles --------------------------------------------------------------------------------

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """(texts, authors) calibrated P(the author wrote the text); 0 for texts below ``min_words``."""
        a, b = self.platt
        probs = _sigmoid(a * (self.features(texts) @ self.coef.T + self.intercept) + b)
        probs[self._short(texts)] = 0.0
        return probs

    def knows(self, author: str) -> bool:
        return author in self._index

    def score(self, texts: Sequence[str], authors: Sequence[str]) -> list[float]:
        """P(``authors[i]`` wrote ``texts[i]``), calibrated on unseen books."""
        if len(texts) != len(authors):
            raise ValueError(f"{len(texts)} texts but {len(authors)} authors")
        unknown = sorted({a for a in authors if a not in self._index})
        if unknown:
            raise KeyError(f"the verifier has no profile of {', '.join(map(repr, unknown))} (it knows "
                           f"{len(self.authors)} training authors; retrain the judge with them in the corpus)")
        if not texts:
            return []
        probs = self.probabilities(list(texts))
        return [float(probs[i, self._index[a]]) for i, a in enumerate(authors)]

    # --- pairs --------------------------------------------------------------------------------------------

    def pair_cosines(self, left: Sequence[str], right: Sequence[str]) -> np.ndarray:
        a, b = self.family_embeddings(list(left)), self.family_embeddings(list(right))
        return np.stack([np.sum(a[n] * b[n], axis=1) for n in self.families], axis=1)

    def pair_scores(self, left: Sequence[str], right: Sequence[str]) -> np.ndarray:
        """Calibrated P(same author) of each pair (logistic regression over the per-family cosines)."""
        if not left:
            return np.zeros(0)
        probs = _sigmoid(self.pair_cosines(left, right) @ self.pair[:-1] + self.pair[-1])
        probs[self._short(left) | self._short(right)] = 0.0
        return probs

    # --- training ----------------------------------------------------------------------------------------

    @classmethod
    def fit(cls, texts: Sequence[str], authors: Sequence[str], books: Sequence[int], *,
            families: dict[str, int] | None = None, keep_words: int = 2000, c: float = 0.5, pairs: int = 2000,
            reference_chunks: int = 2000, min_words: int = 50, harden: float = 1.0, seed: int = 0) -> Verifier:
        """Fit on training-book chunks (text, author, book).  ``keep_words`` 0: raw text, no masking;
        ``harden``: spliced hard negatives per author, as a share of its chunk count (0: none)."""
        from sklearn.svm import LinearSVC

        texts, authors, books = list(texts), [str(a) for a in authors], [int(b) for b in books]
        n_books = len(set(books))
        names = sorted(set(authors))
        if len(names) < 2:
            raise ValueError(f"the verifier needs chunks of 2+ authors, got {names}")
        view = TextView.fit("topic_masked", texts, authors, keep_words) if keep_words else TextView()
        viewed = [view.apply(t) for t in texts]
        rng = random.Random(f"{seed}:verifier")
        reference = rng.sample(viewed, min(len(viewed), reference_chunks))
        fams = {name: FEATURES[name](reference, n) for name, n in (families or DEFAULT_FAMILIES).items()}
        raw = {name: f.zscores(viewed) for name, f in fams.items()}
        emb = {name: unit(z) for name, z in raw.items()}  # = f.embed(viewed)
        x = np.concatenate(list(emb.values()), axis=1)
        y = np.array([names.index(a) for a in authors])
        if not _multi_book(y, books):  # e.g. book_disjoint: one training book each
            log.warning("verifier: no author with 2+ training books: the probability and the pair model are "
                        "calibrated on the two halves of each book (another part of a seen book, not an unseen book)")
            books = _book_halves(books)
        if harden and "function words" in fams:  # spliced negatives: B's text with A's marker words, still B's
            extra, extra_y, extra_books = _spliced(viewed, y, books, raw["function words"], fams["function words"],
                                                   harden, seed)
            if extra:
                x = np.r_[x, np.concatenate([unit(f.zscores(extra)) for f in fams.values()], axis=1)]
                y, books = np.r_[y, extra_y], list(books) + extra_books

        def svm(rows: np.ndarray) -> LinearSVC:
            return LinearSVC(C=c, random_state=seed).fit(x[rows], y[rows])

        model = svm(np.arange(len(y)))
        coef, intercept = _full_rows(model, len(names), x.shape[1])
        platt = _platt(x, y, books, svm, len(names), seed)
        pair = _pair_model(emb, authors, books[:len(authors)], pairs, seed)
        meta = {"chunks": len(texts), "spliced_negatives": len(y) - len(texts), "authors": len(names),
                "books": n_books, "view": view.name, "keep_words": len(view.keep),
                "families": {n: len(f.vocab) for n, f in fams.items()}, "C": c,
                "platt": list(platt), "pair_weights": dict(zip([*fams, "intercept"], pair.round(4).tolist()))}
        log.info("verifier: %d chunks of %d authors (%d books), %s view, Platt %s", len(texts), len(names),
                 n_books, view.name, [round(v, 3) for v in platt])
        return cls(view, fams, names, coef, intercept, platt, pair, min_words, meta)

    # --- files --------------------------------------------------------------------------------------------

    def save(self, folder: Path | str) -> None:
        folder = Path(folder)
        data = {"view": {"view": self.view.name, "keep_words": sorted(self.view.keep)}, "authors": self.authors,
                "families": {n: {"class": n, **f.state()} for n, f in self.families.items()},
                "platt": list(self.platt), "min_words": self.min_words, "meta": self.meta}
        (folder / VERIFIER_FILE).write_text(json.dumps(data) + "\n")
        np.savez(folder / ARRAYS_FILE, coef=self.coef, intercept=self.intercept, pair=self.pair)

    @classmethod
    def load(cls, folder: Path | str) -> Verifier | None:
        folder = Path(folder)
        if not (folder / VERIFIER_FILE).is_file():
            return None
        data = json.loads((folder / VERIFIER_FILE).read_text())
        arrays = np.load(folder / ARRAYS_FILE, allow_pickle=False)
        view = TextView(data["view"]["view"], frozenset(data["view"]["keep_words"]))
        fams = {n: FEATURES[s["class"]].from_state(s) for n, s in data["families"].items()}
        return cls(view, fams, data["authors"], arrays["coef"], arrays["intercept"], tuple(data["platt"]),
                   arrays["pair"], data["min_words"], data["meta"])


MARKERS = 10


def _spliced(viewed: list[str], y: np.ndarray, books: list[int], z: np.ndarray, words, share: float,
             seed: int) -> tuple[list[str], list[int], list[int]]:
    """Hard negatives against splicing: for each author A, ``share`` x its chunk count chunks of other
    authors with A's ``MARKERS`` most over-used function words (highest mean z-score; for half of them A's
    most frequent ones) spliced in after every 3rd to 20th word; each keeps its own author and book."""
    rng = random.Random(f"{seed}:verifier:spliced")
    texts, labels, out_books = [], [], []
    freqs = z * words.std + words.mean  # relative frequencies back from the z-scores
    for label in np.unique(y):
        mine = y == label
        markers = ([words.vocab[i] for i in np.argsort(-z[mine].mean(axis=0))[:MARKERS]],
                   [words.vocab[i] for i in np.argsort(-freqs[mine].mean(axis=0))[:MARKERS]])
        others = np.flatnonzero(~mine).tolist()
        for n, i in enumerate(rng.sample(others, min(len(others), int(share * mine.sum())))):
            every, tokens, out = rng.randint(3, 20), viewed[i].split(), []
            for k, token in enumerate(tokens):
                out.append(token)
                if k % every == every - 1:
                    out.append(rng.choice(markers[n % 2]))
            texts.append(" ".join(out))
            labels.append(int(y[i]))
            out_books.append(books[i])
    return texts, labels, out_books


def _full_rows(model, n_authors: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """One weight row per author (LinearSVC keeps a single row for two classes: +row for class 1)."""
    coef, intercept = model.coef_, model.intercept_
    if n_authors == 2 and coef.shape[0] == 1:
        coef, intercept = np.r_[-coef, coef], np.r_[-intercept, intercept]
    full, bias = np.zeros((n_authors, dim)), np.zeros(n_authors)
    full[model.classes_], bias[model.classes_] = coef, intercept
    bias[np.setdiff1d(np.arange(n_authors), model.classes_)] = -1e3  # an author absent from a half: never it
    return full, bias


def _multi_book(y: np.ndarray, books: Sequence[int]) -> bool:
    return len(set(zip(y.tolist(), books))) > len(set(y.tolist()))


def _book_halves(books: Sequence[int]) -> list[int]:
    """Each book split in two pseudo-books (its chunks in order: the first half, the second half)."""
    count: dict[int, int] = defaultdict(int)
    for b in books:
        count[b] += 1
    seen: dict[int, int] = defaultdict(int)
    out = []
    for b in books:
        out.append(2 * b + (2 * seen[b] >= count[b]))
        seen[b] += 1
    return out


def _halves(y: np.ndarray, books: Sequence[int], seed: int) -> list[np.ndarray]:
    """Two halves of the rows by book: every author's books dealt alternately (seeded), so each half holds
    books of every author with 2+ books and the other half's books are unseen to it."""
    by_author: dict[int, list[int]] = defaultdict(list)
    for label, book in sorted(set(zip(y.tolist(), books))):
        by_author[label].append(book)
    side: dict[int, int] = {}
    rng = random.Random(f"{seed}:verifier:halves")
    for label, bs in sorted(by_author.items()):
        rng.shuffle(bs)
        start = rng.randrange(2)
        for i, b in enumerate(bs):
            side[b] = (start + i) % 2
    mark = np.array([side[b] for b in books])
    return [np.flatnonzero(mark == 0), np.flatnonzero(mark == 1)]


def _platt(x, y, books, svm, n_authors: int, seed: int) -> tuple[float, float]:
    """Sigmoid of the margin fitted on cross-book margins: train on one half of the books, score the other
    (the held-out chunk's own author: positive; every other author the half knows: negative), both ways."""
    from sklearn.linear_model import LogisticRegression

    margins, labels = [], []
    halves = _halves(y, books, seed)
    for fit, held in (halves, halves[::-1]):
        if not len(fit) or not len(held) or len(np.unique(y[fit])) < 2:
            continue
        coef, intercept = _full_rows(svm(fit), n_authors, x.shape[1])
        known = np.unique(y[fit])
        rows = held[np.isin(y[held], known)]  # an author with a single book is unseen to the other half
        m = x[rows] @ coef[known].T + intercept[known]
        truth = (y[rows][:, None] == known[None, :])
        margins.append(m.ravel())
        labels.append(truth.ravel())
    if not margins or not np.concatenate(labels).any():
        log.warning("verifier: no author with books on both halves: the margin's sigmoid is a default (1, 0)")
        return 1.0, 0.0
    lr = LogisticRegression(C=100.0).fit(np.concatenate(margins)[:, None], np.concatenate(labels))
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def _pair_model(emb: dict[str, np.ndarray], authors: list[str], books: list[int], n: int, seed: int) -> np.ndarray:
    """Logistic-regression weights (per family, then intercept) on cross-book same-author pairs against
    different-author pairs; equal weights when the chunks hold no cross-book pair."""
    from sklearn.linear_model import LogisticRegression

    sampler = PairSampler(range(len(authors)), authors.__getitem__, books.__getitem__)
    equal = np.r_[np.ones(len(emb)), 0.0]
    if not sampler.multi:
        log.warning("verifier: no author with 2+ training books: the pair model weights its families equally")
        return equal
    rng = random.Random(f"{seed}:verifier:pairs")
    left, right, same = [], [], []
    for _ in range(n):
        for label, pair in ((1, sampler.same(rng)), (0, sampler.cross(rng))):
            left.append(pair[0])
            right.append(pair[1])
            same.append(label)
    cos = np.stack([np.sum(e[left] * e[right], axis=1) for e in emb.values()], axis=1)
    lr = LogisticRegression(C=1.0).fit(cos, np.array(same))
    return np.r_[lr.coef_[0], lr.intercept_[0]]
