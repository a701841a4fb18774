"""litstyle installed as a wheel (not editable, as docker.def installs it) runs from any folder: stages
launch as ``python -m litstyle.cli STAGE``, never from a path inside the package, and a recipe's input
files (plots, judge prompt, accelerate configs, the local mirror) are found from its project folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DEMO, REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding litstyle installed from its wheel (dependencies: the test venv's)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"  # built from a copy: a build leaves build/ and *.egg-info where it runs
    shutil.copytree(REPO / "litstyle", source / "litstyle", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"), str(source)],
                   check=True, capture_output=True, timeout=600, cwd=root)
    wheel = next((root / "dist").glob("litstyle-*.whl"))
    subprocess.run([*pip, "install", "--no-deps", "--target", str(root / "site"), str(wheel)], check=True,
                   capture_output=True, timeout=600)
    return root / "site"


def run(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def test_the_installed_package_runs_stages_from_another_folder(installed: Path, tmp_path: Path) -> None:
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = run(installed, work, "-c", "import litstyle; print(litstyle.__file__)")
    assert where.stdout.strip().startswith(str(installed)), where.stdout + where.stderr
    assert not (installed / "Train").exists() and not (installed / "data").exists()  # only the package

    # the paper recipe validates: data/plots.txt, the judge prompt, the accelerate configs come from REPO
    check = run(installed, work, "-m", "litstyle.pipeline", "--config", str(REPO / "config" / "h100x4.yaml"), "--check")
    assert check.returncode == 0, check.stderr[-2000:]

    run_dir = work / "runs" / "demo"
    small = [f"run.run_dir={run_dir}", "corpus.include=[]", "corpus.contrast_subjects=[]", "corpus.chunk_words=[500, 1500]",
             "judge_pairs.chunk_words=500", "judge_benchmark.chunk_words=[500]", "eval.attribution_words=500"]
    done = run(installed, work, "-m", "litstyle.pipeline", "--config", str(DEMO), "--only", "corpus,grpo_data", *small)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads((run_dir / "grpo_data" / "manifest.json").read_text())["counts"]
    assert rows["train_rows"] > 0 and rows["test_rows"] > 0
    # the module entry point the pipeline, accelerate launch -m and the container apps use
    again = run(installed, work, "-m", "litstyle.cli", "grpo_data", "--config", str(DEMO), "--force", *small)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "stage grpo_data: done" in again.stderr
    unknown = run(installed, work, "-m", "litstyle.cli", "grpo", "--config", str(DEMO), "grpo.loss_type=x")
    assert unknown.returncode == 2 and unknown.stderr.strip().splitlines()[-1].startswith("error: grpo.loss_type")
    assert sorted(p.name for p in work.iterdir()) == ["runs"]  # nothing else written where it ran
