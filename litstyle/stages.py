"""The pipeline's stages, in order: name, function, the recipe sections and input stages each depends on.

Kept apart from :mod:`litstyle.pipeline` so that stage scripts and the CLI can look a stage up
without importing the pipeline runner.  Stage functions import their heavy libraries lazily.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from litstyle import models
from litstyle.config import Recipe
from litstyle.errors import ConfigError
from litstyle.corpus.stage import build_corpus
from litstyle.eval.stage import run_eval
from litstyle.grpo.data import build_grpo_data
from litstyle.grpo.train import train_grpo
from litstyle.judge.benchmark import run_benchmark
from litstyle.judge.stage import build_judge_pairs
from litstyle.judge.train import train_judge
from litstyle.registry import author_stage, base_stage
from litstyle.rundir import Stage
from litstyle.sft.stage import build_sft_data
from litstyle.sft.train import train_sft


def judge_inputs(recipe: Recipe) -> tuple[str, ...]:
    """The judge reads the corpus chunks only to train the verifier."""
    return ("judge_pairs",) + (("corpus",) if recipe.judge.verifier.enabled else ())


def grpo_inputs(recipe: Recipe) -> tuple[str, ...]:
    """GRPO reads the judge only for the style reward and the SFT model only when it starts from it."""
    return ("grpo_data",) + (("judge",) if "style" in recipe.grpo.reward_funcs else ()) + \
        (("sft",) if recipe.grpo.init_from == "sft" else ())


def eval_inputs(recipe: Recipe) -> tuple[str, ...]:
    """The evaluation reads the SFT / GRPO models only when those systems are enabled."""
    kinds = {s.kind for s in recipe.eval.systems if s.enabled}
    models = tuple(name for kind in ("sft", "grpo") if kind in kinds for name in stage_names(recipe, kind))
    return ("corpus", "judge", "judge_benchmark", "grpo_data") + models


def _judge_pairs_servers(recipe: Recipe) -> tuple[str, ...]:
    cfg = recipe.judge_pairs
    return ("rewriter",) if cfg.graded_fraction > 0 and cfg.from_dataset is None else ()


def _grpo_servers(recipe: Recipe) -> tuple[str, ...]:
    return ("judge",) if "content" in recipe.grpo.reward_funcs else ()


def _eval_servers(recipe: Recipe) -> tuple[str, ...]:
    return ("judge",) if recipe.eval.content else ()


STAGES: list[Stage] = [
    Stage("models", models.prepare_stage, sections=("models",),
          description="resolve offline models (convert SmolLM2 GGUF once)",
          script="data_processing/prepare_models.py"),
    Stage("corpus", build_corpus, sections=("corpus", "run.authors"),
          description="Gutenberg catalog selection, download, cleaning, sentence-aware chunking",
          script="data_processing/gutenberg_download.py"),
    Stage("judge_pairs", build_judge_pairs, sections=("judge_pairs", "llm.rewriter", "models.rewriter_llm", "run.authors"),
          inputs=("corpus",), description="author- or book-disjoint style-judge pairs (extremes + graded LLM rewrites), labelled chunks",
          script="data_processing/build_judge_pairs.py", servers=_judge_pairs_servers),
    Stage("judge", train_judge, sections=("judge", "models.encoder", "models.trust_remote_code", "models.revision",
                                          "judge_benchmark.window_words"),
          inputs=judge_inputs,
          description="fine-tune the sentence-transformer style judge (cosine or triplet loss, text view), the verifier",
          script="Train/sentence_trainer.py", isolated=True, trainer="judge"),
    Stage("judge_benchmark", run_benchmark, sections=("judge_benchmark", "models.encoder"),
          inputs=("corpus", "judge_pairs", "judge"),
          description="AUC/EER with CIs of base vs fine-tuned judge vs stylometric baselines on unseen authors/books",
          script="data_analysis/judge_benchmark.py", isolated=True),
    Stage("sft_data", build_sft_data,
          sections=("sft_data", "prompts", "run.authors", "llm.teacher.served_name", "models.teacher_llm",
                    "judge_benchmark.window_words"),
          inputs=("corpus", "judge"), description="teacher stories for train plots, filtered by rules and the style judge",
          script="data_processing/build_sft_dataset.py", isolated=True,
          servers=lambda recipe: () if recipe.sft_data.from_dataset or recipe.sft_data.source == "corpus" else ("teacher",)),
    Stage("sft", train_sft, sections=("sft", "models.policy", "models.trust_remote_code", "models.revision"), inputs=("sft_data",),
          description="TRL supervised fine-tuning of the policy on the teacher stories",
          script="Train/SFTTrainer.py", isolated=True, trainer="sft"),
    Stage("grpo_data", build_grpo_data, sections=("grpo_data", "prompts", "run.authors"), inputs=("corpus",),
          description="GRPO prompts (train plots) and evaluation prompts (test plots) with author samples",
          script="data_processing/build_grpo_dataset.py"),
    Stage("grpo", train_grpo,
          sections=("grpo", "models.policy", "models.trust_remote_code", "models.revision", "models.judge_llm", "llm.judge.served_name",
                    "llm.judge_prompt", "prompts.min_words", "prompts.max_words", "judge_benchmark.window_words"),
          inputs=grpo_inputs,
          description="multi-reward GRPO (style judge, content judge over HTTP, completeness, anti-copy)",
          script="Train/Multi_GRPOTrainer.py", isolated=True, trainer="grpo", servers=_grpo_servers),
    Stage("eval", run_eval,
          sections=("eval", "prompts", "models.policy", "models.judge_llm", "llm.judge.served_name", "llm.judge_prompt",
                    "judge_benchmark.window_words"),
          inputs=eval_inputs, description="baselines vs SFT vs GRPO on the test plots: metrics, CIs, plots, report",
          script="data_analysis/evaluate.py", isolated=True, servers=_eval_servers),
]


def get_stage(name: str) -> Stage:
    for stage in STAGES:
        if stage.name == name:
            return stage
    raise KeyError(name)


def names() -> list[str]:
    return [stage.name for stage in STAGES]


def stage_names(recipe: Recipe, name: str) -> list[str]:
    """The stages that run for ``name``: ``grpo`` with ``grpo.per_author`` is one stage per run author."""
    return [stage.name for stage in expand(recipe, get_stage(name))]


def expand(recipe: Recipe, stage: Stage) -> list[Stage]:
    """``stage`` as it runs under ``recipe``: itself, or (``grpo.per_author``) one stage per run author, named
    ``grpo-<Author_Slug>``, that trains on that author's rows only."""
    if stage.name != "grpo" or not recipe.grpo.per_author:
        return [stage]
    return [replace(stage, name=author_stage(stage.name, author), fn=partial(train_grpo, author=author))
            for author in recipe.run.authors]


def resolve(recipe: Recipe, name: str) -> list[Stage]:
    """The stages to run for a stage name: a pipeline stage (expanded), or one per-author stage by its own name."""
    stage = get_stage(base_stage(name))
    parts = expand(recipe, stage)
    if name == stage.name:
        return parts
    found = [part for part in parts if part.name == name]
    if not found:
        parts = [part.name for part in parts if part.name != stage.name]
        raise ConfigError(f"stage {name!r}: no such per-author stage"
                          + (f" (grpo.per_author, run.authors: {', '.join(parts)})" if parts
                             else f" ({stage.name}.per_author is false)" if stage.name == "grpo" else ""))
    return found
