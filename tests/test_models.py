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
