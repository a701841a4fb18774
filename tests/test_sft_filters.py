"""SFT story filters and the shared text measures: hand-made stories with known outcomes."""

from __future__ import annotations

import pytest

from litstyle.sft.filters import Candidate, counts, mark_duplicates, mark_style, rule_reason
from litstyle.text import (append_end_line, copy_rate, count_words, distinct_n, ends_loosely, ends_properly,
                           normalize_ending)

BODY = " ".join(f"word{i}" for i in range(50)) + "."


def story(text: str, author: str = "Twain, Mark", title: str = "Adventures of Huckleberry Finn",
          plot: str = "p", sample: int = 0, style: float | None = None) -> Candidate:
    return Candidate(author, title, plot, sample, text, style)


@pytest.mark.parametrize("text, reason", [
    (None, "failed"),
    (BODY, "no_end_line"),
    (BODY + "\nThe End.", "no_end_line"),  # exact line required (normalisation happens before)
    (BODY + "\nTHE END.\nP.S. more", "no_end_line"),
    ("Mark Twain was here. " + BODY + "\nTHE END.", "names_author_or_title"),
    ("Huck read Adventures of Huckleberry Finn. " + BODY + "\nTHE END.", "names_author_or_title"),
    ("Too short.\nTHE END.", "too_short"),
    (BODY + "\n\nTHE END.", None),
])
def test_rule_reasons(text: str | None, reason: str | None) -> None:
    assert rule_reason(story(text), min_words=40) == reason


def test_duplicates_exact_anywhere_near_within_prompt() -> None:
    base = BODY + "\nTHE END."
    near = base.replace("word49", "other")
    stories = [story(base, plot="a"), story(base.upper(), plot="b"), story(near, plot="a", sample=1),
               story(near, plot="c"), story("Something else entirely, told well.\nTHE END.", plot="a", sample=2)]
    mark_duplicates(stories, threshold=0.8)
    assert [s.reason for s in stories] == [None, "duplicate", "duplicate", None, None]


def test_style_threshold_and_keep_top() -> None:
    stories = [story("a", style=0.5), story("b", style=0.3), story("c", style=None), story("d", style=0.9),
               story("e", author="Austen, Jane", style=0.1)]
    mark_style(stories, min_style=0.4, keep_top=None)
    assert [s.reason for s in stories] == [None, "low_style", "low_style", None, "low_style"]
    for s in stories:
        s.reason = None
    mark_style(stories, min_style=0.4, keep_top=0.5)  # best half per author, rounded up
    assert [s.reason for s in stories] == [None, "low_style", "low_style", None, None]
    assert counts(stories)["kept"] == 3 and counts(stories)["dropped_low_style"] == 2


def test_endings() -> None:
    assert normalize_ending("Done.\n**The End!**  \n") == "Done.\nTHE END."
    assert normalize_ending("The end of the road was near.") == "The end of the road was near."
    assert append_end_line('He went "home."') == 'He went "home."\n\nTHE END.'
    assert append_end_line("A story cut off in the mid") == "A story cut off in the mid"
    assert ends_properly("x\nTHE END.\n\n") and not ends_properly("x THE END.")
    assert ends_loosely("x the end!!") and ends_loosely("x THEEND") and not ends_loosely("THE END. more")


def test_word_counts_copy_rate_distinct() -> None:
    assert count_words("Don't stop -- it's 3 o'clock, Tom!") == 6
    source = "one two three four five six seven eight nine ten"
    assert copy_rate("one two three four five six seven eight", [source]) == 1.0
    assert copy_rate("zero one two three four five six seven eight xx yy", [source]) == pytest.approx(8 / 11)
    assert copy_rate("one two three four five six seven nine", [source]) == 0.0
    assert copy_rate("ONE two three four, five six seven eight!", [source]) == 1.0  # case and punctuation
    assert distinct_n("a b a b a b", 2) == pytest.approx(2 / 5)
    assert distinct_n("a", 2) == 0.0
