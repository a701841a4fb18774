"""Evaluation statistics on hand-made numbers: scaled style, attribution, bootstrap CIs, paired differences;
the story cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from litstyle.eval.metrics import attribute, bootstrap_ci, centroids, paired_diff_ci
from litstyle.style.calibration import anchors, calibrate, scaled_style
from litstyle.eval.report import summarize
from litstyle.eval.stage import items


@pytest.mark.parametrize("cos, expected", [(0.2, 0.0), (0.6, 0.0), (0.65, 0.5), (0.7, 1.0), (0.95, 1.0)])
def test_scaled_style_clips_at_both_ends(cos: float, expected: float) -> None:
    assert scaled_style(cos, low=0.6, high=0.7) == pytest.approx(expected)


def test_scaled_style_paper_calibration_and_bad_calibration() -> None:
    assert scaled_style(0.0597 + (0.8192 - 0.0597) / 4, 0.0597, 0.8192) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="calibration maps 1 to 0.5 <= 0.6 mapped to 0"):
        scaled_style(0.5, low=0.6, high=0.5)


def test_quartile_calibration_on_a_planted_distribution() -> None:
    """Cross-author cosines 0.00..0.40 and same-author 0.40..0.80 (step 0.01, 41 each): the paper's scale
    runs from the cross-author Q1 (0.10) to the same-author Q3 (0.70); the medians' from 0.20 to 0.60."""
    cross = [i / 100 for i in range(41)]
    same = [0.4 + i / 100 for i in range(41)]
    cal = calibrate(same, cross)
    assert cal == pytest.approx({"cross_q1": 0.10, "cross_median": 0.20, "cross_q3": 0.30,
                                 "same_q1": 0.50, "same_median": 0.60, "same_q3": 0.70})
    assert anchors(cal, "quartiles") == pytest.approx((0.10, 0.70))
    assert anchors(cal, "medians") == pytest.approx((0.20, 0.60))
    assert anchors(cal, "fixed", [0.0597, 0.8192]) == (0.0597, 0.8192)
    # the same story is scaled lower on the wider (paper) band, and stories reach 0 and 1 less often
    assert scaled_style(0.55, *anchors(cal, "quartiles")) == pytest.approx(0.75)
    assert scaled_style(0.55, *anchors(cal, "medians")) == pytest.approx(0.875)
    ends = [scaled_style(c, *anchors(cal, scale)) in (0.0, 1.0) for scale in ("quartiles", "medians")
            for c in cross + same]
    assert sum(ends[:82]) < sum(ends[82:])
    with pytest.raises(KeyError, match="rerun it with --force --only judge_benchmark"):
        anchors({"cross_median": 0.2, "same_median": 0.6}, "quartiles")


def test_attribution_on_planted_embeddings() -> None:
    rng = np.random.default_rng(0)
    axes = np.eye(3)
    labels = ["Austen"] * 5 + ["Dickens"] * 5 + ["Twain"] * 5
    chunks = np.concatenate([axes[i] + 0.1 * rng.normal(size=(5, 3)) for i in range(3)])
    names, centres = centroids(chunks / np.linalg.norm(chunks, axis=1, keepdims=True), labels)
    assert names == ["Austen", "Dickens", "Twain"]
    stories = np.array([[0.1, 0.9, 0.1], [0.8, 0.3, 0.0], [0.0, 0.2, 0.95]])
    stories /= np.linalg.norm(stories, axis=1, keepdims=True)
    assert attribute(stories, names, centres) == ["Dickens", "Austen", "Twain"]


def test_bootstrap_ci_contains_the_mean_and_narrows_with_n() -> None:
    rng = np.random.default_rng(1)
    small, large = rng.normal(0.5, 0.2, 20), rng.normal(0.5, 0.2, 2000)
    m1, lo1, hi1 = bootstrap_ci(small, seed=3)
    m2, lo2, hi2 = bootstrap_ci(large, seed=3)
    assert lo1 <= m1 <= hi1 and lo2 <= m2 <= hi2
    assert (hi2 - lo2) < (hi1 - lo1) / 4
    assert bootstrap_ci([0.3]) == (0.3, 0.3, 0.3)
    assert bootstrap_ci(small, seed=3) == bootstrap_ci(small, seed=3)


def test_paired_difference_of_identical_systems_is_zero() -> None:
    values = list(np.linspace(0, 1, 30))
    assert paired_diff_ci(values, values) == (0.0, 0.0, 0.0)
    shifted = [v + 0.1 for v in values]
    diff, low, high = paired_diff_ci(shifted, values)
    assert diff == pytest.approx(0.1) and low == pytest.approx(0.1) and high == pytest.approx(0.1)
    with pytest.raises(ValueError, match="paired samples differ in length"):
        paired_diff_ci([1.0], [1.0, 2.0])


def test_paired_ci_finds_a_planted_shift_in_noise_and_none_between_equal_systems() -> None:
    """40 items whose difficulty varies far more than the systems do (as plots do): a +0.05 shift with noise
    is found (CI above 0), and two systems drawn alike around the same items get a CI covering 0."""
    rng = np.random.default_rng(7)
    items = rng.normal(0.5, 0.2, 40)
    base = items + rng.normal(0, 0.03, 40)
    diff, low, high = paired_diff_ci(list(items + 0.05 + rng.normal(0, 0.03, 40)), list(base), seed=1)
    assert 0.03 < diff < 0.07 and low > 0 and high < 0.1
    diff, low, high = paired_diff_ci(list(items + rng.normal(0, 0.03, 40)), list(base), seed=1)
    assert low < 0 < high and abs(diff) < 0.02


def _record(system: str, author: str, plot: str, style: float | None, failed: bool = False) -> dict:
    metrics = {} if failed else {"style_scaled": style, "style": style, "attributed": 1.0, "content": None,
                                 "completeness": 0.5, "end": 1.0, "words": 100, "copy_rate": 0.0, "distinct_2": 0.9}
    return {"system": system, "author": author, "plot": plot, "k": 0, "failed": failed, **metrics}


def test_summary_counts_failures_skips_missing_and_pairs_by_item() -> None:
    records = [_record("sft", "A", "p1", 0.2), _record("sft", "A", "p2", 0.4), _record("grpo", "A", "p1", 0.5),
               _record("grpo", "A", "p2", None, failed=True)]
    summary = summarize(records, ["sft", "grpo"], n_boot=200, seed=0)
    assert summary["failures"] == {"sft": 0, "grpo": 1}
    assert summary["overall"]["sft"]["style_scaled"]["mean"] == pytest.approx(0.3)
    assert summary["overall"]["grpo"]["style_scaled"]["n"] == 1
    assert summary["overall"]["sft"]["content"]["n"] == 0  # content not scored: no number, not 0
    (pair,) = [p for p in summary["paired"] if p["metric"] == "style_scaled"]
    assert (pair["a"], pair["b"], pair["n"]) == ("grpo", "sft", 1) and pair["diff"] == pytest.approx(0.3)


def test_items_cycle_rows_of_a_plot() -> None:
    rows = [{"author": "A", "title": "T", "plot": "p", "prompt": [{"role": "user", "content": "x"}],
             "sample_text": f"s{i}"} for i in range(2)]
    got = items(rows, per_plot=3)
    assert [(i["k"], i["sample_text"]) for i in got] == [(0, "s0"), (1, "s1"), (2, "s0")]


def test_an_inverted_calibration_is_said_not_hidden() -> None:
    """A judge whose same-author median is not above the cross-author one has no scale: the report says
    so (the stories keep every other metric; their scaled style is None and counts nowhere)."""
    from litstyle.eval.report import scale_warning

    assert scale_warning(None) == [] and scale_warning({"name": "fine-tuned", "separates": True}) == []
    lines = scale_warning({"name": "fine-tuned", "separates": False, "scale": "medians", "high": 0.468, "low": 0.482})
    assert lines[0].startswith("**Scaled style is left out:**") and "(medians) maps 1 to 0.468 <= 0.482" in lines[0]
    summary = summarize([{"system": "s", "author": "a", "plot": "p", "k": 0, "failed": False, "style_scaled": None,
                          "style": 0.4}], ["s"], 100, 0)
    assert summary["overall"]["s"]["style_scaled"]["n"] == 0 and summary["overall"]["s"]["style"]["n"] == 1


def test_story_cache_retries_failed_stories_and_survives_a_cut_line(tmp_path: Path) -> None:
    from litstyle.eval.stage import StoryCache

    path = tmp_path / "stories.jsonl"
    cache = StoryCache(path)
    cache.add([{"key": "a", "text": "kept", "failed": False}, {"key": "b", "text": None, "failed": True}])
    with open(path, "a") as handle:
        handle.write('{"key": "c", "te')  # killed mid-line
    StoryCache(path).add([{"key": "d", "text": "after the cut", "failed": False}])
    again = StoryCache(path)
    assert set(again.records) == {"a", "d"} and again.reused == 2  # b is asked again, d was not swallowed


def test_the_papers_tables_list_every_system_author_and_mode_with_n() -> None:
    from litstyle.eval.report import paper_tables

    def rec(system: str, author: str, style: float, scaled: float | None, failed: bool = False) -> dict:
        return {"system": system, "author": author, "style": style, "style_scaled": scaled, "failed": failed}

    records = [rec("grpo", "A", 0.4, 0.5), rec("grpo", "A", 0.6, 0.7), rec("grpo", "B", 0.2, 0.1),
               rec("grpo", "B", 0.0, None, failed=True), rec("grpo few", "A", 0.5, 0.5), rec("grpo few", "B", 0.3, 0.3)]
    lines = paper_tables(records, {"grpo": "zero_shot", "grpo few": "few_shot"}, ["A", "B"])
    zero, few = lines.index("### Zero-shot"), lines.index("### Few-shot")
    assert lines[zero + 2] == "| system | A | B | all authors |"
    assert lines[zero + 4] == ("| grpo | 0.500 ± 0.141 / 0.600 ± 0.141 (n=2) | 0.200 ± 0.000 / 0.100 ± 0.000 "
                               "(n=1, 1 failed) | 0.400 ± 0.200 / 0.433 ± 0.306 (n=3, 1 failed) |")
    assert lines[few + 4].startswith("| grpo few | 0.500 ± 0.000 / 0.500 ± 0.000 (n=1) |")
    assert paper_tables(records, {"grpo": "zero_shot"}, ["A"]).count("### Few-shot") == 0
    # per-author models (each system writes for its own author only) share one row through their label
    per_author = [rec("grpo-a", "A", 0.4, 0.5), rec("grpo-b", "B", 0.2, 0.1)]
    lines = paper_tables(per_author, {"grpo-a": "zero_shot", "grpo-b": "zero_shot"}, ["A", "B"],
                         {"grpo-a": "grpo per author", "grpo-b": "grpo per author"})
    assert lines[4:] == ["| grpo per author | 0.400 ± 0.000 / 0.500 ± 0.000 (n=1) | 0.200 ± 0.000 / 0.100 ± 0.000 (n=1) "
                         "| 0.300 ± 0.141 / 0.300 ± 0.283 (n=2) |", ""]


def test_a_system_for_some_authors_writes_only_their_rows() -> None:
    from litstyle.config import EvalSystem
    from litstyle.eval.stage import writes

    twain = EvalSystem(name="t", kind="zero_shot", model="VibrantVista/Twain_Mark", authors=["Twain, Mark"])
    assert writes(twain, {"author": "Twain, Mark"}) and not writes(twain, {"author": "Austen, Jane"})
    assert writes(EvalSystem(name="all", kind="grpo"), {"author": "Austen, Jane"})


def test_system_modes_prompts_and_sampling(tmp_path: Path) -> None:
    """Every kind in either mode; the paper's few-shot puts the row's sample first; a system prompt and
    sampling settings of a system replace the eval section's (seen in the requests a server receives)."""
    from types import SimpleNamespace

    from conftest import DEMO
    from fault_llm_server import FaultServer
    from litstyle.config import EvalSystem, load_recipe
    from litstyle.eval.stage import Generator, generate, system_prompts

    recipe = load_recipe(DEMO, [f"run.run_dir={tmp_path}"])
    ctx = SimpleNamespace(recipe=recipe)
    item = {"author": "Twain, Mark", "title": "Roughing It", "plot": "a river race", "k": 0,
            "prompt": [{"role": "user", "content": "THE ROW'S PROMPT"}], "sample_text": "THE SAMPLE TEXT"}
    plain = EvalSystem(name="g", kind="grpo")
    assert plain.prompt_mode == "zero_shot" and system_prompts(ctx, plain, [item]) == [item["prompt"]]
    paper = EvalSystem(name="g few", kind="grpo", mode="few_shot", shot_source="sample", system_prompt="HARD RULES")
    (messages,) = system_prompts(ctx, paper, [item])
    assert messages[0] == {"role": "system", "content": "HARD RULES"}
    user = messages[1]["content"]
    assert "REFERENCE STYLE SAMPLE (MIMIC THIS VOICE):\nTHE SAMPLE TEXT\n" in user
    assert user.index("THE SAMPLE TEXT") < user.index("Write an original") and "about a river race" in user
    with pytest.raises(ValueError, match="kind zero_shot is mode zero_shot, not few_shot"):
        EvalSystem(name="z", kind="zero_shot", mode="few_shot")
    with FaultServer(answer="A story.\nTHE END.") as server:
        baseline = EvalSystem(name="b", kind="external", model="m", base_url=server.base_url, temperature=1.0,
                              min_p=0.05, max_new_tokens=77, system_prompt="HARD RULES")
        texts, _ = generate(ctx, baseline, [item], Generator(ctx), "m")  # external: the generator is never started
        default = EvalSystem(name="d", kind="external", model="m", base_url=server.base_url)
        generate(ctx, default, [item], Generator(ctx), "m")
    assert texts == ["A story.\nTHE END."]
    first, second = server.bodies
    assert (first["temperature"], first["min_p"], first["max_tokens"]) == (1.0, 0.05, 77)
    assert first["messages"][0] == {"role": "system", "content": "HARD RULES"}
    assert (second["temperature"], second["max_tokens"]) == (recipe.eval.temperature, recipe.eval.max_new_tokens)
    assert "min_p" not in second and "repetition_penalty" not in second


def test_the_independent_classifier_attributes_unseen_chunks_of_real_books() -> None:
    """Trained on 500-word chunks of six authors' books (the shared corpus), it names the author of a chunk
    from a part of the book it never read; the same words shuffled across the six authors lose that."""
    import random

    from conftest import REPO
    from litstyle.eval.metrics import AuthorClassifier

    books = {"Twain": 76, "Dickens": 98, "Austen": 1342, "Hardy": 110, "Melville": 2701, "Shelley": 84}
    train, held = [], {}
    for author, book in books.items():
        words = (REPO.parent / "shared" / "corpus" / "gutenberg" / f"{book}.txt").read_text(errors="ignore").split()
        body = words[len(words) // 10: len(words) * 9 // 10]  # no licence or contents pages
        chunks = [" ".join(body[i:i + 500]) for i in range(0, len(body) - 500, 500)]
        train += [(author, c) for c in chunks[: len(chunks) // 2][:30]]
        held[author] = chunks[-1]  # the end of the book: never in training
    clf = AuthorClassifier([t for _, t in train], [a for a, _ in train], seed=0)
    assert sorted(clf.authors) == sorted(books)
    own = dict(zip(held, clf.predict(list(held.values()), list(held))))
    assert sum(top == author for author, (_, top) in own.items()) >= 5
    assert np.mean([p for p, _ in own.values()]) > 0.4  # chance is 1/6
    pooled = " ".join(held.values()).split()
    random.Random(0).shuffle(pooled)
    mixed = [" ".join(pooled[i * 500:(i + 1) * 500]) for i in range(len(held))]
    shuffled = clf.predict(mixed, list(held))
    assert np.mean([p for p, _ in shuffled]) < np.mean([p for p, _ in own.values()]) - 0.15
    assert clf.predict(["a text"], ["Nobody, A."])[0][0] == 0.0  # an author it never saw: P 0, not an error


def test_openings_show_the_same_plots_for_every_system_that_wrote() -> None:
    from litstyle.eval.report import openings

    def rec(system: str, plot: str, text: str | None) -> dict:
        return {"system": system, "author": "Twain, Mark", "plot": plot, "k": 0, "text": text, "failed": text is None}

    records = [rec("sft", "p1", None), rec("sft", "p2", "word " * 200), rec("sft", "p3", "short one"),
               rec("grpo", "p1", "a b"), rec("grpo", "p2", "other " * 10), rec("grpo", "p3", "x y"),
               rec("broken", "p1", None), rec("broken", "p2", None)]
    lines = openings(records, ["sft", "grpo", "broken"], n=3, words=120)
    assert [line for line in lines if line.startswith("**")] == ["**Twain, Mark**, plot: p2 (story 0)",
                                                                 "**Twain, Mark**, plot: p3 (story 0)"]
    assert "- *sft*: " + "word " * 119 + "word ..." in lines and "- *sft*: short one" in lines
    assert not any("broken" in line for line in lines)
