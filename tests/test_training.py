"""Training helpers shared by SFT and GRPO: what a checkpoint can be resumed from, the saved policy's
precision, and model loading outside a live ZeRO-3 config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import DEMO
from litstyle.config import load_recipe
from litstyle.rundir import StageContext
from litstyle.training import STAMP, cast_saved, resumable, resume_point, zero3_off


def checkpoint(folder: Path, step: int, *files: str) -> Path:
    path = folder / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    for name in files:
        target = path / name
        if name.endswith("/"):
            target.mkdir()
        else:
            target.write_bytes(b"x")
    return path


@pytest.mark.parametrize("files,whole", [
    (("model.safetensors", "config.json", "optimizer.pt", "scheduler.pt"), True),  # plain Trainer
    (("model.safetensors", "config.json", "global_step4/"), True),  # DeepSpeed
    (("model.safetensors", "config.json", "optimizer_0/"), True),  # FSDP sharded optimizer
    (("model.safetensors", "config.json"), False),  # save_only_model
    (("adapter_model.safetensors", "adapter_config.json"), False),  # LoRA, save_only_model
])
def test_resumable_needs_optimizer_state(tmp_path: Path, files: tuple[str, ...], whole: bool) -> None:
    assert resumable(checkpoint(tmp_path, 4, *files)) is whole


def context(tmp_path: Path) -> StageContext:
    recipe = load_recipe(DEMO, [f"run.run_dir={tmp_path}"])
    return StageContext(recipe, "grpo", tmp_path / ".grpo.tmp", {}, fingerprint="abc")


def stamped(ctx: StageContext) -> Path:
    folder = ctx.recipe.run_dir / "checkpoints" / ctx.name
    folder.mkdir(parents=True)
    (folder / STAMP).write_text(json.dumps({"fingerprint": ctx.fingerprint}))
    return folder


def test_resume_point_resumes_warm_starts_or_starts_over(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ctx = context(tmp_path)
    folder = stamped(ctx)
    assert resume_point(ctx, "auto").checkpoint is None  # nothing saved yet
    only_model = checkpoint(folder, 2, "model.safetensors", "config.json")
    warm = resume_point(ctx, "auto")
    # DeepSpeed would raise "Can't find a valid checkpoint" on it: its weights start the run instead
    assert (warm.checkpoint, warm.weights, warm.step) == (None, str(only_model), 2)
    assert "holds no optimizer state (save_only_model): warm-starting from its weights" in caplog.text
    whole = checkpoint(folder, 3, "model.safetensors", "config.json", "optimizer.pt")
    assert (resume_point(ctx, "auto").checkpoint, resume_point(ctx, "auto").step) == (str(whole), 3)
    checkpoint(folder, 5, "adapter_model.safetensors")
    fresh = resume_point(ctx, "auto")
    assert (fresh.checkpoint, fresh.weights) == (None, None) and "starting over" in caplog.text


def test_saved_weights_are_cast_to_the_load_dtype(tmp_path: Path) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2)
    model = LlamaForCausalLM(config)
    model.save_pretrained(tmp_path)
    before = (tmp_path / "model.safetensors").stat().st_size
    cast_saved(tmp_path, None)  # no dtype asked: untouched
    assert (tmp_path / "model.safetensors").stat().st_size == before
    cast_saved(tmp_path, "bfloat16")
    assert (tmp_path / "model.safetensors").stat().st_size < 0.6 * before
    assert json.loads((tmp_path / "config.json").read_text())["dtype"] == "bfloat16"
    loaded = LlamaForCausalLM.from_pretrained(tmp_path)
    assert loaded.dtype == torch.bfloat16
    reference = model.model.embed_tokens.weight.to(torch.bfloat16)
    assert torch.equal(loaded.model.embed_tokens.weight, reference)


def test_models_load_whole_outside_a_live_zero3_config() -> None:
    pytest.importorskip("deepspeed", reason="DeepSpeed is not installed (pyproject's [test] extra)")
    from transformers.integrations.deepspeed import HfDeepSpeedConfig, is_deepspeed_zero3_enabled

    config = HfDeepSpeedConfig({"zero_optimization": {"stage": 3}, "train_micro_batch_size_per_gpu": 1})
    assert is_deepspeed_zero3_enabled()  # from_pretrained would partition (and wait for every rank)
    with zero3_off():
        assert not is_deepspeed_zero3_enabled()
    assert is_deepspeed_zero3_enabled()  # restored for the trainer
    del config
