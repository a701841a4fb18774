"""One run directory: ``<run_dir>/<stage>/`` + ``manifest.json``, atomic writes, skip when up to date.

A stage writes into a temporary folder beside its final one; only a finished stage (manifest
written) is renamed into place, so an interrupted stage leaves no half-written output.  A stage
is up to date when its manifest records the same config hash (run-only settings left out, see
``config.RUN_ONLY``), the same input manifests, the same contents of the files it read (plots, judge
prompt, catalog, books: ``StageContext.read_file``) and when every file it wrote is still there with
its size.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import re
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from litstyle.config import Recipe, recipe_hash
from litstyle.errors import StageError

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
VERSIONED = ("litstyle", "torch", "transformers", "trl", "peft", "accelerate", "datasets",
             "sentence-transformers", "openai", "requests")


@dataclass
class StageContext:
    recipe: Recipe
    name: str
    out_dir: Path  # temporary folder: write everything here
    inputs: dict[str, Path]  # finished folders of the input stages
    counts: dict[str, Any] = field(default_factory=dict)  # recorded in the manifest
    extra: dict[str, Any] = field(default_factory=dict)  # any other manifest entries
    rank: int = 0  # under torchrun: this process's rank; only rank 0 writes
    world_size: int = 1
    fingerprint: str = ""  # hash of the stage's config and input manifests (e.g. to trust old checkpoints)
    files: dict[str, str] = field(default_factory=dict)  # input files read -> sha256 (recorded in the manifest)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def read_file(self, path: str | Path, sha256: str | None = None) -> Path:
        """Record an input file the stage reads (plots, prompt, catalog, a book): a later change of its
        contents makes the stage stale.  ``sha256``: its digest when the stage already has it from the bytes
        it read.  Returns the resolved path."""
        path = Path(path).expanduser().resolve()
        self.files[str(path)] = sha256 or file_sha256(path)
        return path


@dataclass(frozen=True)
class Stage:
    """A pipeline stage: ``fn(ctx)`` fills ``ctx.out_dir``; ``sections`` are the recipe parts it depends on;
    ``inputs`` the stages whose output it reads (or a function of the recipe that names them)."""

    name: str
    fn: Callable[[StageContext], None]
    sections: tuple[str, ...]
    inputs: tuple[str, ...] | Callable[[Recipe], tuple[str, ...]] = ()
    description: str = ""
    script: str = ""  # the stage's own script (repo-relative): launchers (`accelerate launch`), docker.def apps
    trainer: str | None = None  # its trainer section (accelerate_config is read from there)
    servers: Callable[[Recipe], tuple[str, ...]] | None = None  # the LLM server roles it talks to
    # it loads models onto the accelerator: the pipeline runs it in a process of its own, so that the
    # memory (a CUDA context) is returned when it ends and the next stage's servers can start
    isolated: bool = False

    def input_names(self, recipe: Recipe) -> tuple[str, ...]:
        return self.inputs(recipe) if callable(self.inputs) else self.inputs

    def server_roles(self, recipe: Recipe) -> tuple[str, ...]:
        return self.servers(recipe) if self.servers else ()


@dataclass
class StageResult:
    name: str
    path: Path
    skipped: bool
    manifest: dict[str, Any]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def config_hash(recipe: Recipe, stage: Stage) -> str:
    parts = {name: recipe.section_data(name, results_only=True) for name in stage.sections}
    parts["run.seed"] = recipe.run.seed
    return recipe_hash(parts)


def stage_path(recipe: Recipe, name: str) -> Path:
    return recipe.run_dir / name


def read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def finished_stages(run_dir: Path) -> list[dict[str, Any]]:
    """The manifests of the stages finished in ``run_dir``, in the order they started."""
    found = [m for m in map(read_manifest, sorted(p for p in run_dir.iterdir() if p.is_dir())) if m and "stage" in m]
    return sorted(found, key=lambda m: str(m.get("started", "")))


def _input_hashes(recipe: Recipe, stage: Stage) -> dict[str, str]:
    hashes = {}
    for name in stage.input_names(recipe):
        manifest_file = stage_path(recipe, name) / MANIFEST
        if not manifest_file.is_file():
            raise StageError(f"stage {stage.name!r} needs the output of stage {name!r}: run it first "
                             f"(missing {manifest_file})")
        hashes[name] = file_sha256(manifest_file)
    return hashes


def stale_reason(recipe: Recipe, stage: Stage) -> str | None:
    """Why the stage must run, or None when its output is up to date."""
    manifest = read_manifest(stage_path(recipe, stage.name))
    if manifest is None:
        return "no previous output"
    if manifest.get("config_hash") != config_hash(recipe, stage):
        return "config changed"
    if manifest.get("inputs") != _input_hashes(recipe, stage):
        return "inputs changed"
    for name, digest in manifest.get("files", {}).items():
        path = Path(name)
        if not path.is_file() or file_sha256(path) != digest:
            return f"input file {'changed' if path.is_file() else 'missing'}: {name}"
    folder = stage_path(recipe, stage.name)
    for name, size in manifest.get("outputs", {}).items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != size:
            return f"output {'changed' if path.is_file() else 'missing'}: {path}"
    return None


def _outputs(folder: Path) -> dict[str, int]:
    """Every file a stage wrote (relative path -> size), checked before the stage is skipped."""
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != MANIFEST}


def _lock(run_dir: Path, name: str):
    handle = open(run_dir / f".{name}.lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StageError(f"stage {name!r} is already running in {run_dir} (lock .{name}.lock is held)") from None
    return handle


def _publish(tmp: Path, final: Path) -> None:
    """Move a finished temporary folder into place, replacing an older output."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def distributed() -> tuple[int, int]:
    """(rank, world size) under torchrun / accelerate, (0, 1) otherwise."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


# errors of the disk a stage writes to
DISK_ERRORS = {errno.ENOSPC: "no space left on device", errno.EIO: "input/output error",
               errno.EACCES: "permission denied", errno.EROFS: "read-only file system",
               errno.EDQUOT: "disk quota exceeded"}
_ERRNO_TEXT = re.compile(r"errno (\d+)", re.I)


def disk_errno(exc: BaseException | None) -> int | None:
    """The disk error (:data:`DISK_ERRORS`) behind ``exc`` or the exceptions it was raised from or during;
    one that a library wraps without its errno (pyarrow: ``[Errno 28] Error writing bytes ...``) is read
    from its text."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        for code in [getattr(exc, "errno", None), *(int(m) for m in _ERRNO_TEXT.findall(str(exc)))]:
            if code in DISK_ERRORS:
                return code
        exc = exc.__cause__ or exc.__context__
    return None


def run_stage(recipe: Recipe, stage: Stage, *, force: bool = False) -> StageResult:
    """Run ``stage`` unless its output is up to date (or ``force``); the output appears atomically.

    Under torchrun every rank runs ``stage.fn`` in one shared temporary folder; rank 0 alone
    holds the lock, writes the manifest and publishes."""
    run_dir = recipe.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    final = stage_path(recipe, stage.name)
    rank, world = distributed()
    shared_tmp = None
    if world > 1:
        run_id = os.environ.get("TORCHELASTIC_RUN_ID") or os.environ.get("MASTER_PORT", "dist")
        shared_tmp = run_dir / f".{stage.name}.tmp-dist-{run_id}"
    lock = _lock(run_dir, stage.name) if rank == 0 else None
    tmp = None
    try:
        if rank == 0:
            for leftover in run_dir.glob(f".{stage.name}.*-*"):
                if leftover != shared_tmp:
                    log.info("removing leftover %s of an interrupted run", leftover.name)
                    shutil.rmtree(leftover, ignore_errors=True)
        reason = "forced" if force else stale_reason(recipe, stage)
        if rank == 0 and final.exists() and (read_manifest(final) or {}).get("stage") != stage.name:
            raise StageError(f"run.run_dir: {final} exists but is not the output of stage {stage.name!r} (no manifest.json "
                             "of that stage); it would be replaced: move it or choose another run.run_dir")
        if reason is None:
            log.info("stage %s: up to date, skipped (%s)", stage.name, final)
            return StageResult(stage.name, final, True, read_manifest(final) or {})
        inputs = _input_hashes(recipe, stage)
        log.info("stage %s: running (%s)%s", stage.name, reason, f" on rank {rank}/{world}" if world > 1 else "")
        if shared_tmp is not None:
            shared_tmp.mkdir(exist_ok=True)
            tmp = shared_tmp
        else:
            tmp = Path(tempfile.mkdtemp(prefix=f".{stage.name}.tmp-", dir=run_dir))
        tmp.chmod(0o755)  # mkdtemp makes it private; the published stage folder should not be
        started = time.time()
        ctx = StageContext(recipe, stage.name, tmp, {name: stage_path(recipe, name) for name in stage.input_names(recipe)},
                           rank=rank, world_size=world,
                           fingerprint=recipe_hash([config_hash(recipe, stage), inputs]))
        stage.fn(ctx)
        if rank != 0:
            return StageResult(stage.name, final, False, {})
        manifest = {
            "stage": stage.name,
            "run_id": uuid.uuid4().hex,  # a rerun always makes the stages after it stale
            "config_hash": config_hash(recipe, stage),
            "config": {name: recipe.section_data(name) for name in stage.sections},
            "inputs": inputs,
            "seed": recipe.run.seed,
            "world_size": world,
            "pid": os.getpid(),  # the process that ran it (the pipeline runs accelerator stages in their own)
            "versions": versions(),
            "counts": ctx.counts,
            "files": ctx.files,
            "outputs": _outputs(tmp),
            **ctx.extra,
            "started": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
            "wall_time_s": round(time.time() - started, 3),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
        _publish(tmp, final)
        log.info("stage %s: done in %.1f s -> %s", stage.name, manifest["wall_time_s"], final)
        return StageResult(stage.name, final, False, manifest)
    except OSError as exc:  # the disk: one line naming the stage and the path (the traceback at DEBUG)
        code = disk_errno(exc)
        if code is None:
            raise
        raise StageError(f"stage {stage.name}: {DISK_ERRORS[code]} writing {getattr(exc, 'filename', None) or final}"
                         ) from exc
    finally:
        if rank == 0:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            lock.close()
