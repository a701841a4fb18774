"""Export: a stage's dataset as JSON lines per split, and the hub push up to the call (no network here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import DEMO
from litstyle import export
from litstyle.config import load_recipe


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A finished grpo_data stage (two splits) written by the run-dir machinery."""
    from datasets import Dataset, DatasetDict

    from litstyle.rundir import Stage, run_stage

    def build(ctx) -> None:
        rows = {split: [{"prompt": [{"role": "user", "content": f"{split} {i}"}], "sample_text": "é" * 3, "row": i}
                        for i in range(n)] for split, n in (("train", 3), ("test", 2))}
        DatasetDict({s: Dataset.from_list(r) for s, r in rows.items()}).save_to_disk(str(ctx.out_dir))

    recipe = load_recipe(DEMO, [f"run.run_dir={tmp_path / 'run'}"])
    run_stage(recipe, Stage("grpo_data", build, sections=("grpo_data",)))
    return tmp_path / "run"


def test_json_lines_per_split(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert export.main(["--config", str(DEMO), f"run.run_dir={run_dir}", "--stage", "grpo_data"]) == 0
    assert capsys.readouterr().out.strip() == "train=3 test=2"
    lines = (run_dir / "export" / "grpo_data" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["prompt"][0]["content"] for line in lines] == ["train 0", "train 1", "train 2"]
    assert json.loads(lines[0])["sample_text"] == "ééé"


def test_push_needs_a_token_from_the_environment(run_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("LITSTYLE_HUB_TOKEN", raising=False)
    argv = ["--config", str(DEMO), f"run.run_dir={run_dir}", "--stage", "grpo_data", "--push-to-hub", "me/set",
            "--token-env", "LITSTYLE_HUB_TOKEN"]
    assert export.main(argv) == 2
    assert capsys.readouterr().err == ("error: --push-to-hub: the environment variable LITSTYLE_HUB_TOKEN holds no "
                                       "token (export it; a token never goes on the command line)\n")
    # with a token: datasets' push_to_hub is called with the repo, the token and the whole DatasetDict
    from datasets import DatasetDict

    calls = []
    monkeypatch.setattr(DatasetDict, "push_to_hub", lambda self, repo, **kw: calls.append((repo, kw, dict(self.num_rows))))
    monkeypatch.setenv("LITSTYLE_HUB_TOKEN", "hf_planted")
    assert export.main(argv + ["--private"]) == 0
    assert calls == [("me/set", {"token": "hf_planted", "private": True}, {"train": 3, "test": 2})]


def test_an_unfinished_stage_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert export.main(["--config", str(DEMO), f"run.run_dir={tmp_path}", "--stage", "sft_data"]) == 1
    assert capsys.readouterr().err.startswith(f"error: export: {tmp_path / 'sft_data'} holds no finished sft_data stage")
