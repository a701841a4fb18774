"""Style reward: 16 completions scored against 1 reference with the cached scorer (reference
encoded once, completions in one batch) versus encoding each (completion, reference) pair anew,
in one run; then the cross-book verifier's style reward (``judge.style_score: verifier``) on the same 16
completions, fitted here on 20 chunks of each of 8 books by 4 authors.  Texts are ~500-word chunks of the
shared Gutenberg books.

    .venv/bin/python benchmarks/bench_style_reward.py [--model minilm] [--repeat 3]

Prints the wall times and the ratio (target >= 1.8x), and the verifier's time for the 16 completions (target:
rewards < 10 % of a GRPO step; compare with benchmarks/bench_grpo_step.py).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from litstyle import models
from litstyle.corpus.chunk import pack, sentence_units
from litstyle.corpus.clean import clean_text
from litstyle.style.scorer import StyleScorer
from litstyle.style.verifier import Verifier

VERIFIER_BOOKS = {"Mark Twain": [74, 86], "Charles Dickens": [98, 1400], "Jane Austen": [1342, 158],
                  "Thomas Hardy": [110, 153]}


def per_pair(scorer: StyleScorer, completions: list[str], reference: str) -> list[float]:
    scores = []
    for completion in completions:
        emb = scorer.encode([completion, reference])
        scores.append(float(emb[0] @ emb[1]))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--mirror", default=str(Path(__file__).resolve().parents[2] / "shared/corpus/gutenberg"))
    parser.add_argument("--window-words", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    mirror = Path(args.mirror)
    texts = pack(sentence_units(clean_text((mirror / "76.txt").read_bytes())), 500)[0][:16]
    reference = pack(sentence_units(clean_text((mirror / "74.txt").read_bytes())), 1500)[0][3]
    scorer = StyleScorer(models.resolve(args.model), window_words=args.window_words)
    scorer.score(texts[:1], ["warm-up"])  # load weights, first-call overheads
    naive, cached = float("inf"), float("inf")
    for _ in range(args.repeat):
        started = time.perf_counter()
        slow = per_pair(scorer, texts, reference)
        naive = min(naive, time.perf_counter() - started)
        fresh = StyleScorer("", window_words=args.window_words, encoder=scorer.encoder)  # empty cache
        started = time.perf_counter()
        fast = fresh.score(texts, [reference] * len(texts))
        cached = min(cached, time.perf_counter() - started)
    assert np.allclose(slow, fast, atol=1e-4)
    print(f"16 completions x 1 reference ({args.model}, windows of {args.window_words} words, best of {args.repeat})")
    print(f"per-pair encoding : {naive:.2f} s")
    print(f"cached scorer     : {cached:.2f} s")
    print(f"speed-up: {naive / cached:.2f}x (target >= 1.8x)")
    rows = [(author, book, chunk) for author, books in VERIFIER_BOOKS.items() for book in books
            for chunk in pack(sentence_units(clean_text((mirror / f"{book}.txt").read_bytes())), 500)[0][:20]]
    verifier = Verifier.fit([r[2] for r in rows], [r[0] for r in rows], [r[1] for r in rows])
    best = float("inf")
    for _ in range(args.repeat):
        started = time.perf_counter()
        verifier.score(texts, ["Mark Twain"] * len(texts))
        best = min(best, time.perf_counter() - started)
    print(f"verifier reward   : {best:.3f} s for 16 completions ({best / cached:.2f}x the cached judge)")


if __name__ == "__main__":
    main()
