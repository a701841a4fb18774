"""Sections of the SFT family: ``prompts`` (the story prompt every stage shares), ``sft_data`` (teacher
stories or corpus passages) and ``sft`` (TRL SFTConfig)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from litstyle.config.fields import Section
from litstyle.config.trainer import LoraConfig, TrainerSection


class PromptsConfig(Section):
    """The story prompt shared by SFT data, GRPO prompts and evaluation (litstyle.prompts)."""

    plots_file: str = "data/plots.txt"  # one premise per line
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)  # share of plots kept for GRPO test / evaluation
    min_words: int = Field(1200, gt=0)  # the word range the prompt asks for (paper: 1,200-1,500)
    max_words: int = Field(1500, gt=0)
    system: str | None = None  # optional system message

    @field_validator("plots_file")
    @classmethod
    def _plots_exist(cls, value: str) -> str:
        if not Path(value).expanduser().is_file():
            raise ValueError(f"file not found: {value}")
        return value

    @model_validator(mode="after")
    def _range(self) -> PromptsConfig:
        if self.min_words > self.max_words:
            raise ValueError(f"min_words {self.min_words} is above max_words {self.max_words}")
        return self


class SFTDataConfig(Section):
    """Stage ``sft_data``: teacher stories for (author, train plot), filtered by rules and the style judge."""

    # teacher: stories written by the teacher LLM (the paper); corpus: the author's own passages as the
    # targets of the same story prompts (no teacher starts): a passage of corpus_words words from a book of
    # the author other than the target book (the target book when there is none) + the end line; for a
    # teacher too weak to write in an author's voice (a CPU run)
    source: Literal["teacher", "corpus"] = "teacher"
    corpus_words: int = Field(500, gt=0)  # source corpus: the passage size (in corpus.chunk_words)
    plots_per_author: int | None = Field(None, gt=0)  # None: every train plot
    samples_per_prompt: int = Field(1, ge=1)
    temperature: float = Field(0.8, ge=0.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    max_tokens: int = Field(3000, gt=0)  # teacher completion budget (a reasoning model's thinking counts too)
    # for reasoning teachers (gpt-oss): how long it thinks before the story; sent as the request's
    # reasoning_effort (vLLM); None sends nothing
    reasoning_effort: Literal["low", "medium", "high"] | None = None
    reference_words: int = Field(1500, gt=0)  # style reference chunk size (in corpus.chunk_words)
    min_style: float = Field(0.4697, ge=-1.0, le=1.0)  # judge cosine to keep a story (paper: 0.4697)
    keep_top: float | None = Field(None, gt=0.0, le=1.0)  # instead: keep the best share per author
    min_words: int = Field(800, ge=0)  # shorter stories are dropped
    # the teacher's ending line: "exact" keeps it as written; "normalize" turns a last line "The End" /
    # "THE END!" into exactly "THE END."; "append" also adds the line to a story that ends with a
    # finished sentence but no end line (weak CPU teachers rarely write it; a cut-off story stays dropped)
    end_line: Literal["exact", "normalize", "append"] = "normalize"
    near_duplicate: float = Field(0.8, gt=0.0, le=1.0)  # word 5-gram Jaccard at or above: duplicate
    validation_fraction: float = Field(0.1, ge=0.0, lt=1.0)  # share of plots whose rows go to validation
    # a published SFT set instead of the teacher (no server starts): a hub id
    # (VibrantVista/story-style-SFT-dataset) or a local folder; rows with `messages`, or `prompt` + `completion`
    from_dataset: str | None = None


class SFTStageConfig(TrainerSection):
    """Supervised fine-tuning: extra keys go to trl.SFTConfig."""

    args_class: ClassVar[str] = "trl:SFTConfig"
    lora: LoraConfig = Field(default_factory=LoraConfig)
    resume: Literal["auto", "never"] = "auto"  # auto: continue from the last checkpoint of an interrupted run
