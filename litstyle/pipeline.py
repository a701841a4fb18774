"""Run the pipeline's stages in order: ``python -m litstyle.pipeline --config config/demo_cpu.yaml``.

Each stage is skipped when its manifest is up to date; ``--force`` reruns the selected stages,
``--only a,b`` / ``--from STAGE`` select stages.  A stage that loads models onto the accelerator runs in
a process of its own (``python -m litstyle.cli STAGE``), so its memory is returned before the next one;
a trainer stage whose section sets ``accelerate_config`` runs as ``accelerate launch --config_file FILE
-m litstyle.cli STAGE`` (multi-GPU).  With ``grpo.per_author`` the GRPO stage is one stage per run author
(``grpo-Twain_Mark``, ...), launched one after another.
With ``llm.share_servers`` each LLM server starts once and stays up until the pipeline ends.
Ends with a table of per-stage wall times.  ``--check`` validates the whole recipe without
loading a model.
"""

from __future__ import annotations

import logging
import sys
from contextlib import ExitStack

from litstyle import cli, serve, stages
from litstyle.config import Recipe
from litstyle.cli import launch
from litstyle.errors import ConfigError
from litstyle.rundir import Stage, StageResult, read_manifest, run_stage, stage_path, stale_reason

log = logging.getLogger("litstyle.pipeline")


def select(only: str | None = None, start: str | None = None) -> list[Stage]:
    known = stages.names()
    chosen = list(stages.STAGES)
    if only is not None:
        wanted = [name.strip() for name in only.split(",") if name.strip()]
        if not wanted:
            raise ConfigError(f"--only: no stage named; give one or more of {', '.join(known)} (comma-separated)")
        for name in wanted:
            if name not in known:
                raise ConfigError(f"--only: unknown stage {name!r}; stages: {', '.join(known)}")
        chosen = [s for s in chosen if s.name in wanted]
    if start:
        if start not in known:
            raise ConfigError(f"--from: unknown stage {start!r}; stages: {', '.join(known)}")
        chosen = [s for s in chosen if known.index(s.name) >= known.index(start)]
    if not chosen:
        raise ConfigError(f"--only {only} --from {start}: selects no stage (--from drops every stage --only names)")
    return chosen


def check_selection(recipe: Recipe, chosen: list[Stage]) -> None:
    """Every input of a selected stage runs before it or is already in the run dir: else one line naming
    it, before any stage runs or server starts."""
    selected = {stage.name for stage in chosen}
    for stage in chosen:
        for name in stage.input_names(recipe):
            if name not in selected and read_manifest(stage_path(recipe, name)) is None:
                raise ConfigError(f"stage {stage.name!r} needs the output of stage {name!r}, which is not selected and "
                                 f"not in {recipe.run_dir}: add it to --only or run it first")


def run_pipeline(recipe: Recipe, *, force: bool = False, only: str | None = None,
                 start: str | None = None) -> list[StageResult]:
    """Run the selected stages (all by default) in order; ``force`` reruns them.  With
    ``llm.share_servers`` the LLM servers a stage needs are started before it and kept up (shared
    by the roles that serve the same model) until the last stage is done; without it, the per-author parts of
    one stage (``grpo.per_author``) still share the servers they need, up from the first part to the last."""
    results = []
    groups = [stages.expand(recipe, stage) for stage in select(only, start)]
    check_selection(recipe, [part for parts in groups for part in parts])
    with ExitStack() as servers:
        for parts in groups:
            # the per-author parts of one stage (grpo.per_author) share its servers (the content judge starts
            # once for every author's GRPO, not once per author); with share_servers, every stage does
            with ExitStack() as group:
                for stage in parts:  # a server already up is used as it is (serve.running starts nothing)
                    if (recipe.llm.share_servers or len(parts) > 1) and \
                            (force or stale_reason(recipe, stage) is not None):
                        for role in stage.server_roles(recipe):
                            (servers if recipe.llm.share_servers else group).enter_context(serve.running(recipe, role))
                    own = stage.isolated or (stage.trainer and getattr(recipe, stage.trainer).accelerate_config)
                    results.append(launch(recipe, stage, force=force) if own else run_stage(recipe, stage, force=force))
    log.info("pipeline done; run dir %s\n%s", recipe.run_dir, summary(results))
    return results


def summary(results: list[StageResult]) -> str:
    lines = [f"{'stage':<16} {'status':<8} {'wall time':>10}"]
    for r in results:
        wall = r.manifest.get("wall_time_s")
        lines.append(f"{r.name:<16} {'skipped' if r.skipped else 'ran':<8} "
                     f"{(f'{wall:.1f} s' if isinstance(wall, (int, float)) else '-'):>10}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return cli.main(argv, prog="python -m litstyle.pipeline", description=__doc__,
                    action=lambda recipe, args: run_pipeline(recipe, force=args.force, only=args.only,
                                                             start=args.start),
                    selection=True, stages=lambda args: [s.name for s in select(args.only, args.start)])


if __name__ == "__main__":
    sys.exit(main())
