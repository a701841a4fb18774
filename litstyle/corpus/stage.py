"""Stage ``corpus``: catalog selection -> download -> cleaning -> chunking -> HF datasets.

Output in ``<run_dir>/corpus/``: ``books`` and ``chunks`` (``datasets.save_to_disk``),
``summary.md`` (selection and per-book table), and the manifest with sha256 and the decoding of every book
(``litstyle.corpus.clean.decode_book``), the failed books with their reasons (a failed download, a file
that is not English prose: ``litstyle.corpus.screen``, too few words after cleaning) and counts.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from tqdm.auto import tqdm

from litstyle.corpus import catalog as cat
from litstyle.corpus.chunk import pack, sentence_units
from litstyle.corpus.clean import clean_book, decode, decode_book
from litstyle.corpus.download import DownloadPolicy, fetch_books, fetch_text, is_url
from litstyle.corpus.screen import not_prose
from litstyle.errors import ConfigError, StageError
from litstyle.models import default_cache_dir
from litstyle.rundir import StageContext

log = logging.getLogger(__name__)

MIN_WORDS = 1000  # a cleaned book shorter than this is a failed download or not a book


def select(rows, recipe) -> list[cat.Book]:
    """The books of the recipe's ``corpus`` selection out of catalog ``rows`` (a bad selection: ConfigError)."""
    cfg = recipe.corpus
    try:
        return cat.select_books(
            rows, targets=cfg.targets, authors=recipe.run.authors, seed=recipe.run.seed, language=cfg.language,
            same_author_books=cfg.same_author_books, contrast_subjects=cfg.contrast_subjects,
            contrast_authors_per_subject=cfg.contrast_authors_per_subject,
            contrast_books_per_author=cfg.contrast_books_per_author, include=cfg.include, exclude=cfg.exclude)
    except cat.CatalogError as exc:
        raise ConfigError(f"{exc} (catalog {cfg.catalog})") from None


def build_corpus(ctx: StageContext) -> None:
    recipe = ctx.recipe
    cfg = recipe.corpus
    cache = Path(cfg.download.cache_dir or Path(recipe.models.cache_dir or default_cache_dir()) / "gutenberg")
    policy = DownloadPolicy(cfg.download.timeout_s, cfg.download.retries, cfg.download.backoff_s, cfg.download.workers)

    catalog_path = fetch_text(cfg.catalog, cache, policy)
    if not is_url(cfg.catalog):
        ctx.read_file(catalog_path)  # a local catalog or mirror book edited later makes the corpus stale
    rows, skipped_rows = cat.parse_catalog(decode(catalog_path.read_bytes()))
    books = select(rows, recipe)
    table = cat.selection_table(books)
    log.info("selected %d books:\n%s", len(books), table)

    paths, failed = fetch_books([b.id for b in books], cfg.mirror, cache, policy)
    book_rows, chunk_rows, sha256, encodings = [], [], {}, {}
    dropped_words = {t: 0 for t in cfg.chunk_words}
    wrapper_only: list[int] = []
    for book in tqdm(books, desc="clean+chunk", unit="book"):
        if book.id not in paths:
            continue
        raw = paths[book.id].read_bytes()
        sha256[book.id] = hashlib.sha256(raw).hexdigest()
        if not is_url(cfg.mirror):
            ctx.read_file(paths[book.id], sha256[book.id])
        decoded, encodings[book.id] = decode_book(raw)
        refused = not_prose(decoded)
        if refused:
            failed[book.id] = f"not a book in English prose: {refused} (decoded as {encodings[book.id]})"
            continue
        text, fell_back = clean_book(decoded)
        n_words = len(text.split())
        if fell_back:
            wrapper_only.append(book.id)
            log.warning("book %d (%s): full cleaning kept less than half of its words; kept the text between "
                        "the Gutenberg markers instead (%d words)", book.id, book.title, n_words)
        if n_words < MIN_WORDS:
            failed[book.id] = f"only {n_words} words after cleaning (< {MIN_WORDS})"
            continue
        book_rows.append({"id": book.id, "author": book.author, "title": book.title, "role": book.role,
                          "text": text, "n_words": n_words})
        units = sentence_units(text)
        for target in cfg.chunk_words:
            chunks, dropped = pack(units, target, cfg.chunk_tolerance)
            dropped_words[target] += dropped
            chunk_rows += [{"book_id": book.id, "author": book.author, "role": book.role, "target_words": target,
                            "chunk_idx": i, "text": chunk, "n_words": len(chunk.split())}
                           for i, chunk in enumerate(chunks)]
    for book_id, error in sorted(failed.items()):
        log.error("book %d not in the corpus: %s", book_id, error)
    if not book_rows:
        first = next(iter(failed.values()), "no book selected")
        raise StageError(f"corpus: no usable book ({len(failed)} failed; first error: {first})")
    missing_targets = [b.id for b in books if b.role == "target" and b.id in failed]
    if missing_targets:
        log.warning("target book(s) %s failed: later stages have no style reference for their authors",
                    missing_targets)

    _save(ctx.out_dir, book_rows, chunk_rows)
    (ctx.out_dir / "summary.md").write_text(_summary(table, book_rows, chunk_rows, failed, cfg.chunk_words))
    ctx.counts.update({
        "books_selected": len(books), "books": len(book_rows), "books_failed": len(failed),
        "catalog_rows": len(rows), "catalog_rows_skipped": skipped_rows,
        "words": sum(r["n_words"] for r in book_rows),
        "chunks": {str(t): sum(1 for c in chunk_rows if c["target_words"] == t) for t in cfg.chunk_words},
        "tail_words_dropped": {str(t): n for t, n in dropped_words.items()},
        "books_wrapper_only_cleaning": len(wrapper_only),
        "books_not_utf8": sum(1 for e in encodings.values() if not e.startswith("utf-8")),
    })
    ctx.extra.update({"sha256": {str(k): v for k, v in sha256.items()},
                      "decoding": {str(k): v for k, v in encodings.items()},
                      "failed": {str(k): v for k, v in sorted(failed.items())},
                      "wrapper_only_cleaning": wrapper_only,
                      "sources": {"catalog": cfg.catalog, "mirror": cfg.mirror}})


def _save(out: Path, book_rows: list[dict], chunk_rows: list[dict]) -> None:
    from datasets import Dataset, Features, Value

    books = Features({"id": Value("int32"), "author": Value("string"), "title": Value("string"),
                      "role": Value("string"), "text": Value("string"), "n_words": Value("int32")})
    chunks = Features({"book_id": Value("int32"), "author": Value("string"), "role": Value("string"),
                       "target_words": Value("int32"), "chunk_idx": Value("int32"), "text": Value("string"),
                       "n_words": Value("int32")})
    Dataset.from_list(book_rows, features=books).save_to_disk(str(out / "books"))
    Dataset.from_list(chunk_rows, features=chunks).save_to_disk(str(out / "chunks"))


def _summary(table: str, book_rows: list[dict], chunk_rows: list[dict], failed: dict[int, str],
             targets: list[int]) -> str:
    per_book: dict[tuple[int, int], int] = {}
    for row in chunk_rows:
        key = (row["book_id"], row["target_words"])
        per_book[key] = per_book.get(key, 0) + 1
    head = "| id | author | title | role | words | " + " | ".join(f"chunks@{t}" for t in targets) + " |"
    lines = ["# Corpus", "", "## Selection", "", table, "", "## Books", "", head,
             "|---:|---|---|---|---:|" + "---:|" * len(targets)]
    for r in book_rows:
        counts = " | ".join(str(per_book.get((r["id"], t), 0)) for t in targets)
        lines.append(f"| {r['id']} | {r['author']} | {r['title']} | {r['role']} | {r['n_words']} | {counts} |")
    if failed:
        lines += ["", "## Failed", ""] + [f"- {k}: {v}" for k, v in sorted(failed.items())]
    return "\n".join(lines) + "\n"
