"""Story prompts shared by the SFT data, the GRPO prompts and the evaluation.

- ``load_plots``: the plot premises of ``prompts.plots_file`` (one per line, ``#`` comments).
- ``split_plots``: a deterministic train/test split of the plots (test plots are never trained on).
- ``story_prompt``: the chat messages of one prompt: a style-target block (author, title), the task
  with the recipe's word range and the plot, the constraints, then ``Story:``.  Plain string
  concatenation: braces or angle brackets in a plot are text.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

from litstyle.text import END_LINE

Messages = list[dict[str, str]]


def load_plots(path: str | Path) -> list[str]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    plots = [" ".join(line.split()) for line in lines if line.strip() and not line.lstrip().startswith("#")]
    seen: set[str] = set()
    duplicates = [p for p in plots if p in seen or seen.add(p)]  # type: ignore[func-returns-value]
    if duplicates:
        raise ValueError(f"{path}: plot listed twice: {duplicates[0]!r}")
    if len(plots) < 2:
        raise ValueError(f"{path}: needs at least 2 plots (one train, one test), found {len(plots)}")
    return plots


def split_plots(plots: Sequence[str], test_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """(train, test) plots: the ``round(n * test_fraction)`` plots (at least 1) with the smallest
    seeded hash are test plots.  Each list keeps the file's order; the split depends only on the
    plots and the seed."""
    n_test = min(len(plots) - 1, max(1, round(len(plots) * test_fraction)))
    ranked = sorted(plots, key=lambda p: hashlib.sha256(f"{seed}:{p}".encode()).hexdigest())
    test = set(ranked[:n_test])
    return [p for p in plots if p not in test], [p for p in plots if p in test]


def display_name(author: str) -> str:
    """``"Twain, Mark"`` -> ``"Mark Twain"`` (Gutenberg's "Last, First" order)."""
    last, sep, first = (part.strip() for part in author.partition(","))
    first = first.split("(")[0].strip()  # "Dickens, Charles (1812-1870)"
    return f"{first} {last}" if sep and first else last


EXCERPT_HEADING = "Excerpt {i} of the target style:"
SAMPLE_HEADING = "REFERENCE STYLE SAMPLE (MIMIC THIS VOICE):"  # the paper's few-shot format (one sample)


def story_prompt(author: str, title: str, plot: str, min_words: int, max_words: int, *,
                 system: str | None = None, excerpts: Sequence[str] = (), heading: str = EXCERPT_HEADING) -> Messages:
    """The chat messages that ask for one story.  ``excerpts`` (few-shot evaluation) are passages of the
    author shown before the task, each under ``heading`` (``{i}``: its number)."""
    parts = ["Style Target", f"Author: {display_name(author)}", f"Title: {title}", ""]
    for i, excerpt in enumerate(excerpts, 1):
        parts += [heading.format(i=i), excerpt.strip(), ""]
    parts += [
        f"Write an original, polished literary short story between {min_words:,} and {max_words:,} words "
        f"about {plot.strip().rstrip('.')} in this style.",
        "",
        "Constraints:",
        "- Do not name the author or the title.",
        f"- The final line must be exactly: {END_LINE}",
        "",
        "Story:",
    ]
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": "user", "content": "\n".join(parts)}]


def target_books(books, authors: Sequence[str]) -> dict[str, dict]:
    """``{author: {"id", "title"}}`` of each author's target book in the corpus ``books`` dataset."""
    found: dict[str, dict] = {}
    for row in books:
        if row["role"] == "target" and row["author"] in authors and row["author"] not in found:
            found[row["author"]] = {"id": int(row["id"]), "title": row["title"]}
    return found
