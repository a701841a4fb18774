"""Stage ``sft``: TRL ``SFTTrainer`` on the ``sft_data`` stories, from ``models.policy``.

- The stored chat ``messages`` become prompt / completion pairs (the last assistant turn is the
  completion), so the policy's own chat template applies and the loss covers the story only
  (TRL's ``completion_only_loss``); ``packing`` and ``max_length`` come from the recipe.
- Every ``trl.SFTConfig`` key of the ``sft`` section passes through (epochs, steps, lr, batch,
  gradient accumulation / checkpointing, ``model_init_kwargs`` such as bf16 + flash-attention).
- ``sft.lora.enabled``: peft LoRA; the adapter is merged into the base weights before saving.
- One process, torchrun, or ``accelerate launch`` (FSDP, DeepSpeed ZeRO-3; see config/accelerate/):
  the trainer handles the topology; only rank 0 writes the stage's files.
- A rerun after an interruption resumes from the last checkpoint (``sft.resume: auto``; see
  :mod:`litstyle.training`).

Output ``<run_dir>/sft/model`` (safetensors + tokenizer: ``from_pretrained`` and vLLM load it),
``metrics.json`` (train / eval loss, resumed step) and ``log_history.json``.
"""

from __future__ import annotations

import json
import logging

from litstyle import trainer_args
from litstyle.rundir import StageContext
from litstyle.training import (checkpoint_dir, finish_checkpoints, load_tokenizer, lora_config, resume_point,
                               save_policy, write_history)

log = logging.getLogger(__name__)


def to_prompt_completion(example: dict) -> dict:
    messages = example["messages"]
    return {"prompt": messages[:-1], "completion": messages[-1:]}


def train_sft(ctx: StageContext) -> None:
    from datasets import load_from_disk
    from trl import SFTTrainer

    recipe, cfg = ctx.recipe, ctx.recipe.sft
    data = load_from_disk(str(ctx.inputs["sft_data"]))
    columns = data["train"].column_names
    train = data["train"].map(to_prompt_completion, remove_columns=columns)
    evaluation = (data["validation"].map(to_prompt_completion, remove_columns=columns)
                  if "validation" in data else None)
    policy = recipe.models.path("policy")
    tokenizer = load_tokenizer(policy, recipe.models.trusts("policy"))

    resume = resume_point(ctx, cfg.resume)
    defaults = {"model_init_kwargs": {"trust_remote_code": True}} if recipe.models.trusts("policy") else {}
    args = trainer_args.build("sft", recipe, checkpoint_dir(ctx), defaults=defaults,
                              force={"eval_strategy": "no"} if evaluation is None else None)
    trainer = SFTTrainer(model=resume.weights or policy, args=args, train_dataset=train, eval_dataset=evaluation,
                         processing_class=tokenizer, peft_config=lora_config(cfg.lora) if cfg.lora.enabled else None)
    result = trainer.train(resume_from_checkpoint=resume.checkpoint)
    final_eval = trainer.evaluate() if evaluation is not None else {}
    save_policy(trainer, tokenizer, ctx.out_dir / "model", lora=cfg.lora.enabled, is_main=ctx.is_main,
                trust_remote_code=recipe.models.trusts("policy"),
                dtype=cfg.model_dtype())
    if not ctx.is_main:
        return
    losses = [e["loss"] for e in write_history(trainer, ctx.out_dir) if "loss" in e]
    metrics = {"train_loss": result.training_loss, "steps": result.global_step, "resumed_from_step": resume.step,
               "warm_start": resume.weights is not None, "eval": final_eval, "first_loss": losses[0] if losses else None,
               "last_loss": losses[-1] if losses else None, "train_rows": len(train),
               "validation_rows": len(evaluation) if evaluation is not None else 0, "lora": cfg.lora.enabled,
               "world_size": ctx.world_size}
    (ctx.out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float) + "\n")
    finish_checkpoints(ctx)
    ctx.counts.update({"steps": result.global_step, "train_rows": len(train), "resumed_from_step": resume.step,
                       "train_loss": round(result.training_loss, 4),
                       "eval_loss": round(final_eval["eval_loss"], 4) if "eval_loss" in final_eval else None})
    log.info("sft: %d steps, train loss %.4f, eval loss %s -> %s", result.global_step, result.training_loss,
             ctx.counts["eval_loss"], recipe.run_dir / ctx.name / "model")
