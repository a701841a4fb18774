"""Model names: aliases from PyPI wheels, local folders, hub ids; real loads are slow tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO
from litstyle import models


def test_names_are_checked_without_loading(tmp_path: Path) -> None:
    models.check_name("minilm")
    models.check_name("smollm2-135m")
    models.check_name("openchat/openchat-3.5-0106")
    models.check_name(str(tmp_path))
    assert models.resolve("openchat/openchat-3.5-0106") == "openchat/openchat-3.5-0106"
    assert models.resolve(str(tmp_path)) == str(tmp_path.resolve())
    with pytest.raises(ValueError, match="model folder not found: ./missing"):
        models.check_name("./missing")
    with pytest.raises(ValueError, match="is not a model alias"):
        models.check_name("smollm-135m")


def test_minilm_alias_is_the_packaged_folder() -> None:
    folder = Path(models.resolve("minilm"))
    assert (folder / "model.safetensors").is_file() and (folder / "modules.json").is_file()


@pytest.mark.slow
def test_minilm_gives_384_dim_embeddings() -> None:
    from sentence_transformers import SentenceTransformer

    encoder = SentenceTransformer(models.resolve("minilm"), device="cpu")
    emb = encoder.encode(["It was the best of times.", "Call me Ishmael.", "It was the worst of times."],
                         normalize_embeddings=True)
    assert emb.shape == (3, 384)
    same, other = float(emb[0] @ emb[2]), float(emb[0] @ emb[1])
    assert same > other  # a real model, not random weights


@pytest.fixture(scope="module")
def smollm2_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(models.resolve("smollm2-135m", tmp_path_factory.mktemp("cache")))


@pytest.mark.slow
def test_smollm2_resolves_to_a_loadable_folder_that_generates(smollm2_folder: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert "quantization_config" not in (smollm2_folder / "config.json").read_text()
    tokenizer = AutoTokenizer.from_pretrained(smollm2_folder)
    model = AutoModelForCausalLM.from_pretrained(smollm2_folder)
    assert model.dtype == torch.float32 and 100e6 < model.num_parameters() < 200e6
    assert "<|im_start|>" in tokenizer.chat_template  # ChatML
    inputs = tokenizer.apply_chat_template([{"role": "user", "content": "Write one sentence about a river."}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**inputs, max_new_tokens=16, do_sample=False)
    text = tokenizer.decode(out[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    assert len(text.split()) >= 3
    # a second resolve reuses the folder (no conversion: returns at once)
    started = time.time()
    assert Path(models.resolve("smollm2-135m", smollm2_folder.parents[1])) == smollm2_folder
    assert time.time() - started < 5


@pytest.mark.slow
def test_smollm2_conversion_survives_sigkill(tmp_path: Path) -> None:
    code = "import sys; from litstyle import models; print(models.resolve('smollm2-135m', sys.argv[1]))"
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while not list((tmp_path / "models").glob(".smollm2-135m-instruct.tmp-*")):
            assert proc.poll() is None and time.time() < deadline, "conversion never started"
            time.sleep(0.2)
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "models" / "smollm2-135m-instruct").exists()
    folder = Path(models.resolve("smollm2-135m", tmp_path))
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").stat().st_size > 400e6
    assert not list((tmp_path / "models").glob(".smollm2-135m-instruct.tmp-*"))


def test_a_hub_model_that_cannot_be_fetched_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The models stage fetches hub models before any server's start-up window; offline (or a wrong id)
    it stops there with the model's name, not inside a vLLM start or a trainer."""
    import huggingface_hub.constants

    from conftest import DEMO
    from litstyle.config import load_recipe
    from litstyle.errors import StageError
    from litstyle.rundir import run_stage
    from litstyle.stages import get_stage

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    recipe = load_recipe(DEMO, [f"run.run_dir={tmp_path / 'run'}", "models.judge_llm=openchat/openchat-3.5-0106"])
    with pytest.raises(StageError, match=r"^models: cannot fetch 'openchat/openchat-3.5-0106' from the hub: "):
        run_stage(recipe, get_stage("models"))
    assert not (tmp_path / "run" / "models").exists()


def test_identity_tells_checkpoints_apart(tmp_path: Path) -> None:
    """The LLM call cache is keyed on it: another checkpoint is another model, a copy is the same one."""
    import shutil

    first = tmp_path / "a"
    first.mkdir()
    (first / "config.json").write_text('{"model_type": "llama"}')
    weights = bytearray(os.urandom(5 << 20))
    (first / "model.safetensors").write_bytes(bytes(weights))
    copy = tmp_path / "copy"
    shutil.copytree(first, copy)
    other = tmp_path / "b"
    shutil.copytree(first, other)
    weights[-10] ^= 0xFF  # a different tail of the weights
    (other / "model.safetensors").write_bytes(bytes(weights))
    assert models.identity(str(first)) == models.identity(str(copy)) != models.identity(str(other))
    assert models.identity(str(first)).startswith("sha256:")
    assert models.identity("nobody/not-a-cached-model") == "hub:nobody/not-a-cached-model"
