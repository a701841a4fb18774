"""Sections ``run`` (run dir, seed, authors, logging, wandb) and ``models`` (model names and where they load)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from litstyle import models as model_registry
from litstyle.config.fields import Section


class WandbConfig(Section):
    enabled: bool = False
    project: str = "litstyle"
    mode: Literal["offline", "online"] = "offline"


DEFAULT_AUTHORS = ["Twain, Mark", "Dickens, Charles", "Austen, Jane", "Hardy, Thomas"]
# A run dir is a folder of its own: stages make, replace and remove folders in it. Never these folders, and
# never inside the first group (the operating system's own; /proc and /sys take no files, which the run dir's
# write probe in litstyle.checks reports).
SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/sbin", "/usr")
SYSTEM_FOLDERS = ("/home", "/media", "/mnt", "/opt", "/root", "/run", "/srv", "/tmp", "/var")


class RunConfig(Section):
    run_dir: str = "runs/default"
    seed: int = Field(42, ge=0)
    authors: list[str] = Field(default_factory=lambda: list(DEFAULT_AUTHORS), min_length=1)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    wandb: WandbConfig = Field(default_factory=WandbConfig)

    @field_validator("run_dir")
    @classmethod
    def _own_folder(cls, value: str) -> str:
        path = Path(value).expanduser().resolve()
        system = next((Path(t) for t in SYSTEM_TREES if path == Path(t) or Path(t) in path.parents), None)
        if path == Path(path.anchor) or system is not None or str(path) in SYSTEM_FOLDERS or path == Path.home():
            where = "a filesystem root" if path == Path(path.anchor) else \
                f"inside the system folder {system}" if system not in (None, path) else "a system or home folder"
            raise ValueError(f"{value} is {where}; a run dir is a folder of its own that stages write and replace "
                             "folders in: give one such as runs/demo")
        return value


class ModelsConfig(Section):
    """Model names: an alias (``minilm``, ``smollm2-135m``), a local folder or a hub id (GPU nodes)."""

    cache_dir: str | None = None
    policy: str = "smollm2-135m"
    encoder: str = "minilm"
    judge_llm: str = "smollm2-135m"
    teacher_llm: str = "smollm2-135m"
    rewriter_llm: str = "smollm2-135m"
    # the models whose own code (a hub repo's modelling files) may run, by key: e.g. [encoder]; a hub model
    # listed here needs its revision pinned in `revision`, so the code that runs is the code you read
    trust_remote_code: list[Literal["policy", "encoder", "judge_llm", "teacher_llm", "rewriter_llm"]] = Field(
        default_factory=list)
    revision: dict[Literal["policy", "encoder", "judge_llm", "teacher_llm", "rewriter_llm"], str] = Field(
        default_factory=dict)  # hub models: a commit (or tag) to fetch and load instead of the newest
    # where the style judge encodes (GRPO reward, sft_data filter, benchmark, eval): auto = this rank's GPU
    # (cuda:LOCAL_RANK) when CUDA is available, else the CPU; or cpu, cuda, cuda:N
    encoder_device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?|mps)$")

    @field_validator("policy", "encoder", "judge_llm", "teacher_llm", "rewriter_llm")
    @classmethod
    def _known_model(cls, value: str) -> str:
        model_registry.check_name(value)
        return value

    @field_validator("trust_remote_code", mode="before")
    @classmethod
    def _named_models(cls, value: Any) -> Any:
        if value is False:
            return []
        if value is True:
            raise ValueError("name the models whose code may run, e.g. [encoder] (one global true would run "
                             "the code of every model)")
        return value

    @model_validator(mode="after")
    def _pinned_code(self) -> ModelsConfig:
        for key in self.trust_remote_code:
            if model_registry.is_hub_id(getattr(self, key)) and key not in self.revision:
                raise ValueError(f"trust_remote_code lists {key} ({getattr(self, key)}), a hub model: pin the "
                                 f"code that runs with revision: {{{key}: <commit>}}")
        return self

    def trusts(self, key: str) -> bool:
        """Whether model ``key``'s own code may run."""
        return key in self.trust_remote_code

    def path(self, key: str, name: str | None = None) -> str:
        """Model ``key`` (or ``name`` in its place) as a local folder, or a hub id."""
        name = name or getattr(self, key)
        return model_registry.resolve(name, self.cache_dir, self.revision.get(key) if name == getattr(self, key) else None)
