"""Stage ``judge``: fine-tune the sentence-transformer style judge.

sentence-transformers' own trainer and losses.  ``judge.loss``: ``cosine`` (the paper:
CosineSimilarityLoss on the scored pairs), a triplet loss on the author labels of the training
chunks (``batch_hard_soft_margin``, ``batch_hard``, ``batch_all``; batches grouped by label so that
every batch holds several authors with two chunks each) or ``mnrl`` (MultipleNegativesRankingLoss
on (chunk, chunk of the same author's other book) rows, no author twice in a batch, so every
in-batch negative is another author), optionally with the scored pairs alongside
(``judge.with_pairs``: a second dataset with CosineSimilarityLoss).  Every text first goes through
``judge.text_view`` (fitted on the training chunks, saved with the model).  ``judge.fused`` adds a
fused score (``litstyle.style.stylometry``): the stylometric features of ``judge.fused_features``
fitted on the training chunks, weights fitted on the validation pairs only (the ``fusion`` split of
``judge_pairs.fusion_words``-word pairs when there is one, encoded in the benchmark's windows), saved
with the model.  An
EmbeddingSimilarityEvaluator on the validation pairs (spearman cosine) drives early stopping and
keeps the best checkpoint.  Every other option comes from the recipe's ``judge`` section
(SentenceTransformerTrainingArguments).  Runs as one process or under ``torchrun`` (DDP; gloo on
CPU): only rank 0 writes.

Leave-book-out folds (``judge_pairs.folds``, in ``split.json``): after the judge on every training book,
one more judge per fold, trained the same way without the pairs and chunks of the fold's books, for
the benchmark's unseen-book estimate.

``judge.verifier.enabled`` adds the cross-book authorship verifier (``litstyle.style.verifier``), fitted on
``judge.verifier.words``-word corpus chunks of the training books (a fold's without the fold's books).

Output ``<run_dir>/judge/model`` (a SentenceTransformer folder with ``litstyle_view.json`` and, when
fused, ``litstyle_fused.json``; with the verifier ``litstyle_verifier.json`` + ``.npz``), ``metrics.json``,
and per fold ``folds/<k>/model`` + ``metrics.json``.
"""

from __future__ import annotations

import json
import logging
import shutil

from litstyle import trainer_args
from litstyle.errors import StageError
from litstyle.judge.pairs import FOLD_SPLIT_PREFIX, FOLDS_DIR, FUSION_SPLIT, PairSampler, fold_split
from litstyle.rundir import StageContext
from litstyle.style.scorer import StyleScorer
from litstyle.style.stylometry import FEATURES, JUDGE, Fusion, fit_weights
from litstyle.style.verifier import Verifier
from litstyle.style.views import TextView

log = logging.getLogger(__name__)

LABEL_LOSSES = {"batch_hard_soft_margin": "BatchHardSoftMarginTripletLoss", "batch_hard": "BatchHardTripletLoss",
                "batch_all": "BatchAllTripletLoss", "mnrl": "MultipleNegativesRankingLoss"}


def positive_pairs(labelled, seed: int):
    """MNRL rows (anchor, positive, label): one per training chunk, each a seeded draw of an author and
    two of its chunks from different books (from one book when the author has only one)."""
    import random

    from datasets import Dataset

    items = list(zip(labelled["text"], labelled["label"], labelled["book_id"]))
    sampler = PairSampler(items, lambda i: i[1], lambda i: i[2], same_book=True)
    rng = random.Random(f"{seed}:mnrl")
    rows = [sampler.same(rng) for _ in items]
    return Dataset.from_dict({"anchor": [a[0] for a, _ in rows], "positive": [b[0] for _, b in rows],
                              "label": [a[1] for a, _ in rows]})


def _data(ctx: StageContext, fold: int | None = None, held: frozenset[int] = frozenset()):
    """(scored pairs per split, labelled training chunks, the fitted text view), every text in that view;
    for leave-book-out ``fold`` (its books ``held``), that fold's training pairs and no chunk of its books."""
    from datasets import load_from_disk

    cfg = ctx.recipe.judge
    folder = ctx.inputs["judge_pairs"]
    data = load_from_disk(str(folder))
    labelled = load_from_disk(str(folder / "labelled"))
    if fold is not None:
        data["train"] = data[fold_split(fold)]
        labelled = labelled.filter(lambda b: b not in held, input_columns="book_id")
    data = {split: rows for split, rows in data.items() if not split.startswith(FOLD_SPLIT_PREFIX)}
    view = TextView.fit(cfg.text_view, labelled["text"], labelled["author"], cfg.view_keep_words)
    pairs = {split: data[split].select_columns(["sentence1", "sentence2", "score"]) for split in data}
    labelled = labelled.select_columns(["text", "label", "book_id"])
    if view.name != "raw":
        pairs = {split: d.map(lambda r: {"sentence1": view.apply(r["sentence1"]), "sentence2": view.apply(r["sentence2"])})
                 for split, d in pairs.items()}
        labelled = labelled.map(lambda r: {"text": view.apply(r["text"])})
    return pairs, labelled, view


def fit_fusion(ctx: StageContext, model, train_texts: list[str], validation) -> Fusion:
    """Stylometric features from (a seeded sample of) the training chunks; weights from the validation
    pairs only (judge_pairs.fusion_words long, encoded in the benchmark's windows as the scorers do).
    Texts are already in the judge's view."""
    import random

    import numpy as np

    cfg = ctx.recipe.judge
    rng = random.Random(f"{ctx.recipe.run.seed}:fused")
    reference = rng.sample(train_texts, min(len(train_texts), cfg.fused_reference_chunks))
    features = {name: FEATURES[name](reference, n) for name, n in cfg.fused_features.items()}
    judge = StyleScorer("", encoder=model, prefix=cfg.text_prefix, window_words=ctx.recipe.judge_benchmark.window_words)
    embed = {JUDGE: judge.encode, **{name: f.embed for name, f in features.items()}}
    left, right = list(validation["sentence1"]), list(validation["sentence2"])
    cosines = {name: np.sum(e(left) * e(right), axis=1) for name, e in embed.items()}
    weights = fit_weights(cosines, np.asarray(validation["score"]) > 0.5, ctx.recipe.run.seed)
    log.info("fused score weights (validation pairs): %s", {k: round(v, 3) for k, v in weights.items()})
    return Fusion(weights, features)


def fit_verifier(ctx: StageContext, folder, held: frozenset[int] = frozenset()) -> dict | None:
    """``judge.verifier.enabled``: the cross-book verifier on ``verifier.words``-word corpus chunks of the
    training books (without the ``held`` books of a fold; a seeded sample of ``chunks_per_book`` per book),
    saved into ``folder``; its summary for the metrics."""
    import random

    from datasets import load_from_disk

    cfg = ctx.recipe.judge.verifier
    if not cfg.enabled:
        return None
    split = json.loads((ctx.inputs["judge_pairs"] / "split.json").read_text())
    train_books = {int(b) for b, s in split["books"].items() if s == "train"} - held
    chunks = load_from_disk(str(ctx.inputs["corpus"] / "chunks")).filter(
        lambda w, b: w == cfg.words and b in train_books, input_columns=["target_words", "book_id"])
    by_book: dict[int, list[int]] = {}
    for i, book in enumerate(chunks["book_id"]):
        by_book.setdefault(book, []).append(i)
    rng = random.Random(f"{ctx.recipe.run.seed}:verifier:chunks")
    rows = sorted(i for book in sorted(by_book) for i in rng.sample(by_book[book], min(cfg.chunks_per_book,
                                                                                        len(by_book[book]))))
    chunks = chunks.select(rows)
    if len(set(chunks["author"])) < 2:
        raise StageError(f"judge.verifier: {len(chunks)} chunks of {cfg.words} "
                         "words from fewer than 2 training authors: add books or lower judge.verifier.words")
    verifier = Verifier.fit(chunks["text"], chunks["author"], chunks["book_id"], families=cfg.features,
                            keep_words=cfg.keep_words, c=cfg.c, pairs=cfg.pairs, min_words=cfg.min_words,
                            harden=cfg.harden, seed=ctx.recipe.run.seed)
    verifier.save(folder)
    return verifier.meta


def _as_is(ctx: StageContext, model, view, scores: dict, train_pairs: int) -> None:
    """``judge.train: false``: the encoder is the judge; its held-out scores are recorded and it is saved."""
    if not ctx.is_main:
        return
    model.save(str(ctx.out_dir / "model"))
    view.save(ctx.out_dir / "model")
    verifier = fit_verifier(ctx, ctx.out_dir / "model")
    spearman = {split: round(result[f"{split}_spearman_cosine"], 4) for split, result in scores.items()}
    metrics = {"trained": False, "encoder": ctx.recipe.models.encoder, "base": scores, "fine_tuned": scores,
               "steps": 0, "world_size": ctx.world_size, "verifier": verifier}
    (ctx.out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float) + "\n")
    log.info("style judge taken as is (judge.train false): %s, spearman %s", ctx.recipe.models.encoder, spearman)
    ctx.counts.update({"train_pairs": train_pairs, "steps": 0, "trained": False,
                       **{f"{split}_spearman": value for split, value in spearman.items()}})


def train_judge(ctx: StageContext) -> None:
    """The style judge on every training book (``model/``) and, with leave-book-out folds in
    ``split.json``, one more judge per fold trained without the fold's books (``folds/<k>/model``), for
    the benchmark's unseen-book estimate."""
    cfg = ctx.recipe.judge
    folder = ctx.inputs["judge_pairs"]
    folds = json.loads((folder / "split.json").read_text()).get("folds", [])
    splits = json.loads((folder / "dataset_dict.json").read_text())["splits"]
    missing = [fold_split(k) for k in range(len(folds)) if fold_split(k) not in splits]
    if cfg.train and missing:
        raise StageError(f"{folder}: no split {', '.join(missing)} for the leave-book-out folds of split.json "
                         "(pairs built by an older litstyle): rerun the judge_pairs stage with --force")
    metrics = _fit(ctx, ctx.out_dir)
    if not cfg.train:
        return
    fold_metrics = []
    for k, books in enumerate(folds):
        log.info("leave-book-out fold %d of %d: a judge without books %s", k + 1, len(folds), books)
        fold_metrics.append(_fit(ctx, ctx.out_dir / FOLDS_DIR / str(k), k, frozenset(books)))
    if not ctx.is_main:
        return
    held_out = [split for split in metrics["fine_tuned"]]
    spearman = {split: round(metrics["fine_tuned"][split][f"{split}_spearman_cosine"], 4) for split in held_out}
    metrics["folds"] = [{"held_out_books": books, "steps": m["steps"], "train_pairs": m["train_pairs"],
                         "fused_weights": m["fused_weights"], "verifier": m["verifier"],
                         "validation_spearman": m["fine_tuned"]["validation"]["validation_spearman_cosine"],
                         "base_validation_spearman": m["base"]["validation"]["validation_spearman_cosine"],
                         "kept_base": m["kept_base"]}
                        for books, m in zip(folds, fold_metrics)]
    (ctx.out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float) + "\n")
    log.info("style judge (%s loss, %s view): spearman %s -> %s (%d steps)", cfg.loss, metrics["text_view"],
             {s: round(metrics["base"][s][f"{s}_spearman_cosine"], 4) for s in held_out}, spearman, metrics["steps"])
    ctx.counts.update({"train_pairs": metrics["train_pairs"], "train_chunks": metrics["train_chunks"],
                       "steps": metrics["steps"], "validation_spearman": spearman["validation"],
                       "test_spearman": spearman["test"],
                       **({"test_books_spearman": spearman["test_books"]} if "test_books" in spearman else {}),
                       **({"fold_steps": [m["steps"] for m in metrics["folds"]]} if folds else {}),
                       "tensors_changed": metrics["tensors_changed"]})


def _fit(ctx: StageContext, out_dir, fold: int | None = None, held: frozenset[int] = frozenset()) -> dict | None:
    """Train one judge into ``out_dir/model`` (with its view and fused score), or that of leave-book-out
    ``fold`` without its ``held`` books; its metrics on the main process (a fold judge is evaluated on the
    validation pairs only)."""
    import torch
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer import losses
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator
    from transformers import EarlyStoppingCallback

    recipe, cfg = ctx.recipe, ctx.recipe.judge
    data, labelled, view = _data(ctx, fold, held)
    model = SentenceTransformer(recipe.models.path("encoder"),
                                trust_remote_code=recipe.models.trusts("encoder"))
    model.max_seq_length = cfg.max_seq_length
    args = trainer_args.build("judge", recipe, out_dir / "checkpoints")
    held_out = ["validation"] if fold is not None else [split for split in data if split not in ("train", FUSION_SPLIT)]

    def evaluator(split: str) -> EmbeddingSimilarityEvaluator:
        rows = data[split]
        texts1 = [cfg.text_prefix + t for t in rows["sentence1"]]
        texts2 = [cfg.text_prefix + t for t in rows["sentence2"]]
        return EmbeddingSimilarityEvaluator(texts1, texts2, rows["score"], name=split, main_similarity="cosine",
                                            batch_size=args.per_device_eval_batch_size, write_csv=False)

    if cfg.loss == "cosine":
        train, loss, eval_data = data["train"], losses.CosineSimilarityLoss(model), data["validation"]
    else:
        label_loss = getattr(losses, LABEL_LOSSES[cfg.loss])(model)
        train = (positive_pairs(labelled, recipe.run.seed) if cfg.loss == "mnrl"
                 else labelled.select_columns(["text", "label"]))
        loss, eval_data = label_loss, None  # no scored validation pairs for these losses
        if cfg.with_pairs:
            train = {"authors": train, "pairs": data["train"]}
            loss = {"authors": label_loss, "pairs": losses.CosineSimilarityLoss(model)}
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    baseline = {split: evaluator(split)(model) for split in held_out}
    if not cfg.train:
        return _as_is(ctx, model, view, baseline, len(data["train"]))
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=train, eval_dataset=eval_data, loss=loss,
        evaluator=evaluator("validation"),
        callbacks=[EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience,
                                         early_stopping_threshold=cfg.early_stopping_threshold)])
    result = trainer.train()
    if not ctx.is_main:
        return None
    changed = sum(1 for k, v in model.state_dict().items() if not torch.equal(v.detach().cpu(), before[k].cpu()))
    final = {split: evaluator(split)(model) for split in held_out}
    spearman = [r["validation"]["validation_spearman_cosine"] for r in (baseline, final)]
    kept_base = cfg.keep_base_if_worse and spearman[1] < spearman[0]
    if kept_base:  # training unlearned what the base encoder knew across books: the base is the judge
        log.warning("judge%s: training lowered the validation spearman %.4f -> %.4f: the base encoder is kept "
                    "(judge.keep_base_if_worse)", "" if fold is None else f" of fold {fold}", *spearman)
        model.load_state_dict(before)
    model.save(str(out_dir / "model"))
    view.save(out_dir / "model")
    fusion = (fit_fusion(ctx, model, list(labelled["text"]), data.get(FUSION_SPLIT, data["validation"]))
              if cfg.fused else None)
    if fusion:
        fusion.save(out_dir / "model")
    verifier = fit_verifier(ctx, out_dir / "model", held)
    shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)  # the best one is in model/
    metrics = {"base": baseline, "fine_tuned": final, "train_loss": result.training_loss,
               "steps": result.global_step, "best_metric": trainer.state.best_metric, "loss": cfg.loss,
               "with_pairs": cfg.with_pairs, "text_view": view.name, "view_keep_words": len(view.keep),
               "fused_weights": fusion.weights if fusion else None, "held_out_books": sorted(held),
               "train_pairs": len(data["train"]), "train_chunks": len(labelled),
               "tensors_changed": changed, "tensors": len(before), "world_size": ctx.world_size,
               "kept_base": kept_base, "verifier": verifier}
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float) + "\n")
    return metrics
