"""Stylometric similarities and the fused style score.

- ``FunctionWords`` / ``CharNgrams``: "cosine delta" (Burrows; Evert et al. 2017): relative
  frequencies of the most frequent words / character 2-4-grams of a reference corpus, z-scored per
  feature with the reference mean and deviation, unit length, so that a dot product is a cosine.
- ``Fusion``: the judge cosine and the stylometric cosines combined with non-negative weights that
  sum to 1 (a logistic regression on the validation pairs, negative weights dropped).  Embeddings
  are concatenated as ``sqrt(w_i) * e_i``, so the fused similarity of two texts is the dot product
  ``sum_i w_i cos_i`` of their fused embeddings: still a similarity of completion and reference,
  in [-1, 1], and usable for centroids.  Saved with the judge model (``litstyle_fused.json``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
FUSED_FILE = "litstyle_fused.json"
JUDGE = "judge"


class ZScoredFrequencies:
    """Cosine delta: relative frequencies of the ``n`` most frequent features of the reference texts,
    z-scored per feature with the reference mean and deviation, unit length (so dot = cosine)."""

    name = "stylometry"
    VECTORIZER: dict = {}

    def __init__(self, reference_texts: list[str], n: int) -> None:
        from sklearn.feature_extraction.text import CountVectorizer

        full = CountVectorizer(lowercase=True, **self.VECTORIZER)
        totals = np.asarray(full.fit_transform(reference_texts).sum(axis=0)).ravel()
        names = full.get_feature_names_out()
        order = sorted(range(len(names)), key=lambda i: (-totals[i], names[i]))[:n]
        self._set([str(names[i]) for i in order])
        freqs = self.frequencies(reference_texts)
        self.mean = freqs.mean(axis=0)
        self.std = freqs.std(axis=0) + 1e-9

    def _set(self, vocab: list[str]) -> None:
        from sklearn.feature_extraction.text import CountVectorizer

        self.vocab = vocab
        self.vectorizer = CountVectorizer(lowercase=True, vocabulary=vocab, **self.VECTORIZER)

    def state(self) -> dict:
        return {"vocab": self.vocab, "mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_state(cls, state: dict) -> ZScoredFrequencies:
        self = cls.__new__(cls)
        self._set(state["vocab"])
        self.mean, self.std = np.asarray(state["mean"]), np.asarray(state["std"])
        return self

    def size(self, text: str) -> int:
        return len(text)

    def frequencies(self, texts: list[str]) -> np.ndarray:
        counts = self.vectorizer.transform(texts).toarray().astype(np.float64)
        return counts / np.maximum([self.size(t) for t in texts], 1)[:, None]

    def embed(self, texts: list[str]) -> np.ndarray:
        z = (self.frequencies(texts) - self.mean) / self.std
        return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


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


FEATURES = {cls.name: cls for cls in (FunctionWords, CharNgrams)}


def fit_weights(cosines: dict[str, np.ndarray], same_author: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Non-negative weights summing to 1 from a logistic regression of same-author on the cosines."""
    from sklearn.linear_model import LogisticRegression

    names = list(cosines)
    x = np.stack([cosines[n] for n in names], axis=1)
    coef = LogisticRegression(random_state=seed).fit(x, same_author.astype(int)).coef_[0]
    coef = np.clip(coef, 0.0, None)
    if coef.sum() <= 0:  # nothing helps: the judge alone
        coef = np.array([1.0 if n == JUDGE else 0.0 for n in names])
    return {n: float(c / coef.sum()) for n, c in zip(names, coef)}


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
