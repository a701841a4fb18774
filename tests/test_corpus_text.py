"""Catalog reading/selection, Gutenberg cleaning on every shared book, and chunker properties."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gutenberg_server import CATALOG, SHARED
from litstyle.corpus import catalog as cat
from litstyle.corpus.chunk import pack, sentence_units, split_sentences, word_window
from litstyle.corpus.clean import clean_text, decode, strip_wrapper

OPENINGS = {
    76: "YOU don't know about me without you have read a book",
    98: "It was the best of times, it was the worst of times",
    1342: "It is a truth universally acknowledged",
    110: "On an evening in the latter part of May a middle-aged man",
    74: '"Tom!"',
    1400: "My father's family name being Pirrip",
    158: "Emma Woodhouse, handsome, clever, and rich",
    153: "The schoolmaster was leaving the village",
    2701: "Call me Ishmael.",
    1260: "There was no possibility of taking a walk that day.",
    84: "To Mrs. Saville, England.",
    43: "Mr. Utterson the lawyer was a man of a rugged countenance",
    1661: "To Sherlock Holmes she is always THE woman.",
    345: "3 May. Bistritz.--Left Munich at 8:35 P. M.",
    514: '"Christmas won\'t be Christmas without any presents," grumbled Jo',
}
FORBIDDEN = ["Gutenberg", "GUTENBERG", "\r", "\ufeff", "[Illustration", "\u201c", "\u201d", "\u2018", "\u2019",
             "\u2014", "_", "*** ", "CONTENTS", "Produced by", "Transcriber", "License", "LICENSE"]


@pytest.fixture(scope="module")
def cleaned() -> dict[int, str]:
    assert SHARED.is_dir(), f"the shared Gutenberg mirror is missing: {SHARED}"
    return {book: clean_text((SHARED / f"{book}.txt").read_bytes()) for book in OPENINGS}


@pytest.mark.parametrize("book", sorted(OPENINGS))
def test_every_book_cleans_to_story_text(cleaned: dict[int, str], book: int) -> None:
    text = cleaned[book]
    for bad in FORBIDDEN:
        assert bad not in text, f"{book}: {bad!r} left in the text"
    paragraphs = text.split("\n\n")
    assert paragraphs[0].startswith(OPENINGS[book]), paragraphs[0][:120]
    assert "\n\n\n" not in text and all(p == " ".join(p.split()) for p in paragraphs)
    assert not paragraphs[-1].upper().startswith("THE END") and len(text.split()) > 20_000
    raw_words = len(decode((SHARED / f"{book}.txt").read_bytes()).split())
    assert 0.85 * raw_words < len(text.split()) < raw_words  # wrapper gone, the story kept


def test_chapter_headings_and_contents_are_gone(cleaned: dict[int, str]) -> None:
    assert "CHAPTER I." not in cleaned[76] and "Chapter 1" not in cleaned[1342]
    assert "CHAPTER XXI Echoing Footsteps" not in cleaned[98] and "\n\nBook the First" not in cleaned[98]
    assert "Phase the First" not in cleaned[110]


def test_wrapper_variants_and_decoding() -> None:
    body = "Story text here.\n"
    for start, end in [
        ("*** START OF THE PROJECT GUTENBERG EBOOK X ***", "*** END OF THE PROJECT GUTENBERG EBOOK X ***"),
        ("***START OF THIS PROJECT GUTENBERG EBOOK A LONG\nTITLE***", "***END OF THIS PROJECT GUTENBERG EBOOK***"),
        ("*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*", "End of the Project Gutenberg EBook of X"),
    ]:
        assert strip_wrapper(f"header\nlicence\n{start}\n{body}{end}\nlicence text").strip() == body.strip()
    assert strip_wrapper("no markers at all") == "no markers at all"
    assert decode("caf\u00e9 \u201cquoted\u201d".encode("cp1252")) == "caf\u00e9 \u201cquoted\u201d"
    assert decode(b"\xef\xbb\xbfbom") == "bom" and decode(b"\x81\x8d") == "\x81\x8d"
    text = clean_text("*** START OF THE PROJECT GUTENBERG EBOOK T ***\r\n\r\nCHAPTER I.\r\n\r\n"
                      "[Illustration: a ship]\r\n\r\n\u201cIt is _very_ cold,\u201d said she\u2014and the wind "
                      "rose over the hills of\r\nthe north country all night long.\r\n"
                      "*** END OF THE PROJECT GUTENBERG EBOOK T ***")
    assert text == "\"It is very cold,\" said she--and the wind rose over the hills of the north country all night long."


def test_truncated_catalog_row_is_reported() -> None:
    rows, skipped = cat.parse_catalog(decode((SHARED / CATALOG).read_bytes()))
    assert skipped == 1 and rows[-1].id == 7701 and len(rows) > 7000
    by_id = {r.id: r for r in rows}
    assert by_id[76].author == "Twain, Mark" and by_id[1260].author == "Brontë, Charlotte"
    assert "Adventure stories" in by_id[76].subjects
    with pytest.raises(cat.CatalogError, match="not a Gutenberg catalog"):
        cat.parse_catalog("a,b,c\n1,2,3\n")


@pytest.mark.parametrize("raw,expected", [
    ("Twain, Mark, 1835-1910; Kemble, E. W. (Edward Windsor), 1861-1933 [Illustrator]", "Twain, Mark"),
    ("Shelley, Mary Wollstonecraft, 1797-1851", "Shelley, Mary Wollstonecraft"),
    ("Smith, John [Editor]; Doe, Jane, 1800?-1850", "Doe, Jane"),
    ("Homer, 751? BCE-651? BCE", "Homer"),
    ("United States", "United States"),
])
def test_primary_author(raw: str, expected: str) -> None:
    assert cat.primary_author(raw) == expected


def test_selection_is_deterministic_and_respects_roles() -> None:
    rows, _ = cat.parse_catalog(decode((SHARED / CATALOG).read_bytes()))
    authors = ["Twain, Mark", "Dickens, Charles", "Austen, Jane", "Hardy, Thomas"]
    kwargs = dict(targets=[76, 98, 1342, 110], authors=authors, same_author_books=2,
                  contrast_subjects=["Adventure stories", "Historical fiction"], contrast_authors_per_subject=3,
                  contrast_books_per_author=2, exclude=[74])
    first = cat.select_books(rows, seed=1, **kwargs)
    assert first == cat.select_books(rows, seed=1, **kwargs)
    assert first != cat.select_books(rows, seed=2, **kwargs)
    by_id = {r.id: r for r in rows}
    roles = {role: [b for b in first if b.role == role] for role in ("target", "same_author", "contrast")}
    assert sorted(b.id for b in roles["target"]) == [76, 98, 110, 1342]
    assert 74 not in {b.id for b in first}
    for book in roles["same_author"]:
        assert book.author in authors and by_id[book.id].type == "Text" and "en" in by_id[book.id].languages
    assert sum(1 for b in roles["same_author"] if b.author == "Twain, Mark") == 2
    contrast_authors = {b.author for b in roles["contrast"]}
    assert contrast_authors and not contrast_authors & set(authors) and len(contrast_authors) <= 6
    for book in roles["contrast"]:
        assert {"Adventure stories", "Historical fiction"} & set(by_id[book.id].subjects)
    with pytest.raises(cat.CatalogError, match=r"book 76 .* is by 'Twain, Mark', who is not in run.authors"):
        cat.select_books(rows, targets=[76], authors=["Austen, Jane"], seed=0)


# --- chunker properties ------------------------------------------------------------------------

WORDS = ["the", "Mr.", "Mrs.", "Dr.", "St.", "said", "I", "E.", "house", "river", "...", "well,", "yes;",
         '"Stop!"', '"Who?"', "he", "she", "cried.", "walked.", "Then", "It", "(and", "so)", "'Tis", "12.", "--"]
word = st.one_of(st.sampled_from(WORDS), st.text(string.ascii_letters, min_size=1, max_size=9))
sentence = st.lists(word, min_size=1, max_size=60).map(lambda ws: " ".join(ws) + ".")
paragraph = st.lists(sentence, min_size=1, max_size=8).map(" ".join)
document = st.lists(paragraph, min_size=1, max_size=12).map("\n\n".join)


@settings(max_examples=200, deadline=None)
@given(paragraph)
def test_sentences_lose_and_duplicate_nothing(text: str) -> None:
    sentences = split_sentences(text)
    assert " ".join(sentences).split() == text.split()
    assert all(s == s.strip() and s for s in sentences)


@settings(max_examples=200, deadline=None)
@given(document, st.sampled_from([8, 20, 50, 128]), st.sampled_from([0.15, 0.3]))
def test_packing_respects_targets_and_keeps_every_word(text: str, target: int, tolerance: float) -> None:
    units = sentence_units(text)
    chunks, dropped = pack(units, target, tolerance)
    low, high = word_window(target, tolerance)
    assert all(low <= len(c.split()) <= high for c in chunks)
    words = [w for c in chunks for w in c.split()]
    everything = text.split()
    assert words == everything[: len(words)] and len(words) + dropped == len(everything)
    assert dropped < low


def test_sentence_rules() -> None:
    assert split_sentences('"Stop!" he cried. Mr. Darcy bowed. E. W. Kemble drew it, said I. Then... Well? Yes.') == [
        '"Stop!" he cried.', "Mr. Darcy bowed.", "E. W. Kemble drew it, said I.", "Then...", "Well?", "Yes."]
    assert split_sentences("It was late... and dark. The end") == ["It was late... and dark.", "The end"]


def test_pack_prefers_whole_sentences_and_cuts_at_clauses() -> None:
    units = sentence_units("One two three four five. Six seven eight nine ten. " * 4)
    chunks, dropped = pack(units, 10, 0.15)
    assert chunks == ["One two three four five. Six seven eight nine ten."] * 4 and dropped == 0
    long = sentence_units("a " * 7 + "b, " + "c " * 20 + "d.")
    chunks, _ = pack(long, 10, 0.2)
    assert chunks[0].endswith("b,")  # the clause boundary nearest the target


def test_rows_swallowed_by_a_stray_quote_are_counted_and_named(caplog: pytest.LogCaptureFixture) -> None:
    """One stray quote in a title made the next row (a Twain book) vanish with a skipped count of 1."""
    lines = decode((SHARED / CATALOG).read_bytes()).splitlines()
    header, body = lines[0], [line for line in lines[1:] if line.split(",")[0] in ("74", "75", "76", "77")]
    assert len(body) == 4
    # a quote opens a title and runs on to the next quote, in the Twain row
    body[1] = body[1].replace(",E-mail 101,", ',"E-mail 101,', 1).replace('"Goodwin, John E."', "Goodwin John E.")
    rows, skipped = cat.parse_catalog("\n".join([header, *body]) + "\n")
    assert 76 not in [r.id for r in rows] and 74 in [r.id for r in rows]
    assert skipped == 2, skipped  # row 75 itself and row 76 inside it
    assert "a stray quote in the row of Text# 75 swallowed 1 row(s) after it (Text# 76)" in caplog.text
