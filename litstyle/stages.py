"""The pipeline's stages, in order: name, function, the recipe sections and input stages each depends on.

Kept apart from :mod:`litstyle.pipeline` so that stage scripts and the CLI can look a stage up
without importing the pipeline runner.  Stage functions import their heavy libraries lazily.
"""

from __future__ import annotations

from litstyle import models
from litstyle.config import Recipe
from litstyle.corpus.stage import build_corpus
from litstyle.eval.stage import run_eval
from litstyle.grpo.data import build_grpo_data
from litstyle.grpo.train import train_grpo
from litstyle.judge.benchmark import run_benchmark
from litstyle.judge.stage import build_judge_pairs
from litstyle.judge.train import train_judge
from litstyle.rundir import Stage
from litstyle.sft.stage import build_sft_data
from litstyle.sft.train import train_sft


def grpo_inputs(recipe: Recipe) -> tuple[str, ...]:
    """GRPO reads the judge only for the style reward and the SFT model only when it starts from it."""
    return ("grpo_data",) + (("judge",) if "style" in recipe.grpo.reward_funcs else ()) + \
        (("sft",) if recipe.grpo.init_from == "sft" else ())


def eval_inputs(recipe: Recipe) -> tuple[str, ...]:
    """The evaluation reads the SFT / GRPO models only when those systems are enabled."""
    kinds = {s.kind for s in recipe.eval.systems if s.enabled}
    return ("corpus", "judge", "judge_benchmark", "grpo_data") + tuple(k for k in ("sft", "grpo") if k in kinds)


def _judge_pairs_servers(recipe: Recipe) -> tuple[str, ...]:
    return ("rewriter",) if recipe.judge_pairs.graded_fraction > 0 else ()


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
    Stage("judge", train_judge, sections=("judge", "models.encoder", "models.trust_remote_code", "models.revision"),
          inputs=("judge_pairs",), description="fine-tune the sentence-transformer style judge (cosine or triplet loss, text view)",
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
          servers=lambda recipe: () if recipe.sft_data.from_dataset else ("teacher",)),
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
