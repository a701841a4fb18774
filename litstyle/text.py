"""Small text measures shared by the SFT filters, the GRPO rewards and the evaluation.

Pure functions, no I/O: word counts that ignore punctuation, the story's ending line, word
n-gram overlap (copy rate) and distinct-n.
"""

from __future__ import annotations

import re
from typing import Iterable

END_LINE = "THE END."
# The reference code's ending test: the stripped completion ends with THE END (case-insensitive).
END_PATTERN = re.compile(r"THE\s?END[.!]*$", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")  # letters/digits; apostrophes inside a word


def words(text: str) -> list[str]:
    """Words without punctuation or spaces (``don't`` is one word, ``--`` is none)."""
    return _WORD.findall(text)


def count_words(text: str) -> int:
    return len(words(text))


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def ends_properly(text: str) -> bool:
    """The last non-empty line is exactly ``THE END.`` (what the prompt asks for)."""
    return last_line(text) == END_LINE


def ends_loosely(text: str) -> bool:
    """The reference code's test: ``THE\\s?END[.!]*$`` at the end of the stripped text, any case."""
    return bool(END_PATTERN.search(text.strip()))


def normalize_ending(text: str) -> str:
    """Rewrite a last line that says "The End", "THE END!", "**The End**"... as exactly ``THE END.``.

    Only a line that holds nothing but such an ending is touched; other texts come back stripped."""
    lines = text.strip().splitlines()
    if lines and re.fullmatch(r"[\s*_#\"'~-]*THE\s?END[.!]*[\s*_#\"'~-]*", lines[-1], re.IGNORECASE):
        lines[-1] = END_LINE
    return "\n".join(lines).strip()


def append_end_line(text: str) -> str:
    """Add ``THE END.`` after a story whose last character ends a sentence (not a cut-off one)."""
    text = normalize_ending(text)
    if ends_properly(text) or not re.search(r"[.!?][\"'”’)]*$", text):
        return text
    return f"{text}\n\n{END_LINE}"


def ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def copy_rate(text: str, sources: Iterable[str], n: int = 8) -> float:
    """Share of the text's words that lie inside a word n-gram also found in one of ``sources``
    (case-insensitive).  0.0 = nothing copied, 1.0 = every word is part of a copied span."""
    tokens = [w.lower() for w in words(text)]
    if len(tokens) < n:
        return 0.0
    seen: set[tuple[str, ...]] = set()
    for source in sources:
        seen |= ngrams([w.lower() for w in words(source)], n)
    covered = [False] * len(tokens)
    for i in range(len(tokens) - n + 1):
        if tuple(tokens[i:i + n]) in seen:
            covered[i:i + n] = [True] * n
    return sum(covered) / len(tokens)


def distinct_n(text: str, n: int = 2) -> float:
    """Unique word n-grams / all word n-grams (1.0 = no repetition); 0.0 for texts shorter than n."""
    tokens = [w.lower() for w in words(text)]
    total = len(tokens) - n + 1
    return len(ngrams(tokens, n)) / total if total > 0 else 0.0


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0
