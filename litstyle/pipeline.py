"""Run the pipeline's stages in order: ``python -m litstyle.pipeline --config config/demo_cpu.yaml``.

Stages are added to ``STAGES`` as they are built; each one is skipped when its manifest is up to
date.  ``--check`` validates the whole recipe (schema + trainer sections) without loading a model.
"""

from __future__ import annotations

import logging
import sys

from litstyle import cli, models
from litstyle.config import Recipe
from litstyle.corpus.stage import build_corpus
from litstyle.judge.benchmark import run_benchmark
from litstyle.judge.stage import build_judge_pairs
from litstyle.judge.train import train_judge
from litstyle.rundir import Stage, StageResult, run_stage

log = logging.getLogger("litstyle.pipeline")

STAGES: list[Stage] = [
    Stage("models", models.prepare_stage, sections=("models",),
          description="resolve offline models (convert SmolLM2 GGUF once)"),
    Stage("corpus", build_corpus, sections=("corpus", "run.authors"),
          description="Gutenberg catalog selection, download, cleaning, sentence-aware chunking"),
    Stage("judge_pairs", build_judge_pairs, sections=("judge_pairs", "llm.rewriter", "models.rewriter_llm"),
          inputs=("corpus",), description="author-disjoint style-judge pairs: extremes + graded LLM rewrites"),
    Stage("judge", train_judge, sections=("judge", "models.encoder", "models.trust_remote_code"),
          inputs=("judge_pairs",), description="fine-tune the sentence-transformer style judge"),
    Stage("judge_benchmark", run_benchmark, sections=("judge_benchmark", "models.encoder"),
          inputs=("corpus", "judge_pairs", "judge"),
          description="AUC/EER of base vs fine-tuned judge vs function words on held-out authors"),
]


def get_stage(name: str) -> Stage:
    for stage in STAGES:
        if stage.name == name:
            return stage
    raise KeyError(name)


def run_pipeline(recipe: Recipe, *, force: bool = False) -> list[StageResult]:
    """Run every stage in order; ``force`` reruns all of them."""
    results = []
    for stage in STAGES:
        results.append(run_stage(recipe, stage, force=force))
    ran = [r.name for r in results if not r.skipped]
    log.info("pipeline done: %d stage(s) ran (%s), %d up to date; run dir %s",
             len(ran), ", ".join(ran) or "none", len(results) - len(ran), recipe.run_dir)
    return results


def main(argv: list[str] | None = None) -> int:
    return cli.main(argv, prog="python -m litstyle.pipeline", description=__doc__,
                    action=lambda recipe, args: run_pipeline(recipe, force=args.force))


if __name__ == "__main__":
    sys.exit(main())
