from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

# Under pytest-xdist (`make test`: two workers on two cores) each worker and the stages it launches compute on one
# thread: two processes of two threads each on two cores lose more to waiting on one another than they gain (a
# MiniLM training step here: 7.6 s on one thread, 8.8 s on two, and 16-17 s each with two such processes side by
# side; one thread each: 9.4-9.8 s side by side).  Set before torch, numpy or a stage is loaded.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

from litstyle.serve import free_port  # noqa: E402,F401  (the tests take their loopback ports from here)

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "config" / "demo_cpu.yaml"
PYTHON = sys.executable


@pytest.fixture()
def demo_recipe(tmp_path: Path) -> Path:
    """The demo recipe with its run dir moved into tmp_path."""
    data = yaml.safe_load(DEMO.read_text())
    data["run"]["run_dir"] = str(tmp_path / "run")
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def write_stage(run_dir: Path, name: str, data=None) -> Path:
    """A finished stage folder made by hand (a dataset saved to disk + a manifest), for tests that
    start in the middle of the pipeline."""
    import json
    import uuid

    folder = run_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    if data is not None:
        data.save_to_disk(str(folder))
    (folder / "manifest.json").write_text(json.dumps({"stage": name, "run_id": uuid.uuid4().hex}))
    return folder


# Stories for SFT tests: short, distinct, each ending with the line the prompt asks for.
STORIES = [
    "The river was low that summer, and the raft stuck on every bar. Jim laughed at me and said the river "
    "was teaching us patience, which it never taught anybody before.\nTHE END.",
    "Miss Ellen kept the lamp lit for three nights running. On the fourth the boat came in, and she put the "
    "lamp out without a word, as if it had been nothing at all.\nTHE END.",
    "The baker's oven had been cold since the fire, so the two rivals shared one hearth, and by the end of the "
    "week nobody in the market could tell whose bread was whose.\nTHE END.",
    "Old Tom hid his gold in the chimney and forgot it there; his nephew found it while sweeping, and gave it "
    "back, which surprised the whole parish more than the gold did.\nTHE END.",
]


# Two-line stories: an SFT model trained on them learns to end every answer with THE END. quickly.
SHORT_STORIES = ["The fox ran home.\nTHE END.", "The boat came in.\nTHE END.", "The lamp went out.\nTHE END.",
                 "The bread was good.\nTHE END."]


def sft_dataset(repeat: int = 4, stories: list[str] = STORIES):
    """A DatasetDict shaped like the sft_data stage's output: train = stories x repeat, validation = 2."""
    from datasets import Dataset, DatasetDict

    from litstyle.prompts import story_prompt

    def rows(stories):
        return [{"messages": story_prompt("Twain, Mark", "Adventures of Huckleberry Finn", f"plot {i}", 30, 60)
                 + [{"role": "assistant", "content": s}], "author": "Twain, Mark",
                 "title": "Adventures of Huckleberry Finn", "plot": f"plot {i}", "sample": 0, "style": 0.5,
                 "words": len(s.split())} for i, s in enumerate(stories)]

    return DatasetDict({"train": Dataset.from_list(rows(stories * repeat)),
                        "validation": Dataset.from_list(rows(stories[:2]))})


# The smallest corpus + style judge that the SFT-data and GRPO tests can score with (built once per session).
JUDGED = ["corpus.chunk_words=[128, 500]", "judge_benchmark.chunk_words=[128]", "judge_pairs.graded_fraction=0",
          "judge_pairs.train_pairs=32", "judge_pairs.eval_pairs=16", "judge.max_steps=2",
          "judge.per_device_train_batch_size=8", "judge.eval_steps=2", "judge.save_steps=2", "judge.max_seq_length=128",
          "judge.fused=false"]  # the raw judge cosine (thresholds in the tests); the e2e test runs the fused score


@pytest.fixture(scope="session")
def judged_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run dir with the corpus, judge_pairs and judge stages done (tiny settings)."""
    from litstyle.config import load_recipe
    from litstyle.rundir import run_stage
    from litstyle.stages import get_stage

    from filelock import FileLock

    # under pytest-xdist the workers share one: the first builds it, the others find its stages done
    root = tmp_path_factory.getbasetemp()
    run_dir = (root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root) / "judged"
    recipe = load_recipe(DEMO, [f"run.run_dir={run_dir}", *JUDGED])
    with FileLock(f"{run_dir}.lock"):
        for stage in ("corpus", "judge_pairs", "judge"):
            run_stage(recipe, get_stage(stage))
    return run_dir


def link_stages(source: Path, target: Path, names=("corpus", "judge_pairs", "judge")) -> Path:
    """A new run dir whose first stages are the (read-only) outputs of ``source``."""
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        (target / name).symlink_to(source / name)
    return target


def wait_for(path: Path, timeout_s: float = 900, alive=lambda: True) -> bool:
    """Poll until ``path`` exists (True), ``alive()`` turns false or the time is up (False)."""
    import time

    deadline = time.time() + timeout_s
    while not path.is_file():
        if not alive() or time.time() > deadline:
            return False
        time.sleep(0.5)
    return True


def interrupt_at_checkpoint(script: str, args: list[str], run_dir: Path, stage: str, step: int, sig: int) -> tuple[int, str]:
    """Run a stage script and send ``sig`` once its checkpoint ``step`` is complete (trainer_state.json
    written).  Returns (exit code, stderr)."""
    import signal
    import subprocess

    # a shell without job control starts background jobs with SIGINT ignored, and Python keeps an
    # ignored SIGINT ignored: give the stage the default disposition, as a terminal would
    proc = subprocess.Popen([PYTHON, str(REPO / script), "--config", str(DEMO), *args], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    state = run_dir / "checkpoints" / stage / f"checkpoint-{step}" / "trainer_state.json"
    try:
        reached = wait_for(state, alive=lambda: proc.poll() is None)
        if reached:
            proc.send_signal(sig)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert reached, f"no checkpoint {step} before the run ended: {err[-2000:]}"
    return proc.returncode, err


# `make test` runs the files on two pytest-xdist workers (--dist loadfile --no-loadscope-reorder): they are
# handed out in this order, the longest first (seconds of the last fresh-clone run, docs/CI_TIMES.md), so that
# the small files fill the gaps at the end; files not listed follow in their usual order.
LONGEST_FIRST = ("test_rehearsal.py", "test_judge_benchmark.py", "test_grpo.py", "test_sft_train.py",
                 "test_pipeline_e2e.py", "test_study.py", "test_judge_train.py", "test_sft_data.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the order inside a file is kept


# Where the time went: per-file wall time (setup + call + teardown of its tests; a session fixture's
# build counts for the first file that asks for it), printed after pytest's --durations list.
_FILE_SECONDS: dict[str, float] = {}
_FILE_TESTS: dict[str, int] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::", 1)[0]
    _FILE_SECONDS[path] = _FILE_SECONDS.get(path, 0.0) + report.duration
    if report.when == "call" or (report.when == "setup" and report.skipped):
        _FILE_TESTS[path] = _FILE_TESTS.get(path, 0) + 1


def pytest_terminal_summary(terminalreporter) -> None:
    if not _FILE_SECONDS:
        return
    total = sum(_FILE_SECONDS.values())
    terminalreporter.section("wall time per test file")
    terminalreporter.write_line(f"{'file':<36} {'tests':>5} {'seconds':>8} {'share':>6}")
    for path, seconds in sorted(_FILE_SECONDS.items(), key=lambda kv: -kv[1]):
        terminalreporter.write_line(f"{path:<36} {_FILE_TESTS.get(path, 0):>5} {seconds:>8.1f} "
                                    f"{seconds / total:>6.1%}")
    terminalreporter.write_line(f"{'total':<36} {sum(_FILE_TESTS.values()):>5} {total:>8.1f}")
