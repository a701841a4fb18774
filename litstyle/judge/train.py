"""Stage ``judge``: fine-tune the sentence-transformer style judge on the authorship pairs.

sentence-transformers' own trainer: CosineSimilarityLoss, EmbeddingSimilarityEvaluator on the
validation pairs (spearman cosine), early stopping on it, the best checkpoint kept.  Every other
option comes from the recipe's ``judge`` section (SentenceTransformerTrainingArguments).  Runs
as one process or under ``torchrun`` (DDP; gloo on CPU): only rank 0 writes.

Output ``<run_dir>/judge/model`` (a SentenceTransformer folder) and ``metrics.json``.
"""

from __future__ import annotations

import json
import logging
import shutil

from litstyle import models, trainer_args
from litstyle.rundir import StageContext

log = logging.getLogger(__name__)


def _pairs(ctx: StageContext):
    from datasets import load_from_disk

    data = load_from_disk(str(ctx.inputs["judge_pairs"]))
    return {split: data[split].select_columns(["sentence1", "sentence2", "score"]) for split in data}


def train_judge(ctx: StageContext) -> None:
    import torch
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator
    from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss
    from transformers import EarlyStoppingCallback

    recipe, cfg = ctx.recipe, ctx.recipe.judge
    data = _pairs(ctx)
    model = SentenceTransformer(models.resolve(recipe.models.encoder, recipe.models.cache_dir),
                                trust_remote_code=recipe.models.trust_remote_code)
    model.max_seq_length = cfg.max_seq_length
    args = trainer_args.build("judge", recipe, ctx.out_dir / "checkpoints")

    def evaluator(split: str) -> EmbeddingSimilarityEvaluator:
        rows = data[split]
        texts1 = [cfg.text_prefix + t for t in rows["sentence1"]]
        texts2 = [cfg.text_prefix + t for t in rows["sentence2"]]
        return EmbeddingSimilarityEvaluator(texts1, texts2, rows["score"], name=split, main_similarity="cosine",
                                            batch_size=args.per_device_eval_batch_size, write_csv=False)

    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    baseline = {split: evaluator(split)(model) for split in ("validation", "test")}
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=data["train"], eval_dataset=data["validation"],
        loss=CosineSimilarityLoss(model), evaluator=evaluator("validation"),
        callbacks=[EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience,
                                         early_stopping_threshold=cfg.early_stopping_threshold)])
    result = trainer.train()
    if not ctx.is_main:
        return
    changed = sum(1 for k, v in model.state_dict().items() if not torch.equal(v.detach().cpu(), before[k].cpu()))
    final = {split: evaluator(split)(model) for split in ("validation", "test")}
    model.save(str(ctx.out_dir / "model"))
    shutil.rmtree(ctx.out_dir / "checkpoints", ignore_errors=True)  # the best one is in model/
    metrics = {"base": baseline, "fine_tuned": final, "train_loss": result.training_loss,
               "steps": result.global_step, "best_metric": trainer.state.best_metric,
               "tensors_changed": changed, "tensors": len(before), "world_size": ctx.world_size}
    (ctx.out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float) + "\n")
    key = "validation_spearman_cosine"
    log.info("style judge: validation spearman %.4f -> %.4f, test %.4f -> %.4f (%d steps)",
             baseline["validation"][key], final["validation"][key], baseline["test"]["test_spearman_cosine"],
             final["test"]["test_spearman_cosine"], result.global_step)
    ctx.counts.update({"train_pairs": len(data["train"]), "steps": result.global_step,
                       "validation_spearman": round(final["validation"][key], 4),
                       "test_spearman": round(final["test"]["test_spearman_cosine"], 4),
                       "tensors_changed": changed})
