"""Text views of the style judge: what the encoder reads, the same in training, benchmark and scoring.

- ``raw``: the text as it is.
- ``topic_masked``: text distortion in the sense of Stamatatos (2017, "single asterisk" variant):
  every word that is not among the ``keep_words`` most frequent words of the training chunks is
  replaced by ``*``.  Only words used by at least half of the training authors can be kept, so
  character and place names, however frequent in one book, are always masked, while function
  words, common words, punctuation and sentence shape stay.  Same-book names and topics stop being
  the signal; style is what remains.

A fitted view is saved next to the judge model (``litstyle_view.json``) and read back by
``litstyle.style.scorer.judge_scorer``, so a judge is always scored through the view it was trained on.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

VIEWS = ("raw", "topic_masked")
PLACEHOLDER = "*"
VIEW_FILE = "litstyle_view.json"
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")


@dataclass(frozen=True)
class TextView:
    name: str = "raw"
    keep: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def fit(cls, name: str, texts: Iterable[str], authors: Iterable[str], keep_words: int) -> TextView:
        """The view ``name`` fitted on training texts (and their authors, one per text)."""
        if name not in VIEWS:
            raise ValueError(f"unknown text view {name!r}: one of {', '.join(VIEWS)}")
        if name == "raw":
            return cls()
        counts: Counter[str] = Counter()
        users: dict[str, set[str]] = defaultdict(set)
        all_authors = set()
        for text, author in zip(texts, authors):
            all_authors.add(author)
            for word in _WORD.findall(text.lower()):
                counts[word] += 1
                users[word].add(author)
        shared = [w for w, _ in counts.most_common() if 2 * len(users[w]) >= len(all_authors)]
        return cls(name, frozenset(shared[:keep_words]))

    def apply(self, text: str) -> str:
        if self.name == "raw":
            return text
        return _WORD.sub(lambda m: m.group(0) if m.group(0).lower() in self.keep else PLACEHOLDER, text)

    def save(self, folder: Path | str) -> None:
        (Path(folder) / VIEW_FILE).write_text(json.dumps({"view": self.name, "keep_words": sorted(self.keep)}) + "\n")

    @classmethod
    def load(cls, folder: Path | str) -> TextView:
        """The view saved with a judge model; ``raw`` for a folder without one (e.g. a base encoder)."""
        path = Path(folder) / VIEW_FILE
        if not path.is_file():
            return cls()
        data = json.loads(path.read_text())
        return cls(data["view"], frozenset(data["keep_words"]))
