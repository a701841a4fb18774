"""One logging setup for every entry point (the package itself never prints)."""

from __future__ import annotations

import logging
import os
import sys

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_NOISY = ("urllib3", "httpx", "httpx2", "openai", "filelock", "datasets", "huggingface_hub", "transformers", "sentence_transformers")


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at emit time (safe under pytest's capture)."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def setup_logging(level: str = "INFO") -> None:
    """Configure the root logger once; library loggers that chatter are kept at WARNING."""
    root = logging.getLogger()
    if not getattr(setup_logging, "_done", False):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter(_FORMAT, datefmt="%H:%M:%S"))
        root.addHandler(handler)
        setup_logging._done = True  # type: ignore[attr-defined]
    root.setLevel(level)
    for name in _NOISY:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
