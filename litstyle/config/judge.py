"""Sections of the style-judge family: ``judge_pairs`` (authorship pairs), ``judge`` (its training) and
``judge_benchmark`` (separation on unseen authors and books)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from litstyle.config.fields import Section, Stylometry
from litstyle.config.trainer import TrainerSection
from litstyle.registry import distinct_author_batches


class JudgePairsConfig(Section):
    """Stage ``judge_pairs``: authorship pairs from corpus chunks (extremes + graded rewrites)."""

    chunk_words: int = Field(500, gt=0)  # which corpus chunks to pair (must be in corpus.chunk_words)
    # author_disjoint: train/validation/test authors never overlap (the paper); book_disjoint: the same,
    # plus a test_books split holding one book of every training author with 2+ books; all_books: the
    # author split, every book of the training authors (run.authors among them) trained on, so that
    # same-author pairs cross books; unseen books measured by leave-book-out folds (`folds`)
    split: Literal["author_disjoint", "book_disjoint", "all_books"] = "author_disjoint"
    # all_books: K folds, each holding out one book of every K-th training author with 2+ books; the judge
    # stage trains one extra judge per fold without its books, the benchmark tests each on its books
    folds: int = Field(0, ge=0, le=20)
    # the chunk size of the validation pairs the fused weights are fitted on (split "fusion"; the size the
    # rewards judge, e.g. 500); None: the validation pairs of chunk_words
    fusion_words: int | None = Field(None, gt=0)
    split_ratios: list[float] = Field(default_factory=lambda: [0.76, 0.12, 0.12], min_length=3, max_length=3)
    train_pairs: int = Field(2000, ge=2)
    eval_pairs: int = Field(200, ge=2)  # for validation and for test each
    graded_fraction: float = Field(0.3, ge=0.0, le=1.0)  # 0: no rewrites, no LLM needed
    mask_ratios: list[float] = Field(default_factory=lambda: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
                                     min_length=1)
    rewrite_temperature: float = Field(0.7, ge=0.0)
    rewrite_max_tokens: int = Field(96, gt=0)
    # a published pair set instead of building pairs (VibrantVista/style-judge-dataset, a hub id or a local
    # folder): train / validation / test splits with sentence1, sentence2, score (type kept as kind); the corpus
    # split, the labelled training chunks and split.json (what the benchmark holds out) are built as usual
    from_dataset: str | None = None

    @field_validator("split_ratios")
    @classmethod
    def _ratios(cls, value: list[float]) -> list[float]:
        if any(v <= 0 for v in value) or abs(sum(value) - 1.0) > 1e-6:
            raise ValueError(f"three positive shares (train, validation, test) summing to 1, got {value}")
        return value

    @model_validator(mode="after")
    def _folds(self) -> JudgePairsConfig:
        if self.folds == 1 or (self.folds and self.split != "all_books"):
            raise ValueError(f"folds {self.folds}: 0, or 2+ with split all_books (split is {self.split})")
        return self

    @field_validator("mask_ratios")
    @classmethod
    def _masks(cls, value: list[float]) -> list[float]:
        if any(not 0.0 < v < 1.0 for v in value):
            raise ValueError(f"mask ratios must be between 0 and 1 (exclusive), got {value}")
        return value


class JudgeBenchmarkConfig(Section):
    """Stage ``judge_benchmark``: author separation on unseen authors (and unseen books), per chunk size."""

    chunk_words: list[int] = Field(default_factory=lambda: [128, 500], min_length=1)  # in corpus.chunk_words
    pairs_per_class: int = Field(1000, ge=10)
    # the unsupervised stylometric baselines: feature -> vocabulary size (litstyle.style.stylometry)
    stylometry: dict[Stylometry, int] = Field(default_factory=lambda: {"function words": 300, "char n-grams": 2000},
                                              min_length=1)
    reference_chunks: int = Field(2000, ge=10)  # training-book chunks the baselines are fitted on (a seeded sample)
    bootstrap: int = Field(1000, ge=100)  # resamples of the AUC's 95 % interval
    window_words: int | None = Field(200, gt=0)  # encode long texts in windows (None: truncate)
    # the profile task (litstyle.judge.profiles): chunks of unseen books against author profiles, at these sizes
    # (None: chunk_words; the encoders join it at the chunk_words sizes only, elsewhere stylometry and verifier)
    profile_words: list[int] | None = None
    profile_chunks: int = Field(20, ge=1)  # chunks of an author's training books in its profile
    profile_test_chunks: int = Field(10, ge=1)  # chunks of each held-out book scored


class VerifierConfig(Section):
    """``judge.verifier``: the cross-book authorship verifier (litstyle.style.verifier), trained in the judge
    stage on corpus chunks of the training books (each fold's without the fold's books), saved with the judge."""

    enabled: bool = False
    words: int = Field(500, gt=0)  # the corpus chunk size it trains on (the length the rewards judge)
    features: dict[Stylometry, int] = Field(  # profile families -> vocabulary size (litstyle.style.stylometry)
        default_factory=lambda: {"char n-grams": 3000, "function words": 300, "function-word n-grams": 500,
                                 "punctuation": 40}, min_length=1)
    keep_words: int = Field(2000, ge=0)  # topic-masked view: shared words kept (0: raw text)
    c: float = Field(0.5, gt=0)  # LinearSVC regularisation of the author profiles
    pairs: int = Field(2000, ge=10)  # cross-book pairs (per class) of the pair model
    chunks_per_book: int = Field(60, ge=2)  # a seeded sample of each training book's chunks
    harden: float = Field(1.0, ge=0.0)  # spliced hard negatives per author, as a share of its chunks (0: none)
    min_words: int = Field(50, ge=1)  # shorter texts score 0


class JudgeTrainConfig(TrainerSection):
    """Style-judge training: extra keys go to SentenceTransformerTrainingArguments."""

    args_class: ClassVar[str] = "sentence_transformers:SentenceTransformerTrainingArguments"
    # false: models.encoder IS the style judge, taken as is (a released judge such as
    # VibrantVista/gte-large-en-v1.5-stylejudge): scored on the held-out pairs and saved, not trained
    train: bool = True
    max_seq_length: int = Field(256, gt=0)
    text_prefix: str = ""
    early_stopping_patience: int = Field(3, ge=1)
    early_stopping_threshold: float = Field(0.003, ge=0.0)
    # cosine: CosineSimilarityLoss on the scored pairs (the paper); the others are sentence-transformers'
    # triplet losses on author labels of the training chunks (many negatives per batch); mnrl: multiple-
    # negatives ranking on (chunk, same author's other book) rows, no author twice in a batch
    loss: Literal["cosine", "batch_hard_soft_margin", "batch_hard", "batch_all", "mnrl"] = "cosine"
    with_pairs: bool = False  # a label loss also trains CosineSimilarityLoss on the scored (graded) pairs
    text_view: Literal["raw", "topic_masked"] = "raw"  # what the judge reads (litstyle.style.views)
    view_keep_words: int = Field(300, gt=0)  # topic_masked: the most frequent shared words kept
    # fused score: judge cosine + stylometric cosines (fitted on training chunks), weighted by a logistic
    # regression on the validation pairs (judge_pairs.fusion_words); saved with the model, used by every scorer
    fused: bool = False
    fused_features: dict[Stylometry, int] = Field(  # feature -> vocabulary size (litstyle.style.stylometry)
        default_factory=lambda: {"function words": 300, "char n-grams": 2000}, min_length=1)
    fused_reference_chunks: int = Field(2000, ge=10)  # training chunks the stylometric features are fitted on
    # training that lowers the validation spearman below the base encoder's: warn and save the base encoder
    keep_base_if_worse: bool = False
    verifier: VerifierConfig = Field(default_factory=VerifierConfig)
    # what the style reward, the SFT filter and the eval's style column use: the judge's (fused) cosine with the
    # row's sample text, or the verifier's P(the row's author wrote it) (needs verifier.enabled)
    style_score: Literal["judge", "verifier"] = "judge"

    # the stage names its validation evaluator "validation"; early stopping watches this metric
    METRIC: ClassVar[str] = "eval_validation_spearman_cosine"

    def logged_metrics(self) -> list[str]:
        """What the judge trainer logs at each evaluation: the validation evaluator's correlations
        (sentence-transformers' EmbeddingSimilarityEvaluator, cosine) and, for the cosine loss (scored
        validation pairs), the validation loss.  ``metric_for_best_model`` must be one of them."""
        return [self.METRIC, "eval_validation_pearson_cosine"] + (["eval_loss"] if self.loss == "cosine" else [])

    @model_validator(mode="after")
    def _style_score(self) -> JudgeTrainConfig:
        if self.style_score == "verifier" and not self.verifier.enabled:
            raise ValueError("style_score verifier needs the verifier trained: set judge.verifier.enabled: true")
        return self

    @model_validator(mode="after")
    def _as_is(self) -> JudgeTrainConfig:
        if not self.train and (self.fused or self.text_view != "raw"):
            raise ValueError("train: false takes the encoder as it is: fused and text_view (fitted in training) "
                             "must stay off (fused: false, text_view: raw)")
        return self

    @model_validator(mode="after")
    def _metric_is_logged(self) -> JudgeTrainConfig:
        metric = (self.model_extra or {}).get("metric_for_best_model")
        logged = self.logged_metrics()
        # transformers prefixes a name without "eval_" itself
        if isinstance(metric, str) and (metric if metric.startswith("eval_") else f"eval_{metric}") not in logged:
            raise ValueError(f"metric_for_best_model {metric!r} is not logged by the judge (loss {self.loss}); "
                             f"logged: {', '.join(logged)}")
        return self

    def stage_defaults(self) -> dict[str, Any]:
        defaults: dict[str, Any] = {"eval_strategy": "steps", "save_strategy": "steps", "load_best_model_at_end": True,
                                    "metric_for_best_model": self.METRIC, "greater_is_better": True,
                                    "save_total_limit": 2}
        if self.loss == "mnrl":  # no author twice in a batch: every in-batch negative is another author
            defaults["batch_sampler"] = distinct_author_batches
        elif self.loss != "cosine":  # batches hold several chunks of each author they draw
            defaults["batch_sampler"] = "group_by_label"
        if self.text_prefix:
            defaults["prompts"] = self.text_prefix
        return defaults
