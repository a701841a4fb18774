"""Export a stage's dataset: JSON lines per split, and optionally the Hugging Face Hub.

    python -m litstyle.export --config config/demo_cpu.yaml --stage grpo_data [--out DIR]
    python -m litstyle.export --config config/h100x4.yaml --stage sft_data --push-to-hub ORG/NAME [--private]

The datasets are the stages' own (``judge_pairs``, ``sft_data``, ``grpo_data``: a ``save_to_disk`` folder in
``<run_dir>/<stage>/``).  JSON lines go to ``--out`` (default ``<run_dir>/export/<stage>/``), one
``<split>.jsonl`` per split.  ``--push-to-hub`` uploads with ``datasets``' ``push_to_hub``; the token comes
from the environment variable named by ``--token-env`` (default ``HF_TOKEN``), never from the command line.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from litstyle.command import parser, report_errors
from litstyle.config import load_recipe
from litstyle.errors import ConfigError, StageError
from litstyle.log import setup_logging
from litstyle.rundir import read_manifest

log = logging.getLogger(__name__)

DATASET_STAGES = ("judge_pairs", "sft_data", "grpo_data")


def load_stage_dataset(run_dir: Path, stage: str):
    """The stage's finished dataset (a ``DatasetDict``, or a ``Dataset`` as split ``train``)."""
    from datasets import Dataset, DatasetDict, load_from_disk

    folder = run_dir / stage
    if read_manifest(folder) is None:
        raise StageError(f"export: {folder} holds no finished {stage} stage (run it first)")
    data = load_from_disk(str(folder))
    return DatasetDict({"train": data}) if isinstance(data, Dataset) else data


def export(run_dir: Path, stage: str, out: Path | None = None, *, repo_id: str | None = None,
           token_env: str = "HF_TOKEN", private: bool = False) -> dict[str, int]:
    """Write ``<out>/<split>.jsonl`` for each split and, given ``repo_id``, push the dataset; rows per split."""
    token = None
    if repo_id is not None:
        token = os.environ.get(token_env, "")
        if not token:
            raise ConfigError(f"--push-to-hub: the environment variable {token_env} holds no token (export it; "
                              "a token never goes on the command line)")
    data = load_stage_dataset(run_dir, stage)
    out = out or run_dir / "export" / stage
    out.mkdir(parents=True, exist_ok=True)
    rows = {}
    for split, dataset in data.items():
        dataset.to_json(str(out / f"{split}.jsonl"), lines=True, force_ascii=False)
        rows[split] = len(dataset)
    log.info("export %s: %s -> %s", stage, rows, out)
    if repo_id is not None:
        data.push_to_hub(repo_id, token=token, private=private)
        log.info("export %s: pushed to https://huggingface.co/datasets/%s", stage, repo_id)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = parser("python -m litstyle.export", __doc__, stage_flags=False)
    p.add_argument("--stage", required=True, choices=DATASET_STAGES)
    p.add_argument("--out", type=Path, default=None, help="folder for the JSON lines (default <run_dir>/export/STAGE)")
    p.add_argument("--push-to-hub", dest="repo_id", metavar="ORG/NAME", default=None)
    p.add_argument("--token-env", default="HF_TOKEN", help="environment variable holding the hub token")
    p.add_argument("--private", action="store_true")
    args = p.parse_intermixed_args(argv)

    def body() -> int:
        recipe = load_recipe(args.config, args.overrides)
        setup_logging(args.log_level or recipe.run.log_level)
        rows = export(recipe.run_dir, args.stage, args.out, repo_id=args.repo_id, token_env=args.token_env,
                      private=args.private)
        sys.stdout.write(" ".join(f"{split}={n}" for split, n in rows.items()) + "\n")
        return 0

    return report_errors(body)


if __name__ == "__main__":
    sys.exit(main())
