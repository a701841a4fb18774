"""The command line shared by the pipeline and every stage script.

``--config FILE`` plus ``dotted.key=value`` overrides, ``--force``, ``--check``.  Bad input is
reported as one ``error: ...`` line on stderr with exit code 2, before any model loads.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, Callable

from litstyle.config import ConfigError, Recipe, load_recipe
from litstyle.log import setup_logging
from litstyle.rundir import StageError

log = logging.getLogger(__name__)


def parser(prog: str, description: str | None, *, stage_flags: bool = True,
           selection: bool = False) -> argparse.ArgumentParser:
    """``--config FILE`` + overrides + ``--log-level``; stage entry points add ``--force``/``--check``."""
    p = argparse.ArgumentParser(prog=prog, description=(description or "").strip().splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, metavar="FILE", help="recipe YAML (see config/)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="dotted overrides, e.g. grpo.beta=0.001 run.run_dir=runs/x")
    if stage_flags:
        p.add_argument("--force", action="store_true", help="rerun even when the output is up to date")
        p.add_argument("--check", action="store_true", help="validate the recipe and exit (loads no model)")
    if selection:
        p.add_argument("--only", metavar="STAGE[,STAGE]", help="run only these stages")
        p.add_argument("--from", dest="start", metavar="STAGE", help="run this stage and the ones after it")
    p.add_argument("--log-level", default=None, choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                   help="overrides run.log_level")
    return p


def report_errors(body: Callable[[], int | None]) -> int:
    """Run ``body``; expected failures become one ``error: ...`` line: exit 2 for bad input, 1 for a
    stage that could not finish.  Anything else is a bug and keeps its traceback."""
    try:
        return body() or 0
    except ConfigError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except StageError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: finished stages are kept, the running one left no output\n")
        return 130


def main(argv: list[str] | None, *, prog: str, description: str | None,
         action: Callable[[Recipe, argparse.Namespace], Any], trainer_sections: list[str] | None = None,
         selection: bool = False) -> int:
    """Parse, validate, then run ``action``.  ``trainer_sections``: which trainer sections to
    validate before a run (None: all of them; ``--check`` always validates all)."""
    args = parser(prog, description, selection=selection).parse_intermixed_args(argv)

    def body() -> int:
        recipe = load_recipe(args.config, args.overrides)
        setup_logging(args.log_level or recipe.run.log_level)
        from litstyle import trainer_args

        trainer_args.check_recipe(recipe, None if args.check else trainer_sections)
        if args.check:
            log.info("%s: recipe is valid", args.config)
            return 0
        action(recipe, args)
        return 0

    return report_errors(body)


def stage_main(name: str, argv: list[str] | None = None, *, trainer_sections: list[str] | None = None) -> int:
    """Entry point of a stage script: run the one stage ``name`` of the pipeline."""
    from litstyle.stages import get_stage
    from litstyle.rundir import run_stage

    stage = get_stage(name)
    return main(argv, prog=sys.argv[0], description=f"stage {name}: {stage.description}",
                action=lambda recipe, args: run_stage(recipe, stage, force=args.force),
                trainer_sections=trainer_sections or [])
