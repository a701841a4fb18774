"""Reading the corpus stage's output for the stages after it: each author's target book and its chunks
of one size, and a deterministic pick among them (so that the same row always draws the same chunk)."""

from __future__ import annotations

import hashlib

from litstyle import prompts
from litstyle.errors import ConfigError, StageError
from litstyle.rundir import StageContext


def author_books(ctx: StageContext, reference_words: int, key: str = "reference_words"
                 ) -> tuple[dict[str, dict], dict[str, list[str]]]:
    """Each author's target book (id, title) and the chunks of ``reference_words`` words of that book
    (``key``: the recipe key that chose the size, for the error message)."""
    from datasets import load_from_disk

    authors = ctx.recipe.run.authors
    if reference_words not in ctx.recipe.corpus.chunk_words:
        raise ConfigError(f"{ctx.name}.{key}: {reference_words} is not one of corpus.chunk_words "
                          f"{ctx.recipe.corpus.chunk_words}")
    books = prompts.target_books(load_from_disk(str(ctx.inputs["corpus"] / "books")), authors)
    missing = [a for a in authors if a not in books]
    if missing:
        raise StageError(f"{ctx.name}: no target book in the corpus for {missing}: add it to corpus.targets")
    chunks = load_from_disk(str(ctx.inputs["corpus"] / "chunks"))
    refs: dict[str, list[str]] = {a: [] for a in authors}
    ids = {b["id"]: a for a, b in books.items()}
    for book_id, words, text in zip(chunks["book_id"], chunks["target_words"], chunks["text"]):
        if words == reference_words and book_id in ids:
            refs[ids[book_id]].append(text)
    empty = [a for a, texts in refs.items() if not texts]
    if empty:
        raise StageError(f"{ctx.name}: the target books of {empty} have no {reference_words}-word chunk")
    return books, refs


def author_passages(ctx: StageContext, words: int, key: str) -> dict[str, list[str]]:
    """Each run author's chunks of ``words`` words from its books other than the target book (the one the
    style samples come from), or from the target book when the corpus has no other."""
    from datasets import load_from_disk

    books, target = author_books(ctx, words, key)
    chunks = load_from_disk(str(ctx.inputs["corpus"] / "chunks"))
    others: dict[str, list[str]] = {a: [] for a in books}
    for author, book_id, size, text in zip(chunks["author"], chunks["book_id"], chunks["target_words"], chunks["text"]):
        if size == words and author in others and book_id != books[author]["id"]:
            others[author].append(text)
    return {a: others[a] or target[a] for a in books}


def pick(options: list[str], *key: object) -> str:
    """A deterministic choice keyed by ``key`` (independent of the order of other choices)."""
    digest = hashlib.sha256(":".join(map(str, key)).encode()).digest()
    return options[int.from_bytes(digest[:8], "big") % len(options)]
