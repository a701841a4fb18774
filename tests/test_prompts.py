"""The shared story prompt and plot split: contents, determinism, hostile plots."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REPO
from litstyle.prompts import display_name, load_plots, split_plots, story_prompt

PLOTS = REPO / "data" / "plots.txt"


def test_plot_file_has_fifty_distinct_premises() -> None:
    plots = load_plots(PLOTS)
    assert len(plots) >= 50 and len(set(plots)) == len(plots)
    assert all(len(p.split()) >= 6 for p in plots)


def test_prompt_holds_author_title_plot_range_and_rules() -> None:
    messages = story_prompt("Twain, Mark", "Adventures of Huckleberry Finn", "a raft drifts past a burning town",
                            1200, 1500)
    assert [m["role"] for m in messages] == ["user"]
    text = messages[0]["content"]
    assert text.startswith("Style Target\nAuthor: Mark Twain\nTitle: Adventures of Huckleberry Finn\n")
    assert ("Write an original, polished literary short story between 1,200 and 1,500 words about "
            "a raft drifts past a burning town in this style.") in text
    assert "- Do not name the author or the title." in text
    assert "- The final line must be exactly: THE END." in text
    assert text.endswith("\nStory:")
    assert story_prompt("Twain, Mark", "T", "p", 100, 150) == story_prompt("Twain, Mark", "T", "p", 100, 150)


def test_system_message_and_excerpts() -> None:
    messages = story_prompt("Austen, Jane", "Emma", "a ball", 100, 150, system="You are a novelist.",
                            excerpts=["It is a truth universally acknowledged."])
    assert messages[0] == {"role": "system", "content": "You are a novelist."}
    assert "Excerpt 1 of the target style:\nIt is a truth universally acknowledged." in messages[1]["content"]


@pytest.mark.parametrize("plot", ["a {plot} with {braces} and {0}", "a <story> tag </story> and <|im_end|>",
                                  "50% of a %s string"])
def test_hostile_plots_are_plain_text(plot: str) -> None:
    text = story_prompt("Hardy, Thomas", "Tess", plot, 10, 20)[0]["content"]
    assert f"about {plot} in this style." in text


def test_display_names() -> None:
    assert display_name("Twain, Mark") == "Mark Twain"
    assert display_name("Dickens, Charles (1812-1870)") == "Charles Dickens"
    assert display_name("Homer") == "Homer"


def test_split_is_deterministic_disjoint_and_sized() -> None:
    plots = load_plots(PLOTS)
    train, test = split_plots(plots, 0.2, seed=42)
    assert (train, test) == split_plots(list(plots), 0.2, seed=42)
    assert not set(train) & set(test) and len(train) + len(test) == len(plots)
    assert len(test) == round(len(plots) * 0.2)
    assert split_plots(plots, 0.2, seed=7)[1] != test
    # adding a plot does not move the others between train and test more than the new rank allows
    assert len(set(split_plots(plots + ["a brand new premise for a story"], 0.2, 42)[1]) ^ set(test)) <= 2


def test_bad_plot_files(tmp_path: Path) -> None:
    twice = tmp_path / "twice.txt"
    twice.write_text("a plot\n# comment\na plot\n")
    with pytest.raises(ValueError, match="plot listed twice: 'a plot'"):
        load_plots(twice)
    one = tmp_path / "one.txt"
    one.write_text("only one\n")
    with pytest.raises(ValueError, match="needs at least 2 plots"):
        load_plots(one)
