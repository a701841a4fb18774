"""Published datasets as stage inputs: a hub id, a ``save_to_disk`` folder, or a folder of data files in the
hub layout (JSON lines, Parquet, CSV; one subfolder per configuration)."""

from __future__ import annotations

from pathlib import Path


def load(path: str, config: str | None = None):
    """All splits of ``path`` (``config``: the hub configuration name, or the local subfolder)."""
    from datasets import load_dataset, load_from_disk  # heavy third-party import, only for published inputs

    folder = Path(path).expanduser()
    if folder.is_dir():
        if (folder / (config or "") / "dataset_dict.json").is_file():
            return load_from_disk(str(folder / (config or "")))
        return load_dataset(str(folder), data_dir=config)
    return load_dataset(path, name=config)
