"""Is a decoded file a book in English prose?  The corpus stage refuses one that is not, counted as a
failed book with the reason this module gives (one line in the log and the summary), before cleaning.

Refused, in this order: control or replacement characters above ``MAX_CONTROL`` of the characters (binary
data, or bytes decoded with the wrong charset); an HTML page (a ``<!DOCTYPE html>`` or ``<html>`` near the
start, or more than ``MAX_TAGS`` tags per 1,000 words: an error page saved as ``.txt``); letters below
``MIN_LETTERS`` of the non-space characters (noise, tables of numbers); and about a hundred of the most common
English words
below ``MIN_COMMON`` of the words (another language, or word salad).  The thresholds leave a wide margin
around the 138 shared books (measured: control 0, letters >= 0.92, common words >= 0.47, tags <= 0.02 per
1,000 words); ``tests/test_corpus_screen.py`` holds both sides.
"""

from __future__ import annotations

import re
import unicodedata

MAX_CONTROL = 0.001
MIN_LETTERS = 0.75
MIN_COMMON = 0.25
MAX_TAGS = 5.0  # per 1,000 words
_WORD = re.compile(r"[a-z]+")
_TAG = re.compile(r"<[a-zA-Z/!][^<>]{0,200}>")
_HTML_START = re.compile(r"<!doctype\s+html|<html[\s>]", re.I)
COMMON_WORDS = frozenset("""
the be to of and a in that have i it for not on with he as you do at this but his by from they we say her she
or an will my one all would there their what so up out if about who get which go me when make can like time no
just him know take people into year your good some could them see other than then now look only come its over
think also back after use two how our work first well way even new want because any these give day most us was
were had is are said has did been
""".split())


def not_prose(text: str) -> str | None:
    """Why ``text`` is not a book in English prose, or None when it is."""
    if not text:
        return "empty file"
    control = sum(1 for ch in text if ch == "\ufffd" or (ch not in "\n\r\t" and unicodedata.category(ch) == "Cc"))
    if control > MAX_CONTROL * len(text):
        return (f"{control / len(text):.1%} control or replacement characters (> {MAX_CONTROL:.1%}): binary data "
                "or the wrong charset")
    words = _WORD.findall(text.lower())
    tags = len(_TAG.findall(text))
    if _HTML_START.search(text[:5000]) or tags > MAX_TAGS * max(len(words), 1) / 1000:
        return f"an HTML page, not plain text ({tags} tags)"
    visible = sum(1 for ch in text if not ch.isspace())
    letters = sum(1 for ch in text if ch.isalpha())
    if letters < MIN_LETTERS * visible:
        return f"letters are {letters / max(visible, 1):.0%} of its characters (< {MIN_LETTERS:.0%}): not prose"
    common = sum(1 for w in words if w in COMMON_WORDS)
    if common < MIN_COMMON * max(len(words), 1):
        return (f"common English words are {common / max(len(words), 1):.0%} of its words (< {MIN_COMMON:.0%}): "
                "another language, or noise")
    return None
