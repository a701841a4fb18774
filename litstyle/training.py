"""What the SFT and GRPO stages share around TRL's trainers: resumable checkpoints, LoRA, saving.

Checkpoints live in ``<run_dir>/checkpoints/<stage>`` (outside the stage's temporary folder, which
an interruption removes) together with the fingerprint of the stage's config and inputs; a rerun
resumes from the last checkpoint only when that fingerprint matches.
"""

from __future__ import annotations

import json
import logging
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from litstyle.rundir import StageContext

log = logging.getLogger(__name__)

STAMP = "litstyle-stage.json"  # which config/inputs the checkpoints in a folder belong to


def checkpoint_dir(ctx: StageContext) -> Path:
    return ctx.recipe.run_dir / "checkpoints" / ctx.name


def last_complete_checkpoint(folder: Path) -> str | None:
    """The highest ``checkpoint-N`` whose ``trainer_state.json`` (written after the weights) is whole;
    a checkpoint cut by a kill while being written is passed over."""
    found = []
    for path in folder.glob("checkpoint-*"):
        try:
            step = int(path.name.rsplit("-", 1)[1])
            json.loads((path / "trainer_state.json").read_text())
        except (ValueError, OSError):
            continue
        found.append((step, path))
    return str(max(found)[1]) if found else None


def wait_for_ranks(ctx: StageContext) -> None:
    """A barrier across the ranks of a torchrun / accelerate launch (no-op in one process).  It sets up the
    process group (accelerate's PartialState, as the trainer will) if it does not exist yet."""
    if ctx.world_size > 1:
        from accelerate import PartialState  # heavy third-party import, only under a multi-process launch

        PartialState().wait_for_everyone()


def stamped_dir(ctx: StageContext, *, keep: bool) -> Path:
    """The stage's folder for work that survives an interruption (checkpoints, cached results).

    Its contents are kept when ``keep`` and it was made for the same config and inputs (same
    fingerprint); otherwise rank 0 empties it and stamps it for this run.  Every rank reads the stamp
    before rank 0 may change it, and none goes on before rank 0 is done."""
    folder = checkpoint_dir(ctx)
    stamp = {"fingerprint": ctx.fingerprint}
    previous = json.loads((folder / STAMP).read_text()) if (folder / STAMP).is_file() else None
    wait_for_ranks(ctx)
    if not (keep and previous == stamp) and ctx.is_main:
        if folder.exists():
            if previous is not None:
                log.info("%s: discarding %s of %s", ctx.name, folder,
                         "another config or input" if previous != stamp else "an earlier run")
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        (folder / STAMP).write_text(json.dumps(stamp))
    wait_for_ranks(ctx)
    return folder


def resumable(checkpoint: str | Path) -> bool:
    """Whether a trainer can continue from ``checkpoint``: it holds optimizer state (``optimizer.pt``, FSDP's
    ``optimizer_0``, DeepSpeed's ``global_step*``).  A ``save_only_model`` checkpoint holds weights only."""
    folder = Path(checkpoint)
    return (any(folder.glob("optimizer.*")) or any(folder.glob("optimizer_*"))
            or any(p.is_dir() for p in folder.glob("global_step*")))


@dataclass
class Resume:
    """Where a trainer stage starts: ``checkpoint`` to pass to ``train()`` (a whole checkpoint), or
    ``weights`` to load as the model (a checkpoint without optimizer state: a warm start whose step count
    and schedule begin at 0), or neither (a fresh start)."""

    checkpoint: str | None = None
    weights: str | None = None

    @property
    def step(self) -> int:
        return step_of(self.checkpoint or self.weights)


def resume_point(ctx: StageContext, mode: str) -> Resume:
    """The last checkpoint of an interrupted run of the same config and inputs (``mode`` auto)."""
    last = last_complete_checkpoint(stamped_dir(ctx, keep=mode == "auto"))
    if last is None:
        return Resume()
    if resumable(last):
        log.info("%s: resuming from %s", ctx.name, last)
        return Resume(checkpoint=last)
    if (Path(last) / "config.json").is_file():
        log.warning("%s: %s holds no optimizer state (save_only_model): warm-starting from its weights; the step "
                    "count, data order and learning-rate schedule start over", ctx.name, last)
        return Resume(weights=last)
    log.warning("%s: %s holds neither optimizer state nor a whole model (a LoRA adapter saved with save_only_model): "
                "starting over", ctx.name, last)
    return Resume()


def step_of(checkpoint: str | None) -> int:
    return int(checkpoint.rsplit("-", 1)[1]) if checkpoint else 0


def finish_checkpoints(ctx: StageContext) -> None:
    """The stage finished: its final model is saved, the checkpoints are not needed."""
    shutil.rmtree(checkpoint_dir(ctx), ignore_errors=True)


def lora_config(cfg) -> Any:  # cfg: litstyle.config.LoraConfig
    from peft import LoraConfig

    return LoraConfig(r=cfg.r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=cfg.target_modules, task_type="CAUSAL_LM")


def load_tokenizer(path: str, trust_remote_code: bool):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def save_policy(trainer, tokenizer, out: Path, *, lora: bool, is_main: bool, trust_remote_code: bool,
                dtype: str | None = None) -> None:
    """Save a plain ``from_pretrained`` / vLLM folder; a LoRA adapter is merged into its base first.
    Every rank must call this (FSDP / ZeRO-3 gather the weights); rank 0 writes.  ``dtype`` (the recipe's
    ``model_init_kwargs.dtype``): the folder's weights in that precision, whatever the trainer kept them in
    (FSDP with mixed precision holds fp32 masters of a bf16 model: an 8B policy would be saved as 32 GB)."""
    if not lora:
        trainer.save_model(str(out))
        if is_main:
            tokenizer.save_pretrained(str(out))
            cast_saved(out, dtype)
        return
    adapter = out.parent / f".{out.name}-adapter"
    trainer.save_model(str(adapter))
    if not is_main:
        return
    from peft import AutoPeftModelForCausalLM

    with zero3_off():  # rank 0 alone loads the base model: under a ZeRO-3 config that would wait for the others
        merged = AutoPeftModelForCausalLM.from_pretrained(str(adapter), trust_remote_code=trust_remote_code)
    merged.merge_and_unload().save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    shutil.rmtree(adapter, ignore_errors=True)
    cast_saved(out, dtype)


def cast_saved(folder: Path, dtype: str | None) -> None:
    """Rewrite a saved model's floating-point weights in ``dtype`` (e.g. ``bfloat16``), one safetensors
    file at a time (memory: the largest shard), and say so in its config.  No-op when ``dtype`` is None,
    ``auto`` or already the weights' type."""
    if dtype in (None, "auto"):
        return
    import torch  # heavy third-party imports, only when a model is saved
    from safetensors.torch import load_file, save_file

    target = getattr(torch, str(dtype).removeprefix("torch."))
    changed = 0
    for shard in sorted(folder.glob("*.safetensors")):
        tensors = load_file(str(shard))
        if all(t.dtype == target or not t.is_floating_point() for t in tensors.values()):
            continue
        save_file({k: t.to(target) if t.is_floating_point() else t for k, t in tensors.items()}, str(shard),
                  metadata={"format": "pt"})
        changed += 1
    config_file = folder / "config.json"
    if changed and config_file.is_file():
        config = json.loads(config_file.read_text())
        config["dtype"] = str(target).removeprefix("torch.")
        config.pop("torch_dtype", None)
        config_file.write_text(json.dumps(config, indent=2) + "\n")
    if changed:
        log.info("saved model in %s: %d weight file(s) cast to %s", folder, changed, target)


@contextmanager
def zero3_off() -> Iterator[None]:
    """While a DeepSpeed ZeRO-3 config is alive, transformers builds every ``from_pretrained`` model inside
    ``deepspeed.zero.Init``, which partitions it across all ranks and so waits for every one of them.  Inside
    this block a model loads whole, in this process alone."""
    from transformers.integrations import deepspeed as hf_deepspeed  # heavy third-party import

    ref = hf_deepspeed._hf_deepspeed_config_weak_ref  # transformers keeps no public getter of the object
    alive = ref() if ref is not None else None
    hf_deepspeed.unset_hf_deepspeed_config()
    try:
        yield
    finally:
        if alive:
            hf_deepspeed.set_hf_deepspeed_config(alive)


def write_history(trainer, out: Path) -> list[dict]:
    history = trainer.state.log_history
    (out / "log_history.json").write_text(json.dumps(history, indent=2, default=float) + "\n")
    return history
