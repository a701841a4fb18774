"""Project Gutenberg catalog (``pg_catalog.csv``): tolerant reading and deterministic selection."""

from __future__ import annotations

import csv
import io
import logging
import random
import re
from dataclasses import dataclass
from typing import Iterable

log = logging.getLogger(__name__)

COLUMNS = ("Text#", "Type", "Issued", "Title", "Language", "Authors", "Subjects", "LoCC", "Bookshelves")


class CatalogError(ValueError):
    pass


@dataclass(frozen=True)
class CatalogRow:
    id: int
    type: str
    title: str
    languages: tuple[str, ...]
    author: str  # primary author, "Last, First" without dates
    subjects: tuple[str, ...]


@dataclass(frozen=True)
class Book:
    id: int
    author: str
    title: str
    role: str  # target | same_author | contrast


def primary_author(authors: str) -> str:
    """``"Twain, Mark, 1835-1910; Kemble, E. W. (Edward Windsor), 1861-1933 [Illustrator]"`` -> ``"Twain, Mark"``."""
    people = [p.strip() for p in authors.split(";") if p.strip()]
    if not people:
        return ""
    main = next((p for p in people if "[" not in p), people[0])
    main = re.sub(r"\s*\[[^\]]*\]", "", main)  # [Editor], [Illustrator]
    main = re.sub(r"\s*\([^)]*\)", "", main)  # (Edward Windsor)
    main = re.sub(r",\s*[^,]*\d[^,]*$", "", main)  # , 1835-1910 / , 1797?-1851 / , active 1800
    return " ".join(main.split()).strip(" ,")


SWALLOWED_ROW = re.compile(r"[\r\n]+(\d+),[A-Z][A-Za-z]*,")  # a catalog row's start (Text#, Type) inside a field


def parse_catalog(text: str) -> tuple[list[CatalogRow], int]:
    """Parse catalog CSV text. Returns (rows, skipped): malformed rows, rows swallowed by a stray quote
    and a truncated last row (the file does not end with a newline) are skipped and counted (each said in
    a warning), never fatal."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or [h.strip().lstrip("\ufeff") for h in header[: len(COLUMNS)]] != list(COLUMNS):
        raise CatalogError(f"not a Gutenberg catalog: expected columns {', '.join(COLUMNS)}, got {header!r}")
    raw = list(reader)
    skipped = 0
    if raw and not text.endswith(("\n", "\r")):
        log.warning("catalog: last row (Text# %s) is cut off mid-line; skipped", raw[-1][0] if raw[-1] else "?")
        raw.pop()
        skipped += 1
    rows = []
    for record in raw:
        # a stray quote opens a field that runs on over the next lines: the rows inside it are lost too
        swallowed = [m for value in record for m in SWALLOWED_ROW.findall(value)]
        if swallowed:
            log.warning("catalog: a stray quote in the row of Text# %s swallowed %d row(s) after it (Text# %s); "
                        "they are skipped: fix the quote in the catalog", record[0] if record else "?",
                        len(swallowed), ", ".join(swallowed))
            skipped += len(swallowed)
        if len(record) != len(header) or not record[0].strip().isdigit():
            skipped += 1
            continue
        fields = dict(zip(COLUMNS, record))
        rows.append(CatalogRow(
            id=int(fields["Text#"]),
            type=fields["Type"].strip(),
            title=" ".join(fields["Title"].split()),
            languages=tuple(x.strip() for x in fields["Language"].split(";") if x.strip()),
            author=primary_author(fields["Authors"]),
            subjects=tuple(x.strip() for x in fields["Subjects"].split(";") if x.strip()),
        ))
    if skipped:
        log.warning("catalog: %d malformed row(s) skipped, %d read", skipped, len(rows))
    return rows, skipped


def pick_upto(rng: random.Random, items: list, k: int) -> list:
    """At most ``k`` of ``items``, drawn with ``rng``, in their original order."""
    return items if len(items) <= k else sorted(rng.sample(items, k), key=items.index)


def select_books(rows: Iterable[CatalogRow], *, targets: list[int], authors: list[str], seed: int,
                 language: str = "en", same_author_books: int = 1, contrast_subjects: list[str] = (),
                 contrast_authors_per_subject: int = 3, contrast_books_per_author: int = 2,
                 include: list[int] = (), exclude: list[int] = ()) -> list[Book]:
    """Targets by id; extra books by the target authors; contrast authors by subject.

    Deterministic: candidates are sorted by id and sampled with ``random.Random(seed)``.
    """
    by_id = {row.id: row for row in rows}
    excluded = set(exclude)
    for key, ids in (("targets", targets), ("include", include)):
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise CatalogError(f"corpus.{key}: book(s) {missing} are not in the catalog")
    clash = sorted(excluded & set(targets))
    if clash:
        raise CatalogError(f"corpus.exclude: book(s) {clash} are also targets")
    chosen: dict[int, Book] = {}
    target_authors = []
    for book_id in targets:
        row = by_id[book_id]
        if row.author not in authors:
            raise CatalogError(f"corpus.targets: book {book_id} ({row.title}) is by {row.author!r}, "
                               f"who is not in run.authors {authors}")
        chosen[book_id] = Book(book_id, row.author, row.title, "target")
        target_authors.append(row.author)
    rng = random.Random(seed)

    def usable(row: CatalogRow) -> bool:
        return row.type == "Text" and language in row.languages and row.id not in excluded and row.id not in chosen

    ordered = sorted(by_id.values(), key=lambda r: r.id)
    for author in dict.fromkeys(target_authors):
        candidates = [r for r in ordered if r.author == author and usable(r)]
        for row in pick_upto(rng, candidates, same_author_books):
            chosen[row.id] = Book(row.id, row.author, row.title, "same_author")
    for subject in contrast_subjects:
        in_subject = [r for r in ordered if subject in r.subjects and r.author and r.author not in authors and usable(r)]
        subject_authors = sorted({r.author for r in in_subject})
        for author in pick_upto(rng, subject_authors, contrast_authors_per_subject):
            books = [r for r in in_subject if r.author == author and r.id not in chosen]
            for row in pick_upto(rng, books, contrast_books_per_author):
                chosen[row.id] = Book(row.id, row.author, row.title, "contrast")
    for book_id in include:
        if book_id in chosen or book_id in excluded:
            continue
        row = by_id[book_id]
        role = "same_author" if row.author in target_authors else "contrast"
        chosen[book_id] = Book(book_id, row.author, row.title, role)
    order = {"target": 0, "same_author": 1, "contrast": 2}
    return sorted(chosen.values(), key=lambda b: (order[b.role], b.author, b.id))


def selection_table(books: list[Book]) -> str:
    lines = ["| id | author | title | role |", "|---:|---|---|---|"]
    lines += [f"| {b.id} | {b.author} | {b.title.replace('|', '/')} | {b.role} |" for b in books]
    return "\n".join(lines)
