"""Chaos beyond the corpus: each cheap stage (corpus, judge_pairs, grpo_data) run as its stage script in a
process of its own, SIGKILLed at seeded random points while it works, then rerun: every file it publishes
(datasets, split.json, summaries; the manifest aside: it records times and ids) is byte-identical to an
undisturbed run's."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import PYTHON, REPO
from litstyle.config import load_recipe
from litstyle.rundir import MANIFEST, run_stage

pytestmark = pytest.mark.slow

STAGES = ("corpus", "judge_pairs", "grpo_data")
SMALL = ["corpus.include=[74, 1400, 158, 153, 583, 155, 507, 550, 619, 3409, 394, 4276, 177, 2870]",
         "corpus.chunk_words=[128, 500]",
         "judge_pairs.graded_fraction=0", "judge_pairs.train_pairs=200", "judge_pairs.eval_pairs=20",
         "judge_pairs.split_ratios=[0.5, 0.25, 0.25]"]
KILLS_PER_STAGE = 2


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}


def _script(stage: str, recipe: Path) -> list[str]:
    return [PYTHON, "-m", "litstyle.cli", stage, "--config", str(recipe), *SMALL]


def test_killed_stages_rerun_to_identical_outputs(demo_recipe: Path, tmp_path: Path) -> None:
    from litstyle.stages import get_stage

    reference = load_recipe(demo_recipe, [*SMALL, f"run.run_dir={tmp_path / 'undisturbed'}"])
    expected, took = {}, {}
    for stage in STAGES:
        result = run_stage(reference, get_stage(stage))
        expected[stage], took[stage] = _hashes(result.path), result.manifest["wall_time_s"]
    run_dir = load_recipe(demo_recipe).run_dir
    rng = random.Random(20261207)
    kills = []
    for stage in STAGES:
        for _ in range(KILLS_PER_STAGE):  # a kill somewhere between start-up and the end of the work
            proc = subprocess.Popen(_script(stage, demo_recipe), cwd=REPO, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True)
            delay = rng.uniform(0.2, 0.9) * (1.0 + took[stage])  # ~1 s of start-up (imports) before it works
            time.sleep(delay)
            finished = proc.poll() is not None
            if not finished:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            kills.append((stage, round(delay, 1), "finished first" if finished else "killed"))
        done = subprocess.run(_script(stage, demo_recipe), cwd=REPO, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        assert _hashes(run_dir / stage) == expected[stage], stage
        assert not list(run_dir.glob(f".{stage}.tmp-*")), stage  # the killed runs' staging folders are gone
    print("kills (stage, seconds in, outcome):", kills)
    assert sum(outcome == "killed" for *_, outcome in kills) >= len(STAGES)  # most points landed mid-run
