from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "config" / "demo_cpu.yaml"
PYTHON = sys.executable


@pytest.fixture()
def demo_recipe(tmp_path: Path) -> Path:
    """The demo recipe with its run dir moved into tmp_path."""
    data = yaml.safe_load(DEMO.read_text())
    data["run"]["run_dir"] = str(tmp_path / "run")
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def free_port() -> int:
    """A loopback port nothing listens on (bound, read, released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
