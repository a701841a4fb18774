"""Stage ``judge_pairs``: corpus chunks -> pair splits for the style judge (author- or book-disjoint).

Output ``<run_dir>/judge_pairs/``: a ``datasets.DatasetDict`` (train / validation / test, plus
test_books in book_disjoint mode, fusion with ``judge_pairs.fusion_words``: validation-author pairs of
that length for the fused weights; train_fold<k> per leave-book-out fold: ``train_pairs`` training pairs
none of which touches the fold's books) with columns sentence1, sentence2, score, kind (extreme | graded),
author1, author2, book1, book2, mask1, mask2; ``labelled/``: the training chunks with author labels
(text, label, author, book_id) for the triplet objectives; ``split.json``: the split of every book
and author and the leave-book-out folds (read by the judge stage and the benchmark); a dataset card
``README.md``; counts per split in the manifest.
``judge_pairs.from_dataset``: the train / validation / test pairs come from a published set instead.
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections import Counter, defaultdict

from litstyle import published
from litstyle.errors import StageError
from litstyle.judge.pairs import (BOOK_SPLIT, FUSION_SPLIT, Chunk, Rewrite, extreme_pairs, fill_gaps, fold_books,
                                  fold_split,
                                  gap_prompts, graded_pairs, mask_longest, split_books, split_names)
from litstyle.rundir import StageContext
from litstyle.serve import client_for

log = logging.getLogger(__name__)


def _load_chunks(ctx: StageContext, words: int) -> list[Chunk]:
    from datasets import load_from_disk

    data = load_from_disk(str(ctx.inputs["corpus"] / "chunks")).filter(lambda t: t == words,
                                                                         input_columns="target_words")
    return [Chunk(f"{b}:{i}", a, b, t) for b, i, a, t in
            zip(data["book_id"], data["chunk_idx"], data["author"], data["text"])]


def _rewrite(ctx: StageContext, pools: dict[str, list[tuple[Chunk, float]]]) -> dict[str, list[Rewrite]]:
    """Mask and rewrite every pooled chunk through the rewriter LLM (one request per masked sentence)."""

    cfg = ctx.recipe.judge_pairs
    jobs = []  # (split, chunk, ratio, sentences, masked indexes, index of its first request)
    requests: list = []
    for split, pool in pools.items():
        for chunk, ratio in pool:
            sentences, masked = mask_longest(chunk.text, ratio)
            jobs.append((split, chunk, ratio, sentences, masked, len(requests)))
            requests += gap_prompts(sentences, masked)
    log.info("rewriting %d chunks (%d masked sentences) through the rewriter LLM", len(jobs), len(requests))
    with client_for(ctx.recipe, "rewriter") as client:
        answers = client.chat_many(requests, max_tokens=cfg.rewrite_max_tokens,
                                   temperature=cfg.rewrite_temperature, seed=ctx.recipe.run.seed, progress="rewrite")
        ctx.extra["rewriter_calls"] = client.stats.summary()
    rewrites: dict[str, list[Rewrite]] = defaultdict(list)
    failed = 0
    for split, chunk, ratio, sentences, masked, start in jobs:
        text = fill_gaps(sentences, masked, answers[start:start + len(masked)])
        if text is None:
            failed += 1
            continue
        rewrites[split].append(Rewrite(chunk, ratio, text))
    if failed:
        log.warning("%d of %d rewrites failed and were skipped", failed, len(jobs))
    ctx.counts["rewrites"] = len(jobs) - failed
    ctx.counts["rewrites_failed"] = failed
    return rewrites


def _check_split(split: str, chunks: list[Chunk], same_book: bool) -> None:
    books = defaultdict(set)
    for c in chunks:
        books[c.author].add(c.book_id)
    if split == BOOK_SPLIT:
        ok = bool(books)
    else:
        chunk_count = Counter(c.author for c in chunks)
        ok = len(books) >= 2 and any(len(b) >= 2 or (same_book and chunk_count[a] >= 2) for a, b in books.items())
    if not ok:
        raise StageError(f"judge_pairs: split {split!r} needs 2+ authors, one with 2+ books; it has "
                         f"{dict((a, len(b)) for a, b in books.items())}: add authors or books to the corpus")


def build_judge_pairs(ctx: StageContext) -> None:
    from datasets import Dataset, DatasetDict, Features, Value

    cfg = ctx.recipe.judge_pairs
    seed = ctx.recipe.run.seed
    names = split_names(cfg.split)
    chunks = _load_chunks(ctx, cfg.chunk_words)
    by_author: dict[str, list[Chunk]] = defaultdict(list)
    for chunk in chunks:
        by_author[chunk.author].append(chunk)
    missing = [a for a in ctx.recipe.run.authors if a not in by_author]
    if cfg.split != "author_disjoint" and missing:
        log.warning("run.authors not in the corpus, so not pinned to training: %s", "; ".join(missing))
    book_split = split_books(by_author, cfg.split_ratios, seed, cfg.split, ctx.recipe.run.authors)
    split_chunks = {s: [c for c in chunks if book_split[c.book_id] == s] for s in names}
    # book_disjoint: training authors may have one training book left -> same-author pairs within it
    same_book = {s: cfg.split == "book_disjoint" and s == "train" for s in names}
    for split in names:
        _check_split(split, split_chunks[split], same_book[split])
    try:
        folds = fold_books(by_author, book_split, cfg.folds, seed) if cfg.folds else []
    except ValueError as err:
        raise StageError(f"judge_pairs.folds: {err}: lower it or add books") from None
    if cfg.from_dataset is not None:
        names = [s for s in names if s != BOOK_SPLIT]  # a published set has no unseen-book split
    wanted = {s: cfg.train_pairs if s == "train" else cfg.eval_pairs for s in names}
    graded_n = {s: round(wanted[s] * cfg.graded_fraction) if s != BOOK_SPLIT and cfg.from_dataset is None else 0
                for s in names}
    pools = {}
    for split in names:
        rng = random.Random(f"{seed}:{split}:pool")
        size = min(len(split_chunks[split]), 2 * math.ceil(math.sqrt(2 * graded_n[split]))) if graded_n[split] else 0
        picked = sorted(rng.sample(split_chunks[split], size), key=lambda c: c.uid)
        pools[split] = [(c, cfg.mask_ratios[i % len(cfg.mask_ratios)]) for i, c in enumerate(picked)]
    rewrites = _rewrite(ctx, pools) if any(pools.values()) else {}

    features = Features({"sentence1": Value("string"), "sentence2": Value("string"), "score": Value("float32"),
                         "kind": Value("string"), "author1": Value("string"), "author2": Value("string"),
                         "book1": Value("int32"), "book2": Value("int32"), "mask1": Value("float32"),
                         "mask2": Value("float32")})
    splits, counts = {}, {}
    published_rows = published_pairs(ctx, names) if cfg.from_dataset is not None else {}
    for split in names:
        rng = random.Random(f"{seed}:{split}:pairs")
        if split in published_rows:
            rows = published_rows[split]
        elif split == BOOK_SPLIT:  # one chunk of an unseen book, the other from any book of the pool
            test_books = {c.book_id for c in split_chunks[split]}
            pool = split_chunks[split] + split_chunks["train"]
            rows = extreme_pairs(pool, wanted[split], rng, anchor=lambda c: c.book_id in test_books)
        else:
            rows = extreme_pairs(split_chunks[split], wanted[split] - graded_n[split], rng, same_book=same_book[split])
            rows += graded_pairs(rewrites.get(split, []), graded_n[split], rng)
        rng.shuffle(rows)
        splits[split] = Dataset.from_list(rows, features=features)
        bins = Counter(f"{r['score']:.1f}" for r in rows)
        counts[split] = {"pairs": len(rows), "authors": sorted({c.author for c in split_chunks[split]}),
                         "books": len({c.book_id for c in split_chunks[split]}),
                         "chunks": len(split_chunks[split]), "bins": dict(sorted(bins.items())),
                         "graded": sum(1 for r in rows if r["kind"] == "graded")}
        if len(rows) < wanted[split] and split not in published_rows:
            log.warning("%s: %d of %d pairs (the pool is small)", split, len(rows), wanted[split])
    for k, books in enumerate(folds):  # a fold judge trains on as many pairs as the judge, none touching its books
        held = set(books)
        rows = extreme_pairs([c for c in split_chunks["train"] if c.book_id not in held], cfg.train_pairs,
                             random.Random(f"{seed}:{fold_split(k)}:pairs"))
        splits[fold_split(k)] = Dataset.from_list(rows, features=features)
    if cfg.fusion_words:  # validation authors' pairs at the length the rewards judge
        long_chunks = [c for c in _load_chunks(ctx, cfg.fusion_words) if book_split.get(c.book_id) == "validation"]
        rows = extreme_pairs(long_chunks, cfg.eval_pairs, random.Random(f"{seed}:{FUSION_SPLIT}:pairs"))
        splits[FUSION_SPLIT] = Dataset.from_list(rows, features=features)
        counts[FUSION_SPLIT] = {"pairs": len(rows), "authors": counts["validation"]["authors"],
                                "books": len({c.book_id for c in long_chunks}), "chunks": len(long_chunks),
                                "bins": dict(sorted(Counter(f"{r['score']:.1f}" for r in rows).items())), "graded": 0,
                                "words": cfg.fusion_words}
    DatasetDict(splits).save_to_disk(str(ctx.out_dir))
    labels = {a: i for i, a in enumerate(sorted(by_author))}
    train = split_chunks["train"]
    Dataset.from_dict({"text": [c.text for c in train], "label": [labels[c.author] for c in train],
                       "author": [c.author for c in train], "book_id": [c.book_id for c in train]}
                      ).save_to_disk(str(ctx.out_dir / "labelled"))
    (ctx.out_dir / "split.json").write_text(json.dumps(
        {"mode": cfg.split, "books": {str(b): s for b, s in sorted(book_split.items())},
         "authors": {s: counts[s]["authors"] for s in names}, "folds": folds}, indent=2) + "\n")
    ctx.counts["splits"] = counts
    ctx.counts["split"] = cfg.split
    if folds:
        ctx.counts["folds"] = [len(books) for books in folds]
    (ctx.out_dir / "README.md").write_text(_card(ctx, counts, folds))
    log.info("judge pairs (%s): %s", cfg.split, {s: c["pairs"] for s, c in counts.items()})


PUBLISHED_COLUMNS = ("sentence1", "sentence2", "score")  # the reference trainer's columns; type -> kind


def published_pairs(ctx: StageContext, names: list[str]) -> dict[str, list[dict]]:
    """The pairs of ``judge_pairs.from_dataset`` per split, in litstyle's columns (authors and books unknown:
    empty / -1), ``train_pairs`` / ``eval_pairs`` at most, drawn with the run seed."""
    cfg = ctx.recipe.judge_pairs
    data = published.load(cfg.from_dataset)
    missing = [s for s in names if s not in data]
    if missing:
        raise StageError(f"judge_pairs.from_dataset {cfg.from_dataset}: no split {', '.join(missing)} "
                         f"(it has {', '.join(data)})")
    out = {}
    for split in names:
        table = data[split]
        lacking = {c: len(table) if c not in table.column_names else table[c].count(None) for c in PUBLISHED_COLUMNS}
        if any(lacking.values()):
            raise StageError(f"judge_pairs.from_dataset {cfg.from_dataset}: split {split} lacks "
                             + ", ".join(f"{c} in {n} of {len(table)} rows" for c, n in lacking.items() if n)
                             + f" (needs {', '.join(PUBLISHED_COLUMNS)})")
        wanted = cfg.train_pairs if split == "train" else cfg.eval_pairs
        if len(table) > wanted:
            table = table.shuffle(seed=ctx.recipe.run.seed).select(range(wanted))
        kinds = table["type"] if "type" in table.column_names else ["published"] * len(table)
        out[split] = [{"sentence1": a, "sentence2": b, "score": float(score), "kind": kind, "author1": "",
                       "author2": "", "book1": -1, "book2": -1, "mask1": 0.0, "mask2": 0.0}
                      for a, b, score, kind in zip(table["sentence1"], table["sentence2"], table["score"], kinds)]
    ctx.counts["from_dataset"] = cfg.from_dataset
    log.warning("judge_pairs: pairs from %s, whose authors are not known: the benchmark's held-out corpus authors "
                "may be among them", cfg.from_dataset)
    return out


def _card(ctx: StageContext, counts: dict, folds: list[list[int]]) -> str:
    cfg = ctx.recipe.judge_pairs
    lines = [
        "# Style-judge pairs", "",
        f"Built by litstyle from the corpus chunks of {cfg.chunk_words} words (seed {ctx.recipe.run.seed})."
        if cfg.from_dataset is None else
        f"Pairs from the published set {cfg.from_dataset} (sentence1, sentence2, score; type as kind; authors and "
        "books not known); labelled/ and split.json from the corpus chunks as usual.",
        "Columns: sentence1, sentence2, score (0..1), kind (extreme | graded), author1/2, book1/2, mask1/2.", "",
        "- extreme: same author, different books = 1.0; different authors = 0.0",
        "- graded: longest sentences masked at ratios r1, r2 and rewritten by the rewriter LLM "
        f"({ctx.recipe.models.rewriter_llm}); integrity = sqrt((1-r1^2)(1-r2^2)), "
        "n = (max(integrity, 0.19) - 0.19) / 0.81; same author 0.5 + 0.5n (0.6..0.9), "
        "different authors 0.5(1 - n) (0.1..0.4); rounded to 0.1; 0.5 never used.",
        f"- split mode: {cfg.split} (author_disjoint: no author in two splits; book_disjoint: also "
        "test_books, one unseen book of each training author with 2+ books, paired with its other books; "
        "all_books: every book of the training authors in train, same-author pairs across books only"
        + (f"; {len(folds)} leave-book-out folds in split.json" if folds else "") + ")",
        f"- {FUSION_SPLIT}: validation-author pairs of {cfg.fusion_words} words, for the fused score's weights"
        if cfg.fusion_words else "",
        "- labelled/: the training chunks with author labels (for the triplet objectives)", "",
        "| split | pairs | graded | books | authors | score bins |", "|---|---:|---:|---:|---|---|",
    ]
    for split, c in counts.items():
        bins = ", ".join(f"{k}: {v}" for k, v in c["bins"].items())
        lines.append(f"| {split} | {c['pairs']} | {c['graded']} | {c['books']} | {'; '.join(c['authors'])} | {bins} |")
    return "\n".join(lines) + "\n"
