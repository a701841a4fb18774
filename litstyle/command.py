"""The recipe command line every entry point shares: ``--config FILE`` plus ``dotted.key=value``
overrides and ``--log-level`` (stage entry points add ``--force`` / ``--check``), and the one-line
reporting of expected failures (``error: ...`` on stderr, exit 2 for bad input, 1 for a stage that
could not finish, the traceback of what caused it only at ``--log-level DEBUG``).  Below the servers and the content judge, whose own ``main`` use it too.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import traceback
from typing import Any, Callable

from litstyle.errors import ConfigError, StageError


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


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``timeout``, a scheduler, accelerate stopping its other ranks), handled like Ctrl-C:
    the same clean-up runs (servers stopped, no half-written stage)."""


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated


def report_errors(body: Callable[[], int | None]) -> int:
    """Run ``body``; expected failures become one ``error: ...`` line: exit 2 for bad input, 1 for a
    stage that could not finish, 130 for Ctrl-C and 143 for SIGTERM.  Anything else is a bug and keeps
    its traceback."""
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        return body() or 0
    except ConfigError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except StageError as exc:
        if exc.__cause__ is not None and logging.getLogger().isEnabledFor(logging.DEBUG):  # --log-level DEBUG
            traceback.print_exception(exc.__cause__)
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except KeyboardInterrupt as exc:
        sys.stderr.write(f"{'terminated' if isinstance(exc, Terminated) else 'interrupted'}: finished stages are "
                         "kept, the running one left no output\n")
        return 143 if isinstance(exc, Terminated) else 130
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
