"""Judge benchmark on the shared corpus: the judges and the word / char baselines are above chance on unseen
authors and on the leave-book-out folds (a judge per fold, trained without its books); the same-book
diagnostic, report, plots and calibration are written.  (At this toy size, 16 steps of cross-book pairs, the
judge does not beat the base encoder; the full judge_cpu run's numbers are in the README.)"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO
from litstyle.config import load_recipe
from litstyle.errors import StageError
from litstyle.judge.benchmark import auc_eer, bootstrap_auc, per_author_auc, same_book_pairs
from litstyle.style.stylometry import CharNgrams, FunctionWords
from litstyle.rundir import run_stage

# config/judge_cpu.yaml (all 138 books, all_books, fused at 500 words, the verifier) cut to 2 leave-book-out
# folds, 960 extreme pairs, 16 steps of 128-word pairs per judge (3 judges; a MiniLM step of 32 texts is ~8 s
# on one CPU core), verifiers on 10 chunks a book, pairs at 128 words, profiles at 128 and 500.
JUDGE_CPU = REPO / "config" / "judge_cpu.yaml"
RECIPE = ["judge_pairs.folds=2", "judge.verifier.chunks_per_book=10", "judge_benchmark.profile_words=[128, 500]",
          "judge_benchmark.chunk_words=[128]", "judge_benchmark.pairs_per_class=150",
          "judge_benchmark.bootstrap=200", "judge_pairs.train_pairs=960", "judge_pairs.eval_pairs=60",
          "judge.max_steps=16", "judge.max_seq_length=128", "judge.eval_steps=8", "judge.save_steps=8",
          "judge.fused_reference_chunks=500"]


def test_auc_eer_and_function_words() -> None:
    assert auc_eer(np.array([0.9, 0.8, 0.7]), np.array([0.1, 0.2, 0.3])) == (1.0, 0.0)
    auc, eer = auc_eer(np.array([0.1, 0.2]), np.array([0.9, 0.8]))
    assert auc == 0.0 and eer == 1.0
    fw = FunctionWords(["the cat and the dog", "a cat of the house", "the the the and"], n=4)
    assert fw.vocab[0] == "the" and len(fw.vocab) == 4
    emb = fw.embed(["the dog and the cat", "of a house"])
    assert emb.shape == (2, 4) and np.allclose(np.linalg.norm(emb, axis=1), 1.0)


def test_char_ngrams_and_auc_statistics() -> None:
    ng = CharNgrams(["the cat sat", "the hat", "that cat"], n=5)
    assert ng.vocab[0] in ("th", "at") and len(ng.vocab) == 5
    emb = ng.embed(["the cat", "a hat that"])
    assert emb.shape == (2, 5) and np.allclose(np.linalg.norm(emb, axis=1), 1.0)
    rng = np.random.default_rng(0)
    widths = []
    for n in (50, 800):
        same, cross = rng.normal(0.6, 0.1, n), rng.normal(0.5, 0.1, n)
        auc, _ = auc_eer(same, cross)
        low, high = bootstrap_auc(same, cross, 400, seed=1)
        assert low < auc < high and 0.6 < auc < 0.9
        widths.append(high - low)
    assert widths[1] < widths[0] / 2  # ~1/sqrt(n): 16x the pairs, a quarter of the width
    # per author: A's same-author pairs score high, B's low; cross pairs are opened by both
    same_pairs = [(("A", "a1"), ("A", "a2"))] * 3 + [(("B", "b1"), ("B", "b2"))] * 3
    cross_pairs = [(("A", "a1"), ("B", "b1"))] * 3 + [(("B", "b1"), ("A", "a1"))] * 3
    per = per_author_auc(same_pairs, cross_pairs, np.array([0.9, 0.8, 0.7, 0.1, 0.2, 0.3]),
                         np.array([0.5, 0.5, 0.5, 0.5, 0.5, 0.5]))
    assert per == {"A": 1.0, "B": 0.0}


def test_same_book_pairs_hold_two_chunks_of_one_anchored_book() -> None:
    import random

    chunks = [("A", 1, "a1"), ("A", 1, "a2"), ("A", 2, "a3"), ("B", 3, "b1"), ("B", 3, "b2"), ("C", 4, "c1")]
    pairs = same_book_pairs(chunks, 20, random.Random(0), anchor=lambda c: c[1] in (1, 4))
    assert len(pairs) == 20 and {frozenset((x[1], y[1])) for x, y in pairs} == {frozenset(("a1", "a2"))}
    assert same_book_pairs(chunks, 5, random.Random(0), anchor=lambda c: c[1] == 4) == []  # one chunk: no pair


@pytest.mark.slow
def test_judges_and_baselines_on_unseen_authors_and_folds(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from litstyle.stages import get_stage

    caplog.set_level(logging.INFO, logger="litstyle.judge.benchmark")
    recipe = load_recipe(JUDGE_CPU, [f"run.run_dir={tmp_path}", *RECIPE])
    for stage in ("corpus", "judge_pairs", "judge", "judge_benchmark"):
        result = run_stage(recipe, get_stage(stage))
    report = json.loads((result.path / "results.json").read_text())
    folds = json.loads((tmp_path / "judge_pairs" / "split.json").read_text())["folds"]
    assert report["split"] == "all_books" and report["folds"] == folds and len(folds) == 2
    assert {row["set"] for row in report["rows"]} == {"unseen authors", "unseen books (folds)"}
    auc = {(row["set"], row["method"]): row["auc"] for row in report["rows"]}
    print(f"\nAUC at 128 words: {auc}")
    assert {m for _, m in auc} == {"function words", "char n-grams", "char 1-5-grams", "punctuation", "sentence lengths",
                                   "function-word n-grams", "base", "fine-tuned", "judge cosine only", "verifier"}
    for row in report["rows"]:
        assert row["auc_low"] < row["auc"] < row["auc_high"] and row["per_author"]
        assert 0 <= row["same_book_auc"] <= 1 and row["book_gap"] == pytest.approx(row["same_book_auc"] - row["auc"])
        if row["set"] == "unseen books (folds)":  # two folds, each its own judge; pooled AUC between them or near
            assert len(row["fold_aucs"]) == 2 and row["fold_sd"] >= 0
            assert min(row["fold_aucs"]) - 0.05 < row["auc"] < max(row["fold_aucs"]) + 0.05
    strong = ("fine-tuned", "judge cosine only", "base", "function words", "char n-grams", "char 1-5-grams", "verifier")
    assert min(v for (_, m), v in auc.items() if m in strong) > 0.5
    # the reward's task: chunks of each fold's held-out books against every training author's profile; the
    # encoders at the pair size (128) only, the stylometric families and the fold verifiers at both sizes
    profiles = {(r["method"], r["words"]): r for r in report["profile_rows"]}
    print("profiles:", {k: (round(r["own_auc"], 3), round(r["n_way"]["accuracy"], 3)) for k, r in profiles.items()})
    assert {m for m, w in profiles if w == 500} == {"function words", "char n-grams", "char 1-5-grams", "punctuation",
                                                    "sentence lengths", "function-word n-grams", "verifier"}
    assert {m for m, w in profiles if w == 128} == {m for _, m in auc}
    for (method, words), row in profiles.items():
        assert row["set"] == "unseen books (folds)" and row["own_auc_low"] < row["own_auc"] < row["own_auc_high"]
        assert row["n_way"]["low"] <= row["n_way"]["accuracy"] <= row["n_way"]["high"] and row["authors"] >= 30
        assert 0 <= row["four_way"]["accuracy"] <= 1 and set(row["four_way"]) == {"accuracy", "low", "high", "chunks"}
    verifier, char = profiles[("verifier", 500)], profiles[("char n-grams", 500)]  # it learned (10 chunks a book)
    assert verifier["own_auc"] > max(0.9, char["own_auc"])
    assert verifier["four_way"]["accuracy"] > char["four_way"]["accuracy"]
    assert "## Author profiles (the reward's task)" in (result.path / "report.md").read_text()
    assert re.search(r"unseen authors +fine-tuned +128 words: AUC 0\.\d+ \[0\.\d+, 0\.\d+\]", caplog.text)
    trained = set(json.loads((tmp_path / "judge_pairs" / "manifest.json").read_text())
                  ["counts"]["splits"]["train"]["authors"])
    assert not trained & set(report["held_out_authors"])
    assert {"Twain, Mark", "Dickens, Charles", "Austen, Jane", "Hardy, Thomas"} <= trained
    # the fold judges: trained without their books, on as many pairs as the final judge; fused on 500-word pairs
    metrics = json.loads((tmp_path / "judge" / "metrics.json").read_text())
    assert [f["held_out_books"] for f in metrics["folds"]] == folds
    assert all(f["train_pairs"] == metrics["train_pairs"] == 960 for f in metrics["folds"])
    # judge.keep_base_if_worse: a judge whose validation spearman fell below the base encoder's is the base again
    spearman = [metrics[k]["validation"]["validation_spearman_cosine"] for k in ("base", "fine_tuned")]
    assert metrics["kept_base"] == (spearman[1] < spearman[0])
    assert set(metrics["fused_weights"]) == {"judge", "function words", "char 1-5-grams", "punctuation",
                                             "sentence lengths", "function-word n-grams"}
    for k in range(2):
        assert (tmp_path / "judge" / "folds" / str(k) / "model" / "litstyle_fused.json").is_file()
        assert (tmp_path / "judge" / "folds" / str(k) / "model" / "litstyle_verifier.npz").is_file()
        held = set(folds[k])  # each fold's verifier trained on none of its books' chunks
        assert metrics["folds"][k]["verifier"]["books"] == metrics["verifier"]["books"] - len(held)
    calibration = json.loads((result.path / "calibration.json").read_text())
    for judge in ("base", "fine-tuned", "judge cosine only"):
        assert calibration[judge]["set"] == "unseen books (folds)"
        assert calibration[judge]["cross_median"] < calibration[judge]["same_median"]
    text = (result.path / "report.md").read_text()
    assert "| unseen authors | fine-tuned | 128 |" in text and "EER" in text and "Per-author AUC" in text
    assert "same-book AUC" in text and "2 leave-book-out folds" in text
    for png in ("boxplots.png", "roc.png"):
        assert (result.path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a fold judge gone: one error line naming it and the fix, nothing half written
    (tmp_path / "judge" / "folds" / "1").rename(tmp_path / "fold1_gone")
    with pytest.raises(StageError, match=r"2 leave-book-out folds but no fold judge in .*folds/1: rerun the judge stage"):
        run_stage(recipe, get_stage("judge_benchmark"), force=True)
    assert (result.path / "results.json").is_file()  # the previous output stays


def test_profile_task_statistics_and_sets() -> None:
    """The profile task's numbers on a hand-made score matrix, and its test / profile sets."""
    import random

    from litstyle.judge.profiles import centroid_scores, pick, profile_row, profile_sets

    tests = [("A", 1, "a"), ("A", 1, "a"), ("B", 2, "b"), ("C", 3, "c")]
    authors = ["A", "B", "C", "D"]
    scores = np.array([[0.9, 0.1, 0.2, 0.0],   # A: right
                       [0.3, 0.8, 0.1, 0.0],   # A: taken for B
                       [0.2, 0.7, 0.1, 0.0],   # B: right
                       [0.5, 0.1, 0.4, 0.0]])  # C: taken for A
    row = profile_row([(scores, tests, authors)], ["A", "B", "D"], seed=0, reps=200)
    assert row["n_way"]["accuracy"] == 0.5 and row["authors"] == 4
    assert row["four_way"]["accuracy"] == pytest.approx(2 / 3) and row["four_way"]["chunks"] == 3  # C is no target
    own, other = scores[[0, 1, 2, 3], [0, 0, 1, 2]], np.delete(scores.ravel(), [0, 4, 9, 14])
    assert row["own_auc"] == pytest.approx(float(np.mean([(o > x) + 0.5 * (o == x) for o in own for x in other])))
    assert row["per_author"] == {"A": 0.5, "B": 1.0, "C": 0.0}
    # sets: the held-out book's chunks are tested; profiles come from the other books only
    chunks = [("A", 1, f"a1-{i}") for i in range(5)] + [("A", 2, f"a2-{i}") for i in range(5)] + \
             [("B", 3, f"b3-{i}") for i in range(5)]
    held_tests, profiles = profile_sets(chunks, {1, 2, 3}, {1}, profile_chunks=3, test_chunks=2, seed="s")
    assert len(held_tests) == 2 and {c[1] for c in held_tests} == {1}
    assert set(profiles) == {"A", "B"} and all(t.startswith("a2-") for t in profiles["A"]) and len(profiles["B"]) == 3
    assert pick(random.Random(0), [1, 2], 5) == [1, 2]
    # centroid cosine: a unit embedding per text, the mean renormalised
    embed = {"x": [1.0, 0.0], "y": [0.0, 1.0], "t": [0.6, 0.8]}
    got = centroid_scores(lambda texts: np.array([embed[t] for t in texts]), [("A", 9, "t")],
                          {"A": ["x"], "B": ["x", "y"]})
    assert got == pytest.approx(np.array([[0.6, (0.6 + 0.8) / np.sqrt(2)]]))
