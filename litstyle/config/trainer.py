"""The trainer sections' base: a few own keys, every other key passed through to the library's config class
(checked by :mod:`litstyle.trainer_args`), and the LoRA block that SFT and GRPO share."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from litstyle.config.fields import Section


class LoraConfig(Section):
    enabled: bool = False
    r: int = Field(16, gt=0)
    lora_alpha: int = Field(32, gt=0)
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: str | list[str] = "all-linear"


class TrainerSection(BaseModel):
    """Own keys are declared fields; every other key goes to ``args_class`` (checked later)."""

    model_config = ConfigDict(extra="allow", strict=True, validate_default=True)
    args_class: ClassVar[str]
    # The pipeline runs this stage as `accelerate launch --config_file <file> <stage script>` (multi-GPU).
    accelerate_config: str | None = None

    @field_validator("accelerate_config")
    @classmethod
    def _launch_file(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).expanduser().is_file():
            raise ValueError(f"accelerate config not found: {value} (see config/accelerate/)")
        return value

    def trainer_kwargs(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def model_dtype(self) -> str | None:
        """The precision the model loads in (``model_init_kwargs.dtype``), which its saved folder keeps."""
        return (self.trainer_kwargs().get("model_init_kwargs") or {}).get("dtype")

    def stage_defaults(self) -> dict[str, Any]:
        """The stage's own choices for library keys (the recipe's keys override them).  Used by
        the stage and by ``--check`` alike, so the checked object is the one that trains."""
        return {}
