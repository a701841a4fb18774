"""What the SFT and GRPO stages share around TRL's trainers: resumable checkpoints, LoRA, saving.

Checkpoints live in ``<run_dir>/checkpoints/<stage>`` (outside the stage's temporary folder, which
an interruption removes) together with the fingerprint of the stage's config and inputs; a rerun
resumes from the last checkpoint only when that fingerprint matches.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

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


def stamped_dir(ctx: StageContext, *, keep: bool) -> Path:
    """The stage's folder for work that survives an interruption (checkpoints, cached results).

    Its contents are kept when ``keep`` and it was made for the same config and inputs (same
    fingerprint); otherwise rank 0 empties it and stamps it for this run."""
    folder = checkpoint_dir(ctx)
    stamp = {"fingerprint": ctx.fingerprint}
    previous = json.loads((folder / STAMP).read_text()) if (folder / STAMP).is_file() else None
    if keep and previous == stamp:
        return folder
    if ctx.is_main:
        if folder.exists():
            if previous is not None:
                log.info("%s: discarding %s of %s", ctx.name, folder,
                         "another config or input" if previous != stamp else "an earlier run")
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        (folder / STAMP).write_text(json.dumps(stamp))
    return folder


def resume_point(ctx: StageContext, mode: str) -> str | None:
    """The last checkpoint of an interrupted run of the same config and inputs (``mode`` auto), else None."""
    last = last_complete_checkpoint(stamped_dir(ctx, keep=mode == "auto"))
    if last:
        log.info("%s: resuming from %s", ctx.name, last)
    return last


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


def save_policy(trainer, tokenizer, out: Path, *, lora: bool, is_main: bool, trust_remote_code: bool) -> None:
    """Save a plain ``from_pretrained`` / vLLM folder; a LoRA adapter is merged into its base first.
    Every rank must call this (FSDP / ZeRO-3 gather the weights); rank 0 writes."""
    if not lora:
        trainer.save_model(str(out))
        if is_main:
            tokenizer.save_pretrained(str(out))
        return
    adapter = out.parent / f".{out.name}-adapter"
    trainer.save_model(str(adapter))
    if not is_main:
        return
    from peft import AutoPeftModelForCausalLM

    merged = AutoPeftModelForCausalLM.from_pretrained(str(adapter), trust_remote_code=trust_remote_code)
    merged.merge_and_unload().save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    shutil.rmtree(adapter, ignore_errors=True)


def write_history(trainer, out: Path) -> list[dict]:
    history = trainer.state.log_history
    (out / "log_history.json").write_text(json.dumps(history, indent=2, default=float) + "\n")
    return history
