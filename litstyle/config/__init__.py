"""The recipe: one YAML, one section per stage, read, overridden and validated up front.

Everything here is fast: no torch, no model.  Trainer sections (``judge``, ``sft``, ``grpo``) keep their
own few keys and pass every other key through to the library's config class (sentence-transformers /
TRL); those keys are checked by :mod:`litstyle.trainer_args`.

The rooms: ``reading`` (YAML files, overrides, ``extends``), ``fields`` (the section base and shared
field types), one module per stage family (``run``, ``corpus``, ``servers``, ``judge``, ``sft``, ``grpo``,
``eval``), ``trainer`` (the trainer-section base and LoRA) and ``recipe`` (the Recipe, its validation,
path resolution, ``load_recipe``).  A new stage's options go in its family's module and one Recipe field.
"""

from litstyle.config.corpus import GUTENBERG, PAPER_SUBJECTS, CorpusConfig, DownloadConfig
from litstyle.config.eval import EvalConfig, EvalSystem
from litstyle.config.fields import ENV_NAME, EnvName, Section, Stylometry, api_key, closest, is_url, keyless_url
from litstyle.config.grpo import GRPODataConfig, GRPOStageConfig
from litstyle.config.judge import JudgeBenchmarkConfig, JudgePairsConfig, JudgeTrainConfig
from litstyle.config.reading import apply_override, merged, parse_value, read_recipe, read_yaml
from litstyle.config.recipe import (INPUT_PATHS, OUTPUT_PATHS, RUN_ONLY, Recipe, load_recipe, project_root,
                                    recipe_hash, resolve_inputs, validate)
from litstyle.config.run import DEFAULT_AUTHORS, ModelsConfig, RunConfig, WandbConfig
from litstyle.config.servers import SERVER_DEFAULTS, LLMConfig, ServerConfig
from litstyle.config.sft import PromptsConfig, SFTDataConfig, SFTStageConfig
from litstyle.config.trainer import LoraConfig, TrainerSection

__all__ = [
    "CorpusConfig", "DEFAULT_AUTHORS", "DownloadConfig", "ENV_NAME", "EnvName", "EvalConfig", "EvalSystem",
    "GRPODataConfig", "GRPOStageConfig", "GUTENBERG", "INPUT_PATHS", "JudgeBenchmarkConfig", "JudgePairsConfig",
    "JudgeTrainConfig", "LLMConfig", "LoraConfig", "ModelsConfig", "OUTPUT_PATHS", "PAPER_SUBJECTS",
    "PromptsConfig", "RUN_ONLY", "Recipe", "RunConfig", "SERVER_DEFAULTS", "SFTDataConfig", "SFTStageConfig",
    "Section", "ServerConfig", "Stylometry", "TrainerSection", "WandbConfig", "api_key", "apply_override",
    "closest", "is_url", "keyless_url", "load_recipe", "merged", "parse_value", "project_root", "read_recipe",
    "read_yaml", "recipe_hash", "resolve_inputs", "validate",
]
