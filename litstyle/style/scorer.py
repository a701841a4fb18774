"""Style scoring with a sentence-transformer judge: cosine(judge(completion), judge(reference)).

References (an author's sample text, the same for many completions) are encoded once and cached;
completions are encoded once each, in batches (sentence-transformers orders a batch by length).
Long texts can be encoded in windows of ``window_words`` words whose embeddings are averaged, so that
an encoder that reads ~256 word pieces (MiniLM) still sees the whole text.  Every text goes through
the judge's text view (``litstyle.style.views``) first: the one saved with the judge model.  A judge
saved with a fused score (``litstyle.style.stylometry.Fusion``) scores with it: the fused embedding
concatenates the weighted judge embedding and the stylometric ones, so a dot product is still the
score.
"""

from __future__ import annotations

import hashlib
import logging
import os
from typing import Sequence

import numpy as np

from litstyle.errors import StageError
from litstyle.style.stylometry import Fusion
from litstyle.style.verifier import Verifier
from litstyle.style.views import TextView

log = logging.getLogger(__name__)


def windows(text: str, size: int | None) -> list[str]:
    words = text.split()
    if not size or len(words) <= size:
        return [" ".join(words)]
    return [" ".join(words[i:i + size]) for i in range(0, len(words), size)]


def encoder_device(setting: str = "auto") -> str:
    """``auto``: this process's GPU under torchrun / accelerate launch (``cuda:LOCAL_RANK``) or the only one,
    when CUDA is available; else the CPU.  Anything else is used as given."""
    if setting != "auto":
        return setting
    import torch  # heavy third-party import, only when an encoder loads

    if not torch.cuda.is_available():
        return "cpu"
    return f"cuda:{int(os.environ.get('LOCAL_RANK', '0')) % torch.cuda.device_count()}"


class StyleScorer:
    def __init__(self, model: str, *, device: str = "auto", batch_size: int = 16, prefix: str = "",
                 window_words: int | None = None, max_seq_length: int | None = None,
                 trust_remote_code: bool = False, encoder=None, view: TextView | None = None,
                 fusion: Fusion | None = None) -> None:
        if encoder is None:
            from sentence_transformers import SentenceTransformer

            encoder = SentenceTransformer(model, device=encoder_device(device), trust_remote_code=trust_remote_code)
        if max_seq_length:
            encoder.max_seq_length = max_seq_length
        self.encoder = encoder
        self.batch_size = batch_size
        self.prefix = prefix
        self.window_words = window_words
        self.view = view or TextView()
        self.fusion = fusion
        self._cache: dict[str, np.ndarray] = {}
        self.encoded_texts = 0  # texts sent to the encoder (for tests and benchmarks)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm embeddings, one row per text (window means when ``window_words`` is set)."""
        viewed = [self.view.apply(text) for text in texts]
        if not texts:
            out = np.zeros((0, self.encoder.get_sentence_embedding_dimension()), dtype=np.float32)
            return self.fusion.embed(out, []) if self.fusion else out
        pieces, owner = [], []
        for i, text in enumerate(viewed):
            for piece in windows(text, self.window_words):
                pieces.append(self.prefix + piece)
                owner.append(i)
        emb = self.encoder.encode(pieces, batch_size=self.batch_size, convert_to_numpy=True,
                                  normalize_embeddings=True, show_progress_bar=False)
        self.encoded_texts += len(texts)
        out = np.zeros((len(texts), emb.shape[1]), dtype=np.float32)
        np.add.at(out, np.asarray(owner), emb)
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return self.fusion.embed(out, viewed) if self.fusion else out

    def reference_embeddings(self, references: Sequence[str]) -> np.ndarray:
        keys = [hashlib.sha256(ref.encode()).hexdigest() for ref in references]
        missing = {k: ref for k, ref in zip(keys, references) if k not in self._cache}
        if missing:
            for key, row in zip(missing, self.encode(list(missing.values()))):
                self._cache[key] = row
        return np.stack([self._cache[k] for k in keys])

    def score(self, completions: Sequence[str], references: Sequence[str]) -> list[float]:
        """Raw cosine of each completion with its reference (references cached across calls)."""
        if len(completions) != len(references):
            raise ValueError(f"{len(completions)} completions but {len(references)} references")
        if not completions:
            return []
        refs = self.reference_embeddings(references)
        comps = self.encode(list(completions))
        return [float(x) for x in np.sum(comps * refs, axis=1)]


def judge_scorer(recipe, judge_dir, *, fused: bool = True) -> StyleScorer:
    """The fine-tuned style judge of a run (``<run_dir>/judge/model``), encoding as the benchmark does
    (the judge's prefix and max length, ``judge_benchmark.window_words`` windows) through the text
    view saved with the model, and with its fused score when it has one (``fused=False``: the judge
    cosine alone)."""
    from pathlib import Path

    folder = Path(judge_dir) / "model"
    return StyleScorer(str(folder), prefix=recipe.judge.text_prefix, view=TextView.load(folder),
                       fusion=Fusion.load(folder) if fused else None,
                       window_words=recipe.judge_benchmark.window_words,
                       max_seq_length=recipe.judge.max_seq_length,
                       trust_remote_code=recipe.models.trusts("encoder"), device=recipe.models.encoder_device)


class StyleScore:
    """The style score the rewards, the SFT filter and the eval use (``judge.style_score``): the judge's
    (fused) cosine of a text with its row's sample text, or the verifier's calibrated P(the row's author
    wrote the text), scored against that author's profile."""

    def __init__(self, judge: StyleScorer | None = None, verifier: Verifier | None = None) -> None:
        if (judge is None) == (verifier is None):
            raise ValueError("a style score is the judge's or the verifier's: give exactly one")
        self.judge, self.verifier = judge, verifier
        self.name = "verifier" if verifier is not None else "judge"

    def score(self, texts: Sequence[str], references: Sequence[str], authors: Sequence[str]) -> list[float]:
        if self.verifier is not None:
            return self.verifier.score(list(texts), list(authors))
        return self.judge.score(texts, references)


def style_score(recipe, judge_dir) -> StyleScore:
    """The run's style score (``judge.style_score``), read from the judge stage's folder."""
    from pathlib import Path

    if recipe.judge.style_score == "verifier":
        verifier = Verifier.load(Path(judge_dir) / "model")
        if verifier is None:
            raise StageError(f"judge.style_score verifier: no verifier in {Path(judge_dir) / 'model'} (trained by "
                             "judge.verifier.enabled): rerun the judge stage with --force --only judge")
        return StyleScore(verifier=verifier)
    return StyleScore(judge=judge_scorer(recipe, judge_dir))
