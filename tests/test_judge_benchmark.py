"""Judge benchmark on the shared corpus: a fine-tuned MiniLM judge (fused) separates unseen authors better
than the base encoder on the same pairs, every method is above chance on unseen authors and unseen books;
report, plots and calibration are written."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO
from litstyle.config import load_recipe
from litstyle.judge.benchmark import CharNgrams, FunctionWords, auc_eer, bootstrap_auc, per_author_auc
from litstyle.rundir import run_stage

# config/judge_cpu.yaml (all 62 books, book-disjoint, fused) cut to 960 extreme pairs, 60 steps of
# 128-word pairs: ~5 min on 2 CPU cores.
JUDGE_CPU = REPO / "config" / "judge_cpu.yaml"
RECIPE = ["corpus.chunk_words=[128]", "judge_benchmark.chunk_words=[128]", "judge_benchmark.pairs_per_class=150",
          "judge_benchmark.bootstrap=200", "judge_pairs.train_pairs=960", "judge_pairs.eval_pairs=60",
          "judge.max_steps=60", "judge.max_seq_length=128", "judge.eval_steps=20", "judge.save_steps=20"]


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


@pytest.mark.slow
def test_fine_tuned_judge_beats_base_on_held_out_authors(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from litstyle.stages import get_stage

    caplog.set_level(logging.INFO, logger="litstyle.judge.benchmark")
    recipe = load_recipe(JUDGE_CPU, [f"run.run_dir={tmp_path}", *RECIPE])
    for stage in ("corpus", "judge_pairs", "judge", "judge_benchmark"):
        result = run_stage(recipe, get_stage(stage))
    report = json.loads((result.path / "results.json").read_text())
    assert {row["set"] for row in report["rows"]} == {"unseen authors", "unseen books"}
    assert report["split"] == "book_disjoint"
    auc = {(row["set"], row["method"]): row["auc"] for row in report["rows"]}
    print(f"\nAUC at 128 words: {auc}")
    assert {m for _, m in auc} == {"function words", "char n-grams", "base", "fine-tuned", "judge cosine only"}
    for row in report["rows"]:
        assert row["auc_low"] < row["auc"] < row["auc_high"] and row["per_author"]
    assert auc[("unseen authors", "fine-tuned")] > auc[("unseen authors", "base")] > 0.5
    assert min(auc.values()) > 0.5
    assert re.search(r"unseen authors +fine-tuned +128 words: AUC 0\.\d+ \[0\.\d+, 0\.\d+\]", caplog.text)
    trained = set(json.loads((tmp_path / "judge_pairs" / "manifest.json").read_text())
                  ["counts"]["splits"]["train"]["authors"])
    assert not trained & set(report["held_out_authors"])
    assert {"Twain, Mark", "Dickens, Charles", "Austen, Jane", "Hardy, Thomas"} <= set(report["authors"]["unseen books"])
    calibration = json.loads((result.path / "calibration.json").read_text())
    for judge in ("base", "fine-tuned", "judge cosine only"):
        assert calibration[judge]["set"] == "unseen books"
        assert calibration[judge]["cross_median"] < calibration[judge]["same_median"]
    text = (result.path / "report.md").read_text()
    assert "| unseen authors | fine-tuned | 128 |" in text and "EER" in text and "Per-author AUC" in text
    for png in ("boxplots.png", "roc.png"):
        assert (result.path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
