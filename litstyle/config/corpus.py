"""Section ``corpus``: which Project Gutenberg books, from where (catalog, mirror, download), and how to chunk them."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from litstyle.config.fields import Section, is_url


class DownloadConfig(Section):
    timeout_s: float = Field(30.0, gt=0)
    retries: int = Field(4, ge=0, le=20)
    backoff_s: float = Field(0.5, ge=0)
    workers: int = Field(2, ge=1, le=16)
    cache_dir: str | None = None  # default: <models cache>/gutenberg


GUTENBERG = "https://www.gutenberg.org"
PAPER_SUBJECTS = ["Adventure stories", "Historical fiction", "Young women -- Fiction",
                  "Man-woman relationships -- Fiction"]


class CorpusConfig(Section):
    """Stage ``corpus``: which Gutenberg books, from where, and how to chunk them."""

    catalog: str = f"{GUTENBERG}/cache/epub/feeds/pg_catalog.csv"  # path or URL
    mirror: str = GUTENBERG  # URL base (real Gutenberg path pattern) or a local folder of <id>.txt
    language: str = "en"
    targets: list[int] = Field(default_factory=lambda: [76, 98, 1342, 110], min_length=1)
    same_author_books: int = Field(1, ge=0)
    contrast_subjects: list[str] = Field(default_factory=lambda: list(PAPER_SUBJECTS))
    contrast_authors_per_subject: int = Field(3, ge=0)
    contrast_books_per_author: int = Field(2, ge=0)
    include: list[int] = Field(default_factory=list)
    exclude: list[int] = Field(default_factory=list)
    chunk_words: list[int] = Field(default_factory=lambda: [128, 500, 1500], min_length=1)
    chunk_tolerance: float = Field(0.15, gt=0.0, lt=1.0)
    download: DownloadConfig = Field(default_factory=DownloadConfig)

    @field_validator("catalog")
    @classmethod
    def _catalog_exists(cls, value: str) -> str:
        if not is_url(value) and not Path(value).expanduser().is_file():
            raise ValueError(f"file not found: {value} (give a path or an http(s) URL)")
        return value

    @field_validator("mirror")
    @classmethod
    def _mirror_exists(cls, value: str) -> str:
        if not is_url(value) and not Path(value).expanduser().is_dir():
            raise ValueError(f"folder not found: {value} (give a folder of <id>.txt or an http(s) URL base)")
        return value

    @field_validator("targets", "include", "exclude", "chunk_words")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        bad = [v for v in value if v <= 0]
        if bad:
            raise ValueError(f"values must be > 0, got {bad}")
        return value
