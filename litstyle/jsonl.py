"""Append-only JSON-lines files (the LLM call cache, the evaluation's story cache) that survive a kill.

A kill can cut the last line in half.  Reading skips such a line; appending first ends it with a
newline, so the cut line does not swallow the next record.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Iterator


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The whole records of ``path`` (none if it does not exist); a cut or garbled line is skipped."""
    if not path.is_file():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            yield record


def append_records(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Append ``records``, one line each, after terminating a partial last line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        if handle.tell() > 0:
            handle.seek(-1, 2)
            if handle.read(1) != b"\n":
                handle.write(b"\n")
        for record in records:
            handle.write((json.dumps(record) + "\n").encode("utf-8"))
