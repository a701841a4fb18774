"""Server lifecycle without a GPU: the commands built for each backend, and start-up failures that
must end in one clear error with no process left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import DEMO, REPO, free_port
from litstyle import serve
from litstyle.config import ConfigError, load_recipe
from litstyle.rundir import StageError



def test_gpu_command_is_the_papers_vllm_serve() -> None:
    recipe = load_recipe(REPO / "config" / "h100x4.yaml", ["models.trust_remote_code=false"])
    argv, env = serve.server_command(recipe, "judge")
    assert argv == ["vllm", "serve", "openchat/openchat-3.5-0106", "--served-model-name", "openchat/openchat-3.5-0106",
                    "--host", "127.0.0.1", "--port", "8000", "--max-model-len", "8192",
                    "--tensor-parallel-size", "4", "--gpu-memory-utilization", "0.15", "--async-scheduling"]
    assert env == {}


def test_cpu_command_uses_the_judge_venv(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").write_text("")
    recipe = load_recipe(DEMO, [f"llm.cpu_venv={tmp_path}", "llm.judge.backend=cpu", "llm.judge.port=8123"])
    argv, env = serve.server_command(recipe, "judge")
    assert argv[:3] == [str(tmp_path / "bin" / "python"), "-m", "vllm.entrypoints.openai.api_server"]
    assert argv[3:5] == ["--model", serve.models.resolve("smollm2-135m")]
    assert "--enforce-eager" in argv and argv[argv.index("--port") + 1] == "8123"
    assert argv[argv.index("--served-model-name") + 1] == "content-judge"
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "1" and env["VLLM_CPU_OMP_THREADS_BIND"].startswith("0-")


def test_missing_venv_and_bad_role_are_clear(tmp_path: Path) -> None:
    recipe = load_recipe(DEMO, [f"llm.cpu_venv={tmp_path / 'nope'}", "llm.judge.backend=cpu"])
    with pytest.raises(StageError, match="run `make judge-venv` first"):
        serve.server_command(recipe, "judge")
    with pytest.raises(ConfigError, match="'critic' is not a server role"):
        serve.server_command(recipe, "critic")


def _fake_venv(tmp_path: Path, script: str) -> Path:
    (tmp_path / "bin").mkdir(parents=True)
    python = tmp_path / "bin" / "python"
    python.write_text("#!/bin/sh\n" + script)
    python.chmod(0o755)
    return tmp_path


def test_server_that_dies_at_start_is_reported(tmp_path: Path) -> None:
    venv = _fake_venv(tmp_path / "venv", "echo 'RuntimeError: no KV cache space' >&2\nexit 3\n")
    recipe = load_recipe(DEMO, [f"run.run_dir={tmp_path / 'run'}", f"llm.cpu_venv={venv}", "llm.judge.backend=cpu",
                                f"llm.judge.port={free_port()}"])
    with pytest.raises(StageError, match=r"exited with code 3 while starting; last log line: RuntimeError: no KV"):
        serve.start(recipe, "judge")
    assert not (tmp_path / "run" / "serve" / "judge.json").exists()


def test_server_that_never_gets_ready_is_killed(tmp_path: Path) -> None:
    venv = _fake_venv(tmp_path / "venv", "sleep 300 &\nexec sleep 300\n")  # a child too: the group must go
    recipe = load_recipe(DEMO, [f"run.run_dir={tmp_path / 'run'}", f"llm.cpu_venv={venv}", "llm.judge.backend=cpu",
                                f"llm.judge.port={free_port()}", "llm.judge.startup_timeout_s=2"])
    with pytest.raises(StageError, match="judge server not ready after 2 s"):
        serve.start(recipe, "judge")
    log = (tmp_path / "run" / "serve" / "judge.log")
    assert log.exists() and not (tmp_path / "run" / "serve" / "judge.json").exists()
    alive = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p).startswith("sleep 300")]
    assert alive == [], "the whole process group is stopped"


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def test_external_base_url_is_used_as_is(tmp_path: Path) -> None:
    from fault_llm_server import FaultServer

    with FaultServer() as srv:
        recipe = load_recipe(DEMO, [f"run.run_dir={tmp_path}", f"llm.judge.base_url={srv.base_url}"])
        with serve.client_for(recipe, "judge") as client:
            assert client.chat([{"role": "user", "content": "x"}]) == "7"
    recipe = load_recipe(DEMO, [f"run.run_dir={tmp_path}", f"llm.judge.base_url=http://127.0.0.1:{free_port()}/v1"])
    with pytest.raises(StageError, match="no server answers at"):
        serve.start(recipe, "judge")
    with pytest.raises(ConfigError, match="expected an http"):
        load_recipe(DEMO, ["llm.judge.base_url=localhost:8000"])


def test_judge_one_liner_scores_a_story(tmp_path: Path) -> None:
    import subprocess

    from conftest import PYTHON
    from fault_llm_server import FaultServer

    story = tmp_path / "story.txt"
    story.write_text("The boy found a boat in the reeds.\n\nTHE END.\n")
    with FaultServer(answer="7") as srv:
        argv = [PYTHON, "-m", "litstyle.llm.judge", "--config", str(DEMO), f"run.run_dir={tmp_path}",
                f"llm.judge.base_url={srv.base_url}", "--story", str(story), "--plot", "a boy finds a boat",
                "--author", "Twain, Mark", "--title", "Adventures of Huckleberry Finn"]
        done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=120)
        assert done.returncode == 0 and done.stdout == "0.7\n", done.stderr[-2000:]
        assert "Plot: a boy finds a boat" in srv.prompts[0] and srv.bodies[0]["max_tokens"] == 3
        assert srv.bodies[0]["structured_outputs"] == {"regex": "^[0-9]$"}
        missing = subprocess.run(argv[:-8] + ["--story", "nope.txt", *argv[-6:]], capture_output=True, text=True,
                                 cwd=REPO, timeout=120)
        assert missing.returncode == 2 and missing.stderr == "error: --story: file not found: nope.txt\n"
