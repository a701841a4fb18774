"""Run directory: manifests, skip when up to date, --force, atomic output under failure and SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import PYTHON, REPO
from litstyle import pipeline, stages
from litstyle.config import load_recipe
from litstyle.errors import StageError
from litstyle.config import RUN_ONLY
from litstyle.rundir import Stage, StageContext, config_hash, file_sha256, run_stage, stale_reason

CALLS: list[str] = []


def _write_numbers(ctx: StageContext) -> None:
    CALLS.append(ctx.name)
    n = ctx.recipe.run.seed
    (ctx.out_dir / "numbers.txt").write_text("\n".join(str(i) for i in range(n)))
    ctx.counts["rows"] = n


def _sum_numbers(ctx: StageContext) -> None:
    CALLS.append(ctx.name)
    numbers = (ctx.inputs["numbers"] / "numbers.txt").read_text().split()
    (ctx.out_dir / "sum.txt").write_text(str(sum(map(int, numbers))))
    ctx.counts["inputs"] = len(numbers)


NUMBERS = Stage("numbers", _write_numbers, sections=("run.authors",))
TOTAL = Stage("total", _sum_numbers, sections=("models",), inputs=("numbers",))


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    CALLS.clear()


def test_manifest_records_hash_inputs_versions_counts(demo_recipe: Path) -> None:
    recipe = load_recipe(demo_recipe, ["run.seed=5"])
    first = run_stage(recipe, NUMBERS)
    second = run_stage(recipe, TOTAL)
    assert not first.skipped and not second.skipped
    manifest = json.loads((second.path / "manifest.json").read_text())
    assert manifest["stage"] == "total" and manifest["seed"] == 5
    assert manifest["counts"] == {"inputs": 5}
    assert set(manifest["inputs"]) == {"numbers"} and len(manifest["inputs"]["numbers"]) == 64
    assert manifest["versions"]["torch"].startswith("2.13.0") and "trl" in manifest["versions"]
    assert manifest["wall_time_s"] >= 0 and len(manifest["config_hash"]) == 64
    assert (second.path / "sum.txt").read_text() == "10"


def test_skip_when_up_to_date_rerun_on_change_and_force(demo_recipe: Path) -> None:
    recipe = load_recipe(demo_recipe)
    run_stage(recipe, NUMBERS)
    run_stage(recipe, TOTAL)
    assert CALLS == ["numbers", "total"]
    assert run_stage(recipe, NUMBERS).skipped and run_stage(recipe, TOTAL).skipped
    assert CALLS == ["numbers", "total"]
    # --force reruns that one stage; its new manifest makes the downstream stage stale
    assert not run_stage(recipe, NUMBERS, force=True).skipped
    assert stale_reason(recipe, TOTAL) == "inputs changed"
    run_stage(recipe, TOTAL)
    assert CALLS == ["numbers", "total", "numbers", "total"]
    # a change in a section the stage depends on reruns it; other sections do not
    changed = load_recipe(demo_recipe, ["run.authors=['Austen, Jane']", "grpo.beta=0.1"])
    assert stale_reason(changed, NUMBERS) == "config changed"
    assert stale_reason(changed, TOTAL) is None
    reseeded = load_recipe(demo_recipe, ["run.seed=3"])
    assert stale_reason(reseeded, NUMBERS) == "config changed"


def test_missing_input_is_a_clear_error(demo_recipe: Path) -> None:
    with pytest.raises(StageError, match=r"stage 'total' needs the output of stage 'numbers': run it first"):
        run_stage(load_recipe(demo_recipe), TOTAL)


def test_a_folder_that_is_no_stage_output_is_never_replaced(demo_recipe: Path) -> None:
    """run.run_dir at a project root or ~: a user's own `numbers/` (or `models/`, `eval/`) stays as it is."""
    recipe = load_recipe(demo_recipe)
    own = recipe.run_dir / "numbers"
    own.mkdir(parents=True)
    (own / "notes.txt").write_text("mine")
    with pytest.raises(StageError, match=r"^run.run_dir: .*numbers exists but is not the output of stage 'numbers'"):
        run_stage(recipe, NUMBERS, force=True)
    assert (own / "notes.txt").read_text() == "mine" and CALLS == []
    (own / "manifest.json").write_text('{"stage": "other"}')  # another stage's manifest is not this stage's
    with pytest.raises(StageError, match="is not the output of stage 'numbers'"):
        run_stage(recipe, NUMBERS)
    assert (own / "notes.txt").read_text() == "mine"


def test_failing_stage_keeps_previous_output_and_leaves_no_temp(demo_recipe: Path) -> None:
    recipe = load_recipe(demo_recipe)
    good = run_stage(recipe, NUMBERS)
    before = (good.path / "manifest.json").read_text()

    def explode(ctx: StageContext) -> None:
        (ctx.out_dir / "numbers.txt").write_text("partial")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_stage(recipe, Stage("numbers", explode, sections=("run.authors",)), force=True)
    assert (good.path / "manifest.json").read_text() == before
    assert (good.path / "numbers.txt").read_text().startswith("0\n1")
    assert sorted(p.name for p in recipe.run_dir.iterdir()) == [".numbers.lock", "numbers"]


KILLED_STAGE = """
import os, signal, sys, time
from pathlib import Path
from litstyle.config import load_recipe
from litstyle.rundir import Stage, run_stage

def slow(ctx):
    with open(ctx.out_dir / "big.txt", "w") as handle:
        for i in range(10_000):
            handle.write("x" * 1000 + "\\n")
            if i == 100:
                handle.flush()
                Path(sys.argv[2]).write_text(str(ctx.out_dir))
                time.sleep(60)
    ctx.counts["lines"] = 10_000

run_stage(load_recipe(sys.argv[1]), Stage("slow", slow, sections=("run",)))
"""


def test_sigkill_mid_write_leaves_no_output_and_rerun_completes(demo_recipe: Path, tmp_path: Path) -> None:
    marker = tmp_path / "writing"
    script = tmp_path / "killed_stage.py"
    script.write_text(KILLED_STAGE)
    proc = subprocess.Popen([PYTHON, str(script), str(demo_recipe), str(marker)], cwd=REPO)
    try:
        deadline = time.time() + 60
        while not marker.exists():
            assert proc.poll() is None and time.time() < deadline, "stage never started writing"
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    run_dir = load_recipe(demo_recipe).run_dir
    assert not (run_dir / "slow").exists()
    assert Path(marker.read_text()).exists(), "the half-written temp folder is what a kill leaves"
    # the rerun removes the leftover and completes (fast: the sleep only happens in the child)
    proc = subprocess.run([PYTHON, "-c", KILLED_STAGE.replace("time.sleep(60)", "pass"),
                           str(demo_recipe), str(marker)], cwd=REPO, timeout=120)
    assert proc.returncode == 0
    manifest = json.loads((run_dir / "slow" / "manifest.json").read_text())
    assert manifest["counts"] == {"lines": 10_000}
    assert sum(1 for _ in open(run_dir / "slow" / "big.txt")) == 10_000
    assert sorted(p.name for p in run_dir.iterdir()) == [".slow.lock", "slow"]


def test_pipeline_cli_runs_skips_and_forces(demo_recipe: Path, monkeypatch: pytest.MonkeyPatch,
                                             caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(stages, "STAGES", [NUMBERS, TOTAL])
    assert pipeline.main(["--config", str(demo_recipe), "run.seed=4"]) == 0
    assert CALLS == ["numbers", "total"]
    assert pipeline.main(["--config", str(demo_recipe), "run.seed=4"]) == 0
    assert CALLS == ["numbers", "total"]
    assert "up to date, skipped" in caplog.text
    assert pipeline.main(["--config", str(demo_recipe), "run.seed=4", "--force"]) == 0
    assert CALLS == ["numbers", "total"] * 2


def test_concurrent_run_of_one_stage_is_refused(demo_recipe: Path) -> None:
    recipe = load_recipe(demo_recipe)
    import fcntl

    recipe.run_dir.mkdir(parents=True)
    with open(recipe.run_dir / ".numbers.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(StageError, match="already running"):
            run_stage(recipe, NUMBERS)


def _read_plots(ctx: StageContext) -> None:
    CALLS.append(ctx.name)
    plots = ctx.read_file(ctx.recipe.prompts.plots_file).read_text().splitlines()
    (ctx.out_dir / "nested").mkdir()
    (ctx.out_dir / "nested" / "plots.txt").write_text("\n".join(plots))


PLOTS = Stage("plots", _read_plots, sections=("run.seed",))


def test_an_edited_input_file_or_a_lost_output_makes_a_stage_stale(demo_recipe: Path, tmp_path: Path) -> None:
    plots = tmp_path / "plots.txt"
    plots.write_text("a fox\na hen\n")
    recipe = load_recipe(demo_recipe, [f"prompts.plots_file={plots}"])
    first = run_stage(recipe, PLOTS)
    assert json.loads((first.path / "manifest.json").read_text())["files"] == {str(plots.resolve()): file_sha256(plots)}
    assert run_stage(recipe, PLOTS).skipped
    plots.write_text("a fox\na hen\na cat\n")  # the same recipe, another file content
    assert stale_reason(recipe, PLOTS) == f"input file changed: {plots.resolve()}"
    run_stage(recipe, PLOTS)
    assert (first.path / "nested" / "plots.txt").read_text().endswith("a cat") and CALLS == ["plots", "plots"]
    # a deleted or truncated output with its manifest kept is not "up to date"
    (first.path / "nested" / "plots.txt").unlink()
    assert stale_reason(recipe, PLOTS) == f"output missing: {first.path / 'nested' / 'plots.txt'}"
    run_stage(recipe, PLOTS)
    (first.path / "nested" / "plots.txt").write_text("")
    assert stale_reason(recipe, PLOTS).startswith("output changed: ")
    plots.unlink()
    assert stale_reason(recipe, PLOTS) == f"input file missing: {plots.resolve()}"


RESULTS = ["corpus.download.retries=2", "llm.rewriter.max_model_len=1024", "llm.rewriter.served_name=other"]


@pytest.mark.parametrize("override", [*(f"{key.replace('*', 'rewriter')}={value}" for key, value in zip(
    RUN_ONLY, ["7", "8123", "3", "12.5", "99.0"])), *RESULTS])
def test_run_only_settings_change_no_stage_hash(demo_recipe: Path, override: str) -> None:
    """How a stage runs (workers, port, concurrency, timeouts) never makes it stale; what it produces does."""
    assert len(RUN_ONLY) == 5
    base, changed = load_recipe(demo_recipe), load_recipe(demo_recipe, [override])
    assert changed.section_data(override.split("=")[0]) != base.section_data(override.split("=")[0])
    touched = [s for s in stages.STAGES if config_hash(base, s) != config_hash(changed, s)]
    if override in RESULTS:
        assert touched, override
    else:
        assert touched == [], (override, [s.name for s in touched])
