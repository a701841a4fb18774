"""Run the pipeline's stages in order: ``python -m litstyle.pipeline --config config/demo_cpu.yaml``.

Each stage is skipped when its manifest is up to date; ``--force`` reruns the selected stages,
``--only a,b`` / ``--from STAGE`` select stages.  A trainer stage whose section sets
``accelerate_config`` runs as ``accelerate launch --config_file FILE <its script>`` (multi-GPU).
With ``llm.share_servers`` each LLM server starts once and stays up until the pipeline ends.
Ends with a table of per-stage wall times.  ``--check`` validates the whole recipe without
loading a model.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

from litstyle import cli, serve, stages
from litstyle.config import ConfigError, Recipe
from litstyle.rundir import Stage, StageError, StageResult, read_manifest, run_stage, stage_path, stale_reason

log = logging.getLogger("litstyle.pipeline")
REPO = Path(__file__).resolve().parents[1]


def select(only: str | None = None, start: str | None = None) -> list[Stage]:
    known = stages.names()
    chosen = list(stages.STAGES)
    if only:
        wanted = [name.strip() for name in only.split(",") if name.strip()]
        for name in wanted:
            if name not in known:
                raise ConfigError(f"--only: unknown stage {name!r}; stages: {', '.join(known)}")
        chosen = [s for s in chosen if s.name in wanted]
    if start:
        if start not in known:
            raise ConfigError(f"--from: unknown stage {start!r}; stages: {', '.join(known)}")
        chosen = [s for s in chosen if known.index(s.name) >= known.index(start)]
    return chosen


def launch(recipe: Recipe, stage: Stage, *, force: bool) -> StageResult:
    """Run ``stage`` through ``accelerate launch`` with its section's accelerate config."""
    config_file = getattr(recipe, stage.trainer).accelerate_config
    if not force and stale_reason(recipe, stage) is None:
        return run_stage(recipe, stage)  # up to date: logs and skips
    frozen = recipe.run_dir / "launch" / f"{stage.name}.yaml"
    frozen.parent.mkdir(parents=True, exist_ok=True)
    frozen.write_text(recipe.to_yaml())
    argv = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", config_file,
            str(REPO / stage.script), "--config", str(frozen)] + (["--force"] if force else [])
    log.info("stage %s: %s", stage.name, " ".join(argv))
    done = subprocess.run(argv, check=False)
    if done.returncode != 0:
        raise StageError(f"stage {stage.name}: accelerate launch exited with code {done.returncode}")
    path = stage_path(recipe, stage.name)
    return StageResult(stage.name, path, False, read_manifest(path) or {})


def run_pipeline(recipe: Recipe, *, force: bool = False, only: str | None = None,
                 start: str | None = None) -> list[StageResult]:
    """Run the selected stages (all by default) in order; ``force`` reruns them.  With
    ``llm.share_servers`` the LLM servers a stage needs are started before it and kept up (shared
    by the roles that serve the same model) until the last stage is done."""
    results = []
    with ExitStack() as servers:
        for stage in select(only, start):
            if recipe.llm.share_servers and (force or stale_reason(recipe, stage) is not None):
                for role in stage.server_roles(recipe):
                    servers.enter_context(serve.running(recipe, role))
            launcher = stage.trainer and getattr(recipe, stage.trainer).accelerate_config
            results.append(launch(recipe, stage, force=force) if launcher else run_stage(recipe, stage, force=force))
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
                    selection=True)


if __name__ == "__main__":
    sys.exit(main())
