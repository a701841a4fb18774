"""Gutenberg text -> clean story text: one paragraph per block, separated by a blank line.

Removes the Project Gutenberg wrapper (START/END variants) and licence, BOM and CRLF,
``[Illustration ...]`` tags, transcriber notes, footnote tags, front matter (title page, contents,
prefaces) and chapter headings, ``_italic_`` markers; normalises quotes, dashes and whitespace.
"""

from __future__ import annotations

import codecs
import re

_START = re.compile(r"\*{3}\s*START OF (?:THE |THIS )?PROJECT GUTENBERG[^*]*\*{3}", re.I)
_END = re.compile(r"\*{3}\s*END OF (?:THE |THIS )?PROJECT GUTENBERG[^*]*\*{3}"
                  r"|^\s*End of (?:the )?Project Gutenberg'?s?\b", re.I | re.M)
_OLD_HEADER_END = re.compile(r"\*END\*THE SMALL PRINT![^\n]*\n", re.I)

_REPLACEMENTS = tuple({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2014": "--", "\u2015": "--", "\u2013": "-", "\u2012": "-", "\u2010": "-", "\u2011": "-",
    "\u2026": "...", "\u00a0": " ", "\u2009": " ", "\u200a": " ", "\u200b": "", "\ufeff": "", "\u00ad": "",
}.items())
_BRACKET_NOTES = re.compile(r"\[_?(?:Illustration|Transcriber'?s?\s+Note|Footnote|Sidenote|Note)\b[^\]]*\]", re.I)
# Patterns start with a literal "_" so that the regex engine can skip ahead to candidates.
_ITALIC = re.compile(r"_(?<![\w_]_)([^_]+?)_(?![\w_])", re.S)
_STRAY_UNDERSCORE = re.compile(r"_(?:(?<=\S_)|(?=\S))")  # _any_body, try_inger_, in_ter._
_DROP_CAP = re.compile(r"(?<!\S)\|(?=[A-Za-z])")  # |MRS. Rachel Lynde ...: a drop-capital marker
_NOTE_PARAGRAPH = re.compile(r"^(?:Transcriber'?s?\s+Note|Produced by|E-?text (?:prepared|transcribed) by)", re.I)

_NUMBER = r"(?:[IVXLCDM]+|\d+|[A-Z][a-z]+(?:-[a-z]+)?|[A-Z]+)"
# "Strong" headings: the start of a chapter-like unit.
_STRONG = re.compile(
    rf"^(?:(?:CHAPTER|Chapter|CHAP\.|Chap\.|BOOK|Book|PART|Part|VOLUME|Volume|VOL\.|PHASE|Phase|STAVE|Stave"
    rf"|LETTER|Letter|ADVENTURE|Adventure|EPILOGUE|Epilogue|PROLOGUE|Prologue)\b\.?\s*{_NUMBER}?\b"
    rf"|[IVXLCDM]+\.?$|(?:[IVXLCDM]{{2,}}|[IVX])\.\s|\d+\.?$)"  # L., C., D., M. alone are initials
)
# A chapter line with its synopsis ("CHAPTER XVII. War--The American Forces Victorious--..."), however long.
_CHAPTER_LINE = re.compile(r"^(?:CHAPTER|Chapter|CHAP\.|Chap\.)\s+(?:[IVXLCDM]+|\d+)\b")
# Front matter that is never the story: an edition's publication history and imprint, the author's other
# works, and the headings of sections by the author or an editor before the story (preface, note, ...).
_FRONT_LINE = re.compile(r"^(?:(?:First|Second|Third|\w+th) (?:Published|Edition|Issued|Impression)\b|Published by\b"
                         r"|Printed by\b|Copyright\b|(?:London|New York|Boston|Edinburgh)[.,:]\s|(?:The )?Author of\b)")
_FRONT_HEADING = re.compile(r"^(?:Preface|Introduction|Introductory Note|Advertisement|Note|Prefatory Note|Foreword"
                            r"|Dedication|To the Reader|(?:Author|Editor|Publisher)'s Note|Extracts|Etymology)\b.{0,50}$",
                            re.I)
_UNIT = re.compile(r"^(?:(?:CHAPTER|Chapter|CHAP\.|Chap\.)\s+)?(?:[IVXLCDM]+|\d+)\.?$")  # "I", "CHAPTER 4."
_NUMBERED_ENTRY = re.compile(r"(?:^|\s)(?:\d+|[IVXLC]+)\.\s+['\"]?[A-Z]")
_BOILERPLATE = re.compile(r"Project Gutenberg|\bE-?text of\b", re.I)
_FIRST_UNIT = re.compile(r"(?:^|\s)(?:I|1|ONE|One|FIRST|First)(?:[.:\s]|$)")
_END_MARK = re.compile(r"^(?:THE\s+)?(?:END|FINIS)\.?$", re.I)
_SENTENCE_END = re.compile(r"""[.!?]['")\]]*$""")


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))  # UTF-32 LE before UTF-16 LE: FF FE 00 00
# single-byte editions of English books: the detector chooses among these (charset-normalizer)
SINGLE_BYTE = ("cp1252", "latin_1", "iso8859_15")


def decode_book(raw: bytes) -> tuple[str, str]:
    """(text, the decoding used): by its byte-order mark (UTF-8, UTF-16 or UTF-32, LE or BE), else strict
    UTF-8, else the single-byte charset that charset-normalizer finds most coherent among
    :data:`SINGLE_BYTE`, else Latin-1 (never fails; the prose screen then judges the text)."""
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            try:
                return raw.decode(encoding).lstrip("\ufeff"), f"{encoding} (BOM)"
            except UnicodeDecodeError:
                break
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    import charset_normalizer  # a dependency of requests

    best = charset_normalizer.from_bytes(raw, cp_isolation=list(SINGLE_BYTE)).best()
    if best is not None:
        return str(best), f"{best.encoding} (detected)"
    return raw.decode("latin-1"), "latin_1 (no charset fits)"


def decode(raw: bytes) -> str:
    """The text of ``raw`` (:func:`decode_book`)."""
    return decode_book(raw)[0]


def strip_wrapper(text: str) -> str:
    """The text between the Gutenberg START and END markers (licence and header removed)."""
    start = _START.search(text)
    if start is None:
        start = _OLD_HEADER_END.search(text)
    body = text[start.end():] if start else text
    end = _END.search(body)
    return body[: end.start()] if end else body


def normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    for char, replacement in _REPLACEMENTS:  # str.replace per character is much faster than translate
        if char in text:
            text = text.replace(char, replacement)
    text = _DROP_CAP.sub("", _BRACKET_NOTES.sub("", text))
    return _STRAY_UNDERSCORE.sub("", _ITALIC.sub(r"\1", text))


def paragraphs(text: str) -> list[str]:
    """Blank-line separated blocks, hard line wraps joined, whitespace collapsed.  A block with
    several chapter-like lines (a table of contents without blank lines) stays one line each."""
    out = []
    for block in re.split(r"\n[ \t]*\n", text):
        lines = [line.strip() for line in block.split("\n") if line.strip()]
        if sum(1 for line in lines if _STRONG.match(line)) >= 2:
            out.extend(" ".join(line.split()) for line in lines)
        elif lines:
            out.append(" ".join(" ".join(lines).split()))
    return out


def _words(p: str) -> int:
    return len(p.split())


def is_heading(p: str) -> bool:
    """Chapter-like lines (also long table-of-contents entries) and short all-caps lines."""
    if _STRONG.match(p):
        return _words(p) <= 30
    return p.isupper() and _words(p) <= 10  # isupper: every cased letter is a capital


def is_list(p: str) -> bool:
    """A table-of-contents line that packs several entries ("1. The Cyclone 2. The Council ..." or "The Blue
    Cross The Secret Garden The Queer Feet ..."): numbered entries, or mostly capitalised words and no sentence."""
    if len(_NUMBERED_ENTRY.findall(p)) >= 2:
        return True
    words = p.split()
    capitalised = sum(1 for w in words if w[:1].isupper() or not w[:1].isalpha())
    return len(words) >= 8 and capitalised >= 0.7 * len(words) and not p.isupper() and not re.search(r"[.!?;]['\")]*\s", p)


def is_front_matter(p: str) -> bool:
    """Lines around the story that are not prose of it: contents lines, imprints, boilerplate, drawings in
    characters (tables, boxes: few letters)."""
    letters = sum(c.isalpha() for c in p)
    return bool(is_list(p) or _FRONT_LINE.match(p) or _BOILERPLATE.search(p) or _NOTE_PARAGRAPH.match(p)
                or _CHAPTER_LINE.match(p) and not is_heading(p) or letters < 0.5 * len(p.replace(" ", "")))


def _is_prose(p: str) -> bool:
    return _words(p) >= 12 and any(c.islower() for c in p) and not is_heading(p) and not is_front_matter(p)


def _is_subtitle(p: str) -> bool:
    return _words(p) <= 8 and not _SENTENCE_END.search(p) or (p.startswith("(") and p.endswith(")")) or p.isupper()


def _prologue(paras: list[str], i: int, in_toc: list[bool]) -> int:
    """The heading before chapter heading ``i`` when what it heads is a long run of prose (a frame story or an
    untitled prologue, as in Ethan Frome), not a preface, a note or front matter; else ``i``."""
    j, prose = i - 1, 0
    while j >= 0 and not is_heading(paras[j]):
        if is_front_matter(paras[j]):
            return i
        prose += _is_prose(paras[j])
        j -= 1
    if j >= 0 and prose >= 10 and not in_toc[j] and not _FRONT_HEADING.match(paras[j]):
        return j
    return i


def body_start(paras: list[str]) -> int:
    """Index of the heading of the first story paragraph (or of the first prose paragraph).

    A chapter-like heading followed, past a few short lines (titles, datelines), by prose marks
    the start.  Headings in a run of three or more (a table of contents) never do, nor does a
    heading whose prose is followed by another chapter-like heading (an epigraph or a note).
    Without chapter-like headings, an all-caps heading followed by prose is used, then prose."""
    strong = [bool(_STRONG.match(p)) and (is_heading(p) or bool(_CHAPTER_LINE.match(p))) for p in paras]
    in_toc = [False] * len(paras)
    i = 0
    while i < len(paras):
        j, count = i, 0
        # a run of headings, each may be followed by its title line ("CHAPTER X" / "The Panic 142")
        while j < len(paras) and (strong[j] or (j > i and strong[j - 1] and j + 1 < len(paras) and strong[j + 1]
                                                and _words(paras[j]) <= 12 and not is_heading(paras[j])
                                                and not _is_prose(paras[j]))):
            count += strong[j]
            j += 1
        if count >= 3:  # the run's last heading may be the real first chapter right after the contents
            in_toc[i:j] = [True] * (j - i)
            in_toc[j - 1] = not _FIRST_UNIT.search(paras[j - 1])
        i = max(j, i + 1)
    for want_strong in (True, False):
        for i, p in enumerate(paras):
            if in_toc[i] or not is_heading(p) or strong[i] != want_strong:
                continue
            for j in range(i + 1, min(i + 9, len(paras))):
                # a preface or a note before the story (but "I" / "Introduction" is a chapter and its title)
                if strong[j] or (want_strong and _FRONT_HEADING.match(paras[j]) and not (j == i + 1 and _UNIT.match(p))):
                    break
                if _is_prose(paras[j]):
                    if j + 1 < len(paras) and strong[j + 1]:
                        break
                    return _prologue(paras, i, in_toc) if want_strong else i
    for i, p in enumerate(paras):
        if _is_prose(p):
            return i
    return 0


def wrapped_paragraphs(raw: str | bytes) -> list[str]:
    """The paragraphs between the Gutenberg markers, normalised (wrapper-only cleaning)."""
    text = decode(raw) if isinstance(raw, bytes) else raw
    return paragraphs(normalise(strip_wrapper(text.lstrip("\ufeff"))))


def clean_text(raw: str | bytes) -> str:
    """Full cleaning of one Gutenberg file. Returns paragraphs joined by blank lines."""
    return "\n\n".join(_clean(wrapped_paragraphs(raw)))


def clean_book(raw: str | bytes, min_share: float = 0.5) -> tuple[str, bool]:
    """Full cleaning, or wrapper-only cleaning (and True) when the full cleaning keeps less than
    ``min_share`` of the words: front-matter detection gone wrong on an unusual edition (e.g. one
    without a Gutenberg header and with verse or notes between its stories) must not lose the book."""
    paras = wrapped_paragraphs(raw)
    kept = _clean(paras)
    if sum(map(_words, kept)) < min_share * sum(map(_words, paras)):
        return "\n\n".join(paras), True
    return "\n\n".join(kept), False


def _clean(paras: list[str]) -> list[str]:
    paras = paras[body_start(paras):]
    tail = len(paras) - max(3, len(paras) // 20)  # "THE END" near the end: drop it and any back matter
    ends = [i for i, p in enumerate(paras) if i >= tail and _END_MARK.match(p)]
    if ends:
        paras = paras[: ends[0]]
    while paras and is_heading(paras[-1]):
        paras.pop()
    kept: list[str] = []
    after_heading = 0
    for p in paras:
        if is_heading(p) or is_front_matter(p) or p.upper() in ("CONTENTS", "CONTENTS.", "TABLE OF CONTENTS"):
            after_heading = 3
            continue
        if after_heading and _is_subtitle(p):
            after_heading -= 1
            continue
        after_heading = 0
        kept.append(p)
    return kept
