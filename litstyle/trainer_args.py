"""Trainer sections -> the library's own config objects (TRL SFTConfig/GRPOConfig, ST training args).

Keys of a trainer section that litstyle does not own are passed through unchanged, so any option
of those libraries works without new code.  They are checked here before anything heavy runs:
unknown keys (with the closest match), value types against the dataclass annotations, enum
values, positive sizes, and finally by constructing the object, so that the library's own
``__post_init__`` checks run too.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import os
import types
import typing
import warnings
from pathlib import Path
from typing import Any, Literal, Union

from litstyle.config import Recipe, TrainerSection, closest
from litstyle.errors import ConfigError

# Documented choices of plain-``str`` fields whose dataclass metadata carries no "choices" and that
# the libraries do not check themselves (TRL 1.16 GRPOConfig).  Metadata choices win where present.
CHOICES: dict[str, tuple[Any, ...]] = {
    "loss_type": ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo"),
    "scale_rewards": ("group", "batch", "none", True, False),
    "importance_sampling_level": ("token", "sequence"),
    "multi_objective_aggregation": ("sum_then_normalize", "normalize_then_sum"),
    "vllm_mode": ("server", "colocate"),
}
# Sizes that must be > 0 when set.
POSITIVE = {
    "per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps",
    "num_generations", "max_length", "max_completion_length", "max_prompt_length", "num_train_epochs",
    "learning_rate", "save_steps", "logging_steps", "eval_steps", "generation_batch_size",
    "steps_per_generation", "vllm_tensor_parallel_size", "max_grad_norm", "dataloader_num_workers",
}
# Keys litstyle sets itself from the run directory.
MANAGED = {"output_dir": "the stage folder inside run.run_dir", "logging_dir": "the stage folder inside run.run_dir"}


def args_class(section: TrainerSection) -> type:
    module, _, name = section.args_class.partition(":")
    return getattr(importlib.import_module(module), name)


def report_to(recipe: Recipe, *, for_check: bool = False) -> str:
    """Trackers for trainers: wandb only when enabled, and offline unless the recipe says online (set in the
    environment of a run; a check leaves the environment as it is)."""
    wandb = recipe.run.wandb
    if not wandb.enabled:
        return "none"
    if not for_check:
        os.environ.setdefault("WANDB_MODE", wandb.mode)
        os.environ.setdefault("WANDB_PROJECT", wandb.project)
    return "wandb"


def _type_ok(value: Any, tp: Any) -> bool:
    if tp is Any or tp is typing.Any:
        return True
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if origin is Literal:
        return value in typing.get_args(tp)
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return isinstance(value, tp) or value in {m.value for m in tp}
    if origin in (list, tuple) or tp in (list, tuple):
        args = typing.get_args(tp)
        return isinstance(value, list) and (not args or all(_type_ok(v, args[0]) for v in value))
    if origin is dict or tp is dict:
        return isinstance(value, dict)
    return True  # exotic annotations: left to the library's own checks


def _enum_values(tp: Any) -> list[Any]:
    candidates = typing.get_args(tp) if typing.get_origin(tp) in (Union, types.UnionType) else (tp,)
    for arg in candidates:
        if isinstance(arg, type) and issubclass(arg, enum.Enum):
            return [m.value for m in arg]
    return []


def _describe(tp: Any) -> str:
    text = getattr(tp, "__name__", None) if not typing.get_args(tp) else None
    return text or str(tp).replace("typing.", "")


def check_section(name: str, section: TrainerSection) -> type:
    """Check the pass-through keys of one section against its library class. Returns the class."""
    cls = args_class(section)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    own = set(type(section).model_fields)
    for key, value in section.trainer_kwargs().items():
        where = f"{name}.{key}"
        if key in MANAGED:
            raise ConfigError(f"{where}: set by litstyle ({MANAGED[key]}); remove it from the recipe")
        if key not in fields:
            raise ConfigError(f"{where}: unknown key for {cls.__name__}{closest(key, set(fields) | own)}")
        tp = hints.get(key, Any)
        allowed = fields[key].metadata.get("choices") or CHOICES.get(key) or _enum_values(tp)
        if allowed and value not in allowed and value is not None:
            raise ConfigError(f"{where}: {value!r} is not allowed; choose one of {', '.join(map(str, allowed))}")
        if not _type_ok(value, tp):
            raise ConfigError(f"{where}: expected {_describe(tp)}, got {type(value).__name__} {value!r}")
        if key in POSITIVE and isinstance(value, (int, float)) and not isinstance(value, bool) and value <= 0:
            raise ConfigError(f"{where}: must be > 0, got {value!r}")
        if key == "max_steps" and isinstance(value, int) and value < -1:
            raise ConfigError(f"{where}: {value} is not a number of steps; give a positive number, or -1 for "
                              "num_train_epochs")
    return cls


def build(name: str, recipe: Recipe, output_dir: str | Path, *, for_check: bool = False,
          defaults: dict[str, Any] | None = None, force: dict[str, Any] | None = None) -> Any:
    """Construct the library config object of trainer section ``name``.

    The section's ``stage_defaults()`` and ``defaults`` come first, the recipe's keys override them,
    and ``force`` (what the stage's data dictates, e.g. no evaluation without validation rows) wins.  With
    ``for_check`` the object is built only to run the library's own validation; hardware flags
    (bf16 on a CPU-only machine checking a GPU recipe) are then not held against it.
    """
    section: TrainerSection = getattr(recipe, name)
    cls = check_section(name, section)
    kwargs: dict[str, Any] = {"report_to": report_to(recipe, for_check=for_check), "seed": recipe.run.seed,
                              **section.stage_defaults(), **(defaults or {})}
    kwargs.update(section.trainer_kwargs())
    kwargs.update(force or {})
    kwargs["output_dir"] = str(output_dir)
    if for_check:
        import torch

        if not torch.cuda.is_available():
            kwargs["use_cpu"] = True
    try:
        with warnings.catch_warnings():
            if for_check:  # deprecation chatter of library defaults is not the recipe's problem
                warnings.simplefilter("ignore", FutureWarning)
            return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{name}: {cls.__name__} rejected the section: {first}") from None


def check_recipe(recipe: Recipe, sections: list[str] | None = None) -> None:
    """Validate the trainer sections (all by default) by building their config objects."""
    for name in sections if sections is not None else list(recipe.trainer_sections()):
        build(name, recipe, recipe.run_dir / name, for_check=True)
