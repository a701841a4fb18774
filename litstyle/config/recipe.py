"""The Recipe (one section per stage), its validation with one-line error messages, path resolution,
``load_recipe`` and the stage hashes' ``recipe_hash``."""

from __future__ import annotations

import fnmatch
import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from litstyle.config.corpus import CorpusConfig
from litstyle.config.eval import EvalConfig
from litstyle.config.fields import Section, closest, is_url
from litstyle.config.grpo import GRPODataConfig, GRPOStageConfig
from litstyle.config.judge import JudgeBenchmarkConfig, JudgePairsConfig, JudgeTrainConfig
from litstyle.config.reading import apply_override, read_recipe
from litstyle.config.run import ModelsConfig, RunConfig
from litstyle.config.servers import LLMConfig
from litstyle.config.sft import PromptsConfig, SFTDataConfig, SFTStageConfig
from litstyle.config.trainer import TrainerSection
from litstyle.errors import ConfigError


class Recipe(Section):
    run: RunConfig = Field(default_factory=RunConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    corpus: CorpusConfig = Field(default_factory=CorpusConfig)
    llm: LLMConfig = Field(default_factory=lambda: LLMConfig.model_validate({}))
    judge_pairs: JudgePairsConfig = Field(default_factory=JudgePairsConfig)
    judge_benchmark: JudgeBenchmarkConfig = Field(default_factory=JudgeBenchmarkConfig)
    judge: JudgeTrainConfig = Field(default_factory=JudgeTrainConfig)
    prompts: PromptsConfig = Field(default_factory=PromptsConfig)
    sft_data: SFTDataConfig = Field(default_factory=SFTDataConfig)
    sft: SFTStageConfig = Field(default_factory=SFTStageConfig)
    grpo_data: GRPODataConfig = Field(default_factory=GRPODataConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    grpo: GRPOStageConfig = Field(default_factory=GRPOStageConfig)

    @model_validator(mode="after")
    def _stages_fit(self) -> Recipe:
        for system in self.eval.systems:
            if system.step is not None and system.step not in self.grpo.curve_steps:
                raise ValueError(f"eval.systems {system.name!r}: step {system.step} is not one of grpo.curve_steps "
                                 f"{self.grpo.curve_steps} (the steps GRPO saves the policy at)")
        if self.judge.style_score == "verifier" and self.judge_pairs.split == "author_disjoint":
            raise ValueError("judge.style_score verifier: the verifier knows only training authors, and the split "
                             "author_disjoint may leave run.authors out of training: use judge_pairs.split "
                             "book_disjoint or all_books (both train run.authors)")
        if self.judge_pairs.chunk_words not in self.corpus.chunk_words:
            raise ValueError(f"judge_pairs.chunk_words {self.judge_pairs.chunk_words} is not one of "
                             f"corpus.chunk_words {self.corpus.chunk_words}")
        for key in ("chunk_words", "profile_words"):
            missing = [w for w in getattr(self.judge_benchmark, key) or [] if w not in self.corpus.chunk_words]
            if missing:
                raise ValueError(f"judge_benchmark.{key} {missing} are not in corpus.chunk_words "
                                 f"{self.corpus.chunk_words}")
        return self

    def check_chunk_sizes(self, stages: Iterable[str]) -> None:
        """The corpus chunk sizes that ``stages`` read exist (else they fail after the stages before them
        ran).  Called by every entry point for the stages it will run (``--check``: all of them)."""
        sizes = {"judge_pairs": {"judge_pairs.fusion_words": self.judge_pairs.fusion_words or self.judge_pairs.chunk_words},
                 "judge": {"judge.verifier.words": self.judge.verifier.words} if self.judge.verifier.enabled else {},
                 "sft_data": {"sft_data.reference_words": self.sft_data.reference_words,
                              **({"sft_data.corpus_words": self.sft_data.corpus_words}
                                 if self.sft_data.source == "corpus" else {})},
                 "grpo_data": {"grpo_data.sample_words": self.grpo_data.sample_words},
                 "eval": {"eval.attribution_words": self.eval.attribution_words,
                          **{f"eval.systems.{s.name}.shot_words": s.shot_words for s in self.eval.systems
                             if s.enabled and s.prompt_mode == "few_shot" and s.shot_source == "corpus"}}}
        for stage in stages:
            for key, words in sizes.get(stage, {}).items():
                if words not in self.corpus.chunk_words:
                    raise ConfigError(f"{key}: {words} is not one of corpus.chunk_words {self.corpus.chunk_words}")

    @property
    def run_dir(self) -> Path:
        return Path(self.run.run_dir)

    def trainer_sections(self) -> dict[str, TrainerSection]:
        return {name: getattr(self, name) for name, field in type(self).model_fields.items()
                if isinstance(field.default_factory, type) and issubclass(field.default_factory, TrainerSection)}

    def section_data(self, dotted: str, *, results_only: bool = False) -> Any:
        """The JSON-able content of ``section`` or ``section.key``; ``results_only`` leaves out the
        :data:`RUN_ONLY` settings (for stage hashes)."""
        node: Any = self.model_dump(mode="json")
        for part in dotted.split("."):
            node = node[part]
        return _drop_run_only(dotted, node) if results_only else node

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


# --- pydantic errors -> one line ----------------------------------------------------------------

_TYPE_WORDS = {
    "int_type": "an integer", "float_type": "a number", "string_type": "a string", "bool_type": "true or false",
    "list_type": "a list", "dict_type": "a mapping", "model_type": "a mapping", "int_from_float": "an integer",
}


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: Any = Recipe
    for part in loc[:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _one_line(exc: ValidationError) -> str:
    errors = exc.errors()
    err = errors[0]
    loc = tuple(err["loc"])
    key = ".".join(str(p) for p in loc) or "recipe"
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        message = f"{key}: unknown key{closest(str(loc[-1]), _allowed_keys(loc))}"
        if len(loc) == 1:
            message += f" (sections: {', '.join(Recipe.model_fields)})"
    elif kind == "literal_error":
        message = f"{key}: {value!r} is not allowed; choose one of {err['ctx']['expected']}"
    elif kind in _TYPE_WORDS:
        message = f"{key}: expected {_TYPE_WORDS[kind]}, got {type(value).__name__} {value!r}"
    elif kind == "value_error":
        message = f"{key}: {str(err['msg']).removeprefix('Value error, ')}"
    else:
        message = f"{key}: {err['msg'].lower()}, got {value!r}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return message


def validate(data: dict[str, Any]) -> Recipe:
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None


# Settings that decide how a stage runs, never what it produces: they are left out of the stage hashes,
# so changing them reruns nothing (``*`` is one key: any LLM server role).
RUN_ONLY = ("corpus.download.workers", "llm.*.port", "llm.*.concurrency", "llm.*.timeout_s",
            "llm.*.startup_timeout_s")


def _drop_run_only(dotted: str, node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    return {key: _drop_run_only(f"{dotted}.{key}", value) for key, value in node.items()
            if not any(fnmatch.fnmatchcase(f"{dotted}.{key}", pattern) for pattern in RUN_ONLY)}


# Files and folders a recipe reads (not run.run_dir, which it writes).
INPUT_PATHS = ("corpus.catalog", "corpus.mirror", "llm.judge_prompt", "llm.cpu_venv", "prompts.plots_file",
               "judge.accelerate_config", "sft.accelerate_config", "grpo.accelerate_config")


def project_root(recipe_path: str | Path) -> Path:
    """The folder a recipe belongs to: the one holding its ``config/`` folder (else the recipe's own folder)."""
    folder = Path(recipe_path).resolve().parent
    return folder.parent if folder.name == "config" else folder


# Where a run writes and caches: ``~`` is expanded like in INPUT_PATHS.
OUTPUT_PATHS = ("run.run_dir", "models.cache_dir", "corpus.download.cache_dir")


def resolve_inputs(data: dict[str, Any], root: Path) -> None:
    """``~`` in a path (input or output) is the home folder, wherever the path is opened later.  A
    relative input path is read from the working folder; when nothing is there, from ``root`` (the
    recipe's project folder), so that ``--config /opt/litstyle/config/h100x4.yaml`` finds
    ``/opt/litstyle/data/plots.txt`` from any folder.  Outputs (``run.run_dir``) stay where the run is."""
    for key in (*INPUT_PATHS, *OUTPUT_PATHS):
        *sections, name = key.split(".")
        node: Any = data
        for section in sections:
            if not isinstance(node, dict):
                break
            if node.get(section) is None:
                node[section] = {}
            node = node[section]
        if not isinstance(node, dict):
            continue  # validation says what is wrong
        model: Any = Recipe
        for section in sections:
            model = model.model_fields[section].annotation
        value = node.get(name, model.model_fields[name].default)
        if not isinstance(value, str):
            continue
        if value.startswith("~"):
            node[name] = str(Path(value).expanduser())
        elif key in INPUT_PATHS and not is_url(value) and not Path(value).is_absolute() \
                and not Path(value).exists() and (root / value).exists():
            node[name] = str((root / value).resolve())


def load_recipe(path: str | Path, overrides: Iterable[str] = ()) -> Recipe:
    """Read a recipe YAML (and the one it ``extends``), apply ``dotted.key=value`` overrides, find its input
    files (``resolve_inputs``) and validate the schema."""
    data = read_recipe(path)
    for override in overrides:
        apply_override(data, override)
    resolve_inputs(data, project_root(path))
    return validate(data)


def recipe_hash(obj: Any) -> str:
    """Stable sha256 of a JSON-able config fragment."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
