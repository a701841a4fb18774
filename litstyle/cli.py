"""The entry points of the pipeline and of every stage script: parse (:mod:`litstyle.command`),
validate the whole recipe (trainer sections included), then run.

``--config FILE`` plus ``dotted.key=value`` overrides, ``--force``, ``--check``.  Bad input is
reported as one ``error: ...`` line on stderr with exit code 2, before any model loads.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, Callable

from litstyle import checks, trainer_args
from litstyle.command import parser, report_errors
from litstyle.config import Recipe, load_recipe
from litstyle.log import setup_logging
from litstyle.rundir import run_stage
from litstyle.stages import get_stage, names

log = logging.getLogger("litstyle.cli")  # also when run as __main__


def main(argv: list[str] | None, *, prog: str, description: str | None,
         action: Callable[[Recipe, argparse.Namespace], Any], trainer_sections: list[str] | None = None,
         selection: bool = False, stages: Callable[[argparse.Namespace], list[str]] = lambda args: names()) -> int:
    """Parse, validate, then run ``action``.  ``trainer_sections``: which trainer sections to
    validate before a run (None: all of them; ``--check`` always validates all); ``stages``: the stages
    the command will run (:mod:`litstyle.checks` checks their inputs)."""
    args = parser(prog, description, selection=selection).parse_intermixed_args(argv)

    def body() -> int:
        recipe = load_recipe(args.config, args.overrides)
        setup_logging(args.log_level or recipe.run.log_level)
        trainer_args.check_recipe(recipe, None if args.check else trainer_sections)
        checks.check_inputs(recipe, [get_stage(name) for name in stages(args)])
        if args.check:
            log.info("%s: recipe is valid", args.config)
            return 0
        action(recipe, args)
        return 0

    return report_errors(body)


def stage_main(name: str, argv: list[str] | None = None, *, trainer_sections: list[str] | None = None,
               prog: str | None = None) -> int:
    """Entry point of a stage script: run the one stage ``name`` of the pipeline (validating its own
    trainer section, or ``trainer_sections``)."""
    stage = get_stage(name)
    sections = trainer_sections if trainer_sections is not None else [stage.trainer] if stage.trainer else []
    return main(argv, prog=prog or sys.argv[0], description=f"stage {name}: {stage.description}",
                action=lambda recipe, args: run_stage(recipe, stage, force=args.force), trainer_sections=sections,
                stages=lambda args: [name])


def run_one(argv: list[str] | None = None) -> int:
    """``python -m litstyle.cli STAGE --config FILE [...]``: one stage, wherever litstyle is installed.  What
    the pipeline launches (alone, or under ``accelerate launch -m`` / ``torchrun -m``), and what a container
    runs without the repository's scripts."""
    argv = list(sys.argv[1:] if argv is None else argv)
    known = names()
    if not argv or argv[0] not in known:
        got = f"unknown stage {argv[0]!r}" if argv and not argv[0].startswith("-") else "no stage given"
        sys.stderr.write(f"error: python -m litstyle.cli STAGE --config FILE: {got}; stages: {', '.join(known)}\n")
        return 2
    return stage_main(argv[0], argv[1:], prog=f"python -m litstyle.cli {argv[0]}")


if __name__ == "__main__":
    sys.exit(run_one())
