"""SFT stage on CPU with SmolLM2-135M: loss goes down, weights change, the saved folder loads and
generates; LoRA saves merged weights; 2 processes through an accelerate config; resume after a kill."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import DEMO, PYTHON, REPO, free_port, interrupt_at_checkpoint, sft_dataset, wait_for, write_stage
from litstyle.config import load_recipe
from litstyle.rundir import run_stage
from litstyle.stages import get_stage

pytestmark = pytest.mark.slow

FAST = ["sft.max_steps=6", "sft.learning_rate=2e-4", "sft.max_length=128", "sft.per_device_train_batch_size=2",
        "sft.eval_steps=3", "sft.save_steps=3", "sft.logging_steps=1", "sft.warmup_steps=0"]


@pytest.fixture()
def sft_run(tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    write_stage(run_dir, "sft_data", sft_dataset())
    return run_dir


def base_weights():
    from safetensors.torch import load_file

    from litstyle import models

    return load_file(str(Path(models.resolve("smollm2-135m")) / "model.safetensors"))


def changed(folder: Path, base: dict) -> tuple[int, int]:
    import torch
    from safetensors.torch import load_file

    saved = load_file(str(folder / "model.safetensors"))
    common = [k for k in saved if k in base]
    return sum(not torch.equal(saved[k], base[k]) for k in common), len(common)


def test_sft_lowers_loss_changes_weights_and_saves_a_loadable_model(sft_run: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    recipe = load_recipe(DEMO, [f"run.run_dir={sft_run}", *FAST])
    result = run_stage(recipe, get_stage("sft"))
    metrics = json.loads((result.path / "metrics.json").read_text())
    assert metrics["steps"] == 6 and metrics["resumed_from_step"] == 0
    assert metrics["last_loss"] < 0.7 * metrics["first_loss"], metrics
    assert metrics["eval"]["eval_loss"] > 0 and metrics["validation_rows"] == 2
    n_changed, n = changed(result.path / "model", base_weights())
    assert n_changed > n // 2
    assert not (sft_run / "checkpoints" / "sft").exists()
    model = AutoModelForCausalLM.from_pretrained(result.path / "model")
    tokenizer = AutoTokenizer.from_pretrained(result.path / "model")
    ids = tokenizer.apply_chat_template([{"role": "user", "content": "Tell a story."}], add_generation_prompt=True,
                                        return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert out.shape[1] == ids["input_ids"].shape[1] + 8
    assert run_stage(recipe, get_stage("sft")).skipped


def test_lora_saves_merged_weights(sft_run: Path) -> None:
    from transformers import AutoModelForCausalLM

    recipe = load_recipe(DEMO, [f"run.run_dir={sft_run}", *FAST, "sft.max_steps=2", "sft.lora.enabled=true",
                                "sft.lora.r=8", "sft.lora.lora_alpha=16", "sft.learning_rate=1e-3"])
    result = run_stage(recipe, get_stage("sft"))
    folder = result.path / "model"
    assert not (folder / "adapter_config.json").exists() and not list(result.path.glob(".model-adapter"))
    n_changed, n = changed(folder, base_weights())
    # LoRA on all linear layers: every attention/MLP projection moves, embeddings and norms do not
    assert n_changed >= 7 * 30 and n_changed < n, (n_changed, n)
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert not hasattr(model, "peft_config")


def test_two_processes_through_the_accelerate_config(sft_run: Path) -> None:
    cmd = [PYTHON, "-m", "litstyle.pipeline", "--config", str(DEMO), "--only", "sft", f"run.run_dir={sft_run}",
           *FAST, "sft.max_steps=2", "sft.accelerate_config=config/accelerate/ddp_cpu_2proc.yaml"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = json.loads((sft_run / "sft" / "manifest.json").read_text())
    assert manifest["world_size"] == 2 and manifest["counts"]["steps"] == 2
    assert (sft_run / "sft" / "model" / "model.safetensors").is_file()
    assert not [p.name for p in sft_run.iterdir() if p.name.startswith(".sft.tmp")]
    assert "accelerate.commands.launch" in done.stderr


def test_killed_run_resumes_from_its_checkpoint(sft_run: Path) -> None:
    args = [f"run.run_dir={sft_run}", *FAST, "sft.save_steps=2", "sft.eval_strategy=no"]
    code, _ = interrupt_at_checkpoint("Train/SFTTrainer.py", args, sft_run, "sft", 2, signal.SIGKILL)
    assert code == -signal.SIGKILL and not (sft_run / "sft").exists()
    result = run_stage(load_recipe(DEMO, args), get_stage("sft"))
    metrics = json.loads((result.path / "metrics.json").read_text())
    assert metrics["resumed_from_step"] >= 2 and metrics["steps"] == 6
    assert not (sft_run / "checkpoints" / "sft").exists()
    # another config does not resume from foreign checkpoints
    assert result.manifest["counts"]["resumed_from_step"] == metrics["resumed_from_step"]


def test_deepspeed_zero3_two_cpu_processes(sft_run: Path) -> None:
    pytest.importorskip("deepspeed", reason="DeepSpeed is not installed (pyproject's [gpu]/[test] extras)")
    cmd = [PYTHON, "-m", "accelerate.commands.launch", "--config_file", "config/accelerate/zero3_cpu_2proc.yaml",
           "--main_process_port", str(free_port()), str(REPO / "Train" / "SFTTrainer.py"), "--config", str(DEMO),
           f"run.run_dir={sft_run}", *FAST, "sft.max_steps=2", "sft.eval_strategy=no"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=1200,
                          env={**os.environ, "DS_ACCELERATOR": "cpu"})
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = json.loads((sft_run / "sft" / "manifest.json").read_text())
    assert manifest["world_size"] == 2 and manifest["counts"]["steps"] == 2
    n_changed, n = changed(sft_run / "sft" / "model", base_weights())
    assert n_changed > n // 2  # the ZeRO-3 shards were gathered into one full checkpoint


def zero3(sft_run: Path, *args: str) -> list[str]:
    """The SFT stage under accelerate launch with the CPU twin of zero3_4gpu.yaml (DeepSpeed ZeRO-3, 2 procs)."""
    return [PYTHON, "-m", "accelerate.commands.launch", "--config_file", "config/accelerate/zero3_cpu_2proc.yaml",
            "--main_process_port", str(free_port()), "-m", "litstyle.cli", "sft", "--config", str(DEMO),
            f"run.run_dir={sft_run}", *FAST, "sft.eval_strategy=no", *args]


def test_zero3_save_only_model_checkpoint_warm_starts(sft_run: Path) -> None:
    """The paper's GRPO saves with save_only_model under ZeRO-3: such a checkpoint holds no optimizer state,
    and DeepSpeed refuses to resume from it ("Can't find a valid checkpoint").  A rerun after a kill starts
    from its weights instead, and says so."""
    pytest.importorskip("deepspeed", reason="DeepSpeed is not installed (pyproject's [gpu]/[test] extras)")
    import psutil

    env = {**os.environ, "DS_ACCELERATOR": "cpu"}
    cmd = zero3(sft_run, "sft.max_steps=3", "sft.save_steps=1", "sft.save_only_model=true")
    log = sft_run.parent / "first.log"
    with open(log, "w") as handle:  # a file, not a pipe: a full pipe would stall the ranks
        first = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                 start_new_session=True)
    try:
        reached = wait_for(sft_run / "checkpoints" / "sft" / "checkpoint-1" / "trainer_state.json",
                           alive=lambda: first.poll() is None)
    finally:  # every rank at once, as a node failure would (torchrun's workers have process groups of their own)
        try:
            procs = [psutil.Process(first.pid), *psutil.Process(first.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            procs = []
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(procs, timeout=60)
    assert reached, log.read_text()[-3000:]
    checkpoint = sft_run / "checkpoints" / "sft" / "checkpoint-1"
    assert not list(checkpoint.glob("global_step*"))  # weights only
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=1200, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "holds no optimizer state (save_only_model): warm-starting from its weights" in done.stderr
    metrics = json.loads((sft_run / "sft" / "metrics.json").read_text())
    assert metrics["warm_start"] is True and metrics["resumed_from_step"] == 1 and metrics["world_size"] == 2


def test_zero3_lora_merges_without_waiting_for_the_other_rank(sft_run: Path) -> None:
    """Rank 0 alone merges the LoRA adapter: outside ZeRO-3's zero.Init, which would wait for rank 1 forever."""
    pytest.importorskip("deepspeed", reason="DeepSpeed is not installed (pyproject's [gpu]/[test] extras)")
    done = subprocess.run(zero3(sft_run, "sft.max_steps=2", "sft.save_strategy=no", "sft.lora.enabled=true",
                                 "sft.learning_rate=1e-3"),
                          capture_output=True, text=True, cwd=REPO, timeout=900,
                          env={**os.environ, "DS_ACCELERATOR": "cpu"})
    assert done.returncode == 0, done.stderr[-3000:]
    folder = sft_run / "sft" / "model"
    assert not (folder / "adapter_config.json").exists() and (folder / "config.json").is_file()
    n_changed, n = changed(folder, base_weights())
    assert 0 < n_changed < n  # the merged LoRA layers moved, the rest is the base model
