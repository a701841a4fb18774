"""Stylometric similarities and the fused style score.

- Features, each a "cosine delta" (Burrows; Evert et al. 2017): relative frequencies of the most
  frequent features of a reference corpus, z-scored per feature with the reference mean and
  deviation, unit length, so that a dot product is a cosine.  ``FunctionWords`` (words, per word),
  ``CharNgrams`` (character 2-4-grams, per character), ``CharNgrams15`` (1-5-grams),
  ``Punctuation`` (punctuation marks and dashes, per character), ``SentenceLengths`` (sentence
  lengths in words, binned by 3, per sentence), ``FunctionWordNgrams`` (word 2-3-grams of the text
  reduced to its 100 most frequent reference words, every other word a placeholder: syntax without
  topic, POS-free).
- ``Fusion``: the judge cosine and the stylometric cosines combined with non-negative weights that
  sum to 1 (a logistic regression on the validation pairs, negative weights dropped; when the
  combination's cross-validated AUC on those pairs is below its best single part, that part alone:
  ``fit_weights``).  Embeddings
  are concatenated as ``sqrt(w_i) * e_i``, so the fused similarity of two texts is the dot product
  ``sum_i w_i cos_i`` of their fused embeddings: still a similarity of completion and reference,
  in [-1, 1], and usable for centroids.  Saved with the judge model (``litstyle_fused.json``).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_PUNCT = re.compile(r"--|[^\w\s]")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
FUSED_FILE = "litstyle_fused.json"
JUDGE = "judge"
log = logging.getLogger(__name__)


def unit(rows: np.ndarray) -> np.ndarray:
    """Each row scaled to unit length (a zero row stays zero), so that a dot product is a cosine."""
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


class ZScoredFrequencies:
    """Cosine delta: relative frequencies of the ``n`` most frequent features of the reference texts,
    z-scored per feature with the reference mean and deviation, unit length (so dot = cosine)."""

    name = "stylometry"
    VECTORIZER: dict = {}

    def __init__(self, reference_texts: list[str], n: int) -> None:
        from sklearn.feature_extraction.text import CountVectorizer

        full = CountVectorizer(**{"lowercase": True, **self.VECTORIZER})
        counts = full.fit_transform(reference_texts)
        totals = np.asarray(counts.sum(axis=0)).ravel()
        names = full.get_feature_names_out()
        order = np.lexsort((names, -totals))[:n]  # most frequent first, ties by name
        self._set([str(names[i]) for i in order])
        freqs = self._relative(counts[:, order], reference_texts)  # the kept columns: counted once, not twice
        self.mean = freqs.mean(axis=0)
        self.std = freqs.std(axis=0) + 1e-9

    def _set(self, vocab: list[str]) -> None:
        from sklearn.feature_extraction.text import CountVectorizer

        self.vocab = vocab
        self.vectorizer = CountVectorizer(vocabulary=vocab, **{"lowercase": True, **self.VECTORIZER})

    def state(self) -> dict:
        return {"vocab": self.vocab, "mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_state(cls, state: dict) -> ZScoredFrequencies:
        self = cls.__new__(cls)
        self._restore(state)
        self._set(state["vocab"])
        self.mean, self.std = np.asarray(state["mean"]), np.asarray(state["std"])
        return self

    def _restore(self, state: dict) -> None:
        """Set what a subclass adds to ``state()`` (before the vectorizer is built)."""

    def size(self, text: str) -> int:
        return len(text)

    def frequencies(self, texts: list[str]) -> np.ndarray:
        return self._relative(self.vectorizer.transform(texts), texts)

    def _relative(self, counts, texts: list[str]) -> np.ndarray:
        """Sparse counts (texts x vocab) per unit of each text's size."""
        return counts.toarray().astype(np.float64) / np.maximum([self.size(t) for t in texts], 1)[:, None]

    def zscores(self, texts: list[str]) -> np.ndarray:
        return (self.frequencies(texts) - self.mean) / self.std

    def embed(self, texts: list[str]) -> np.ndarray:
        return unit(self.zscores(texts))


class FunctionWords(ZScoredFrequencies):
    """Burrows-style baseline: the ``n`` most frequent words, per word of the text."""

    name = "function words"
    VECTORIZER = {"token_pattern": _WORD.pattern}

    def __init__(self, reference_texts: list[str], n: int = 300) -> None:
        super().__init__(reference_texts, n)

    def size(self, text: str) -> int:
        return len(_WORD.findall(text.lower()))


class CharNgrams(ZScoredFrequencies):
    """The ``n`` most frequent character 2-4-grams (within words and across their edges), per character."""

    name = "char n-grams"
    VECTORIZER = {"analyzer": "char", "ngram_range": (2, 4)}

    def __init__(self, reference_texts: list[str], n: int = 2000) -> None:
        super().__init__(reference_texts, n)


class CharNgrams15(ZScoredFrequencies):
    """The ``n`` most frequent character 1-5-grams, per character."""

    name = "char 1-5-grams"
    VECTORIZER = {"analyzer": "char", "ngram_range": (1, 5)}


def _punctuation(text: str) -> list[str]:
    return _PUNCT.findall(text)


class Punctuation(ZScoredFrequencies):
    """Punctuation marks (and ``--`` dashes), per character."""

    name = "punctuation"
    VECTORIZER = {"analyzer": _punctuation, "lowercase": False}


def _sentence_lengths(text: str) -> list[str]:
    return [f"{min(len(s.split()) // 3, 20) * 3}+" for s in _SENTENCE_END.split(text) if s.strip()]


class SentenceLengths(ZScoredFrequencies):
    """Sentence lengths in words (bins of 3, the last 60+), per sentence."""

    name = "sentence lengths"
    VECTORIZER = {"analyzer": _sentence_lengths}

    def size(self, text: str) -> int:
        return len(_sentence_lengths(text))


KEPT_WORDS = 100


class FunctionWordNgrams(ZScoredFrequencies):
    """Word 2-3-grams of the text reduced to the 100 most frequent reference words (others ``_``), per word."""

    name = "function-word n-grams"

    def __init__(self, reference_texts: list[str], n: int) -> None:
        self.kept = frozenset(FunctionWords(reference_texts, KEPT_WORDS).vocab)
        super().__init__(reference_texts, n)

    @property
    def VECTORIZER(self) -> dict:  # noqa: N802 - the analyzer needs the kept words
        return {"analyzer": self._ngrams}

    def _ngrams(self, text: str) -> list[str]:
        words = [w if w in self.kept else "_" for w in _WORD.findall(text.lower())]
        return [" ".join(words[i:i + k]) for k in (2, 3) for i in range(len(words) - k + 1)]

    def state(self) -> dict:
        return {**super().state(), "kept": sorted(self.kept)}

    def _restore(self, state: dict) -> None:
        self.kept = frozenset(state["kept"])

    def size(self, text: str) -> int:
        return len(_WORD.findall(text.lower()))


FEATURES = {cls.name: cls for cls in (FunctionWords, CharNgrams, CharNgrams15, Punctuation, SentenceLengths,
                                      FunctionWordNgrams)}


def fit_weights(cosines: dict[str, np.ndarray], same_author: np.ndarray, seed: int = 0,
                folds: int = 5) -> dict[str, float]:
    """Non-negative weights summing to 1 from a logistic regression of same-author on the cosines,
    unless the combination's out-of-fold AUC (``folds``-fold cross-validation on these pairs) is below
    the best single cosine's AUC: then that cosine alone."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    names = list(cosines)
    x = np.stack([cosines[n] for n in names], axis=1)
    y = same_author.astype(int)

    def weights(rows: np.ndarray) -> np.ndarray:
        coef = np.clip(LogisticRegression(random_state=seed).fit(x[rows], y[rows]).coef_[0], 0.0, None)
        if coef.sum() <= 0:  # nothing helps: the judge alone
            coef = np.array([1.0 if n == JUDGE else 0.0 for n in names])
        return coef / coef.sum()

    fused = np.zeros(len(y))
    for fit, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        fused[held] = x[held] @ weights(fit)
    alone = {n: roc_auc_score(y, x[:, i]) for i, n in enumerate(names)}
    best = max(alone, key=alone.get)
    if roc_auc_score(y, fused) < alone[best]:
        log.info("fused weights: the combination (out-of-fold AUC %.3f) is below %s alone (%.3f): %s alone",
                 roc_auc_score(y, fused), best, alone[best], best)
        return {n: float(n == best) for n in names}
    return {n: float(w) for n, w in zip(names, weights(np.arange(len(y))))}


@dataclass
class Fusion:
    weights: dict[str, float]  # "judge" and feature names -> weight (sum 1)
    features: dict[str, ZScoredFrequencies]

    def embed(self, judge: np.ndarray, texts: list[str]) -> np.ndarray:
        parts = [np.sqrt(self.weights[JUDGE]) * judge]
        parts += [np.sqrt(self.weights[n]) * f.embed(texts) for n, f in self.features.items()]
        return np.concatenate(parts, axis=1).astype(np.float32)

    def save(self, folder: Path | str) -> None:
        data = {"weights": self.weights, "features": {n: f.state() for n, f in self.features.items()}}
        (Path(folder) / FUSED_FILE).write_text(json.dumps(data) + "\n")

    @classmethod
    def load(cls, folder: Path | str) -> Fusion | None:
        path = Path(folder) / FUSED_FILE
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        return cls(data["weights"], {n: FEATURES[n].from_state(s) for n, s in data["features"].items()})
