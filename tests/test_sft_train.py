"""SFT stage on CPU with SmolLM2-135M: loss goes down, weights change, the saved folder loads and
generates; LoRA saves merged weights; 2 processes through an accelerate config; resume after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import DEMO, PYTHON, REPO, interrupt_at_checkpoint, sft_dataset, write_stage
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
           "--main_process_port", "29561", str(REPO / "Train" / "SFTTrainer.py"), "--config", str(DEMO),
           f"run.run_dir={sft_run}", *FAST, "sft.max_steps=2", "sft.eval_strategy=no"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=1200,
                          env={**os.environ, "DS_ACCELERATOR": "cpu"})
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = json.loads((sft_run / "sft" / "manifest.json").read_text())
    assert manifest["world_size"] == 2 and manifest["counts"]["steps"] == 2
    n_changed, n = changed(sft_run / "sft" / "model", base_weights())
    assert n_changed > n // 2  # the ZeRO-3 shards were gathered into one full checkpoint
