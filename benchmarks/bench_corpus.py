"""Clean + chunk throughput on the shared Gutenberg books: litstyle's rule-based sentence splitter
versus the same job with a spaCy ``blank("en")`` + ``sentencizer`` pipeline, in one run.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/bench_corpus.py [--mirror ../shared/corpus/gutenberg] [--repeat 3]

Prints MB/s of raw Gutenberg text for both paths and their ratio (target: litstyle >= 5x spaCy).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from litstyle.corpus.chunk import Unit, pack, sentence_units
from litstyle.corpus.clean import clean_text

TARGETS = (128, 500, 1500)


def litstyle_job(raw: bytes) -> int:
    units = sentence_units(clean_text(raw))
    return sum(len(pack(units, t)[0]) for t in TARGETS)


def spacy_job(nlp, raw: bytes) -> int:
    paragraphs = clean_text(raw).split("\n\n")
    units = [Unit(s.text, len(s.text.split()), i == 0)
             for doc in nlp.pipe(paragraphs, batch_size=256)
             for i, s in enumerate(doc.sents)]
    return sum(len(pack(units, t)[0]) for t in TARGETS)


def best_of(repeat: int, fn, books: list[bytes]) -> tuple[float, int]:
    best, chunks = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        chunks = sum(fn(raw) for raw in books)
        best = min(best, time.perf_counter() - started)
    return best, chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", default=str(Path(__file__).resolve().parents[2] / "shared/corpus/gutenberg"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.max_length = 5_000_000
    books = [p.read_bytes() for p in sorted(Path(args.mirror).glob("*.txt"))]
    megabytes = sum(map(len, books)) / 1e6
    ours, n_ours = best_of(args.repeat, litstyle_job, books)
    theirs, n_theirs = best_of(args.repeat, lambda raw: spacy_job(nlp, raw), books)
    print(f"books: {len(books)}, {megabytes:.1f} MB raw text, chunk targets {TARGETS}, best of {args.repeat}")
    print(f"litstyle rule-based splitter : {megabytes / ours:7.2f} MB/s ({ours:.2f} s, {n_ours} chunks)")
    print(f"spaCy blank('en')+sentencizer: {megabytes / theirs:7.2f} MB/s ({theirs:.2f} s, {n_theirs} chunks)")
    print(f"speed-up: {theirs / ours:.1f}x (target >= 5x)")


if __name__ == "__main__":
    main()
