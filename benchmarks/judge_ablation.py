"""Style-judge ablation: objective x text view x fused score, on one recipe's pairs and benchmark.

    .venv/bin/python benchmarks/judge_ablation.py --config config/judge_cpu.yaml \
        --losses cosine batch_hard_soft_margin --views raw topic_masked [-- key=value ...]

Runs the recipe's ``models``, ``corpus`` and ``judge_pairs`` stages once, then for each
(loss, view) cell the ``judge`` stage (with ``judge.fused=true``, so every cell gives the judge
cosine alone and the fused score) and ``judge_benchmark`` in ``<run_dir>/ablation/<loss>-<view>/``
(cells already done are skipped, as stages are).  Every cell encodes ``--texts-per-step`` texts a
step: a batch of that many chunks for a triplet objective, half as many pairs for ``cosine`` and
``mnrl``.
Prints a Markdown table: AUC [95 % CI] per
evaluation set at the largest benchmark chunk size, the same/cross median gap, and the training
wall time; the unsupervised baselines and the base encoder once.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/judge_cpu.yaml")
    parser.add_argument("--losses", nargs="+", default=["cosine", "batch_hard_soft_margin"])
    parser.add_argument("--views", nargs="+", default=["raw", "topic_masked"])
    parser.add_argument("--texts-per-step", type=int, default=32)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()

    from litstyle.config import load_recipe
    from litstyle.log import setup_logging
    from litstyle.rundir import run_stage
    from litstyle.stages import get_stage

    recipe = load_recipe(args.config, args.overrides)
    setup_logging(recipe.run.log_level)
    for stage in ("models", "corpus", "judge_pairs"):
        run_stage(recipe, get_stage(stage))
    shared = Path(recipe.run.run_dir)
    table, baselines = [], {}
    for loss in args.losses:
        for view in args.views:
            cell = shared / "ablation" / f"{loss}-{view}"
            cell.mkdir(parents=True, exist_ok=True)
            for stage in ("models", "corpus", "judge_pairs"):
                if not (cell / stage).exists():
                    (cell / stage).symlink_to(shared / stage)
            batch = args.texts_per_step // 2 if loss in ("cosine", "mnrl") else args.texts_per_step
            cell_recipe = load_recipe(args.config, [*args.overrides, f"run.run_dir={cell}", f"judge.loss={loss}",
                                                    f"judge.text_view={view}", "judge.fused=true",
                                                    f"judge.per_device_train_batch_size={batch}"])
            judge = run_stage(cell_recipe, get_stage("judge"))
            bench = run_stage(cell_recipe, get_stage("judge_benchmark"))
            results = json.loads((bench.path / "results.json").read_text())
            seconds = json.loads((judge.path / "manifest.json").read_text()).get("wall_time_s")
            words = max(r["words"] for r in results["rows"])
            for row in results["rows"]:
                if row["words"] != words:
                    continue
                if row["method"] in ("fine-tuned", "judge cosine only"):
                    table.append((loss, view, row["method"] == "fine-tuned", row, seconds))
                else:
                    baselines[(row["method"], row["set"])] = row
    sets = list(dict.fromkeys(r["set"] for _, _, _, r, _ in table))
    head = "| objective | view | fused | " + " | ".join(f"AUC {s} [95 % CI] | gap {s}" for s in sets) + " | train s |"
    lines = [f"Judge ablation, {words}-word chunks ({args.config} {' '.join(args.overrides)}):", "", head,
             "|---|---|---|" + "---|---:|" * len(sets) + "---:|"]
    cells: dict = {}
    for loss, view, fused, row, seconds in table:
        cells.setdefault((loss, view, fused), {"seconds": seconds})[row["set"]] = row
    for (loss, view, fused), by_set in cells.items():
        lines.append(f"| {loss} | {view} | {'yes' if fused else 'no'} | " + " | ".join(_cell(by_set.get(s)) for s in sets)
                     + f" | {by_set['seconds'] or 0:.0f} |")
    for method in ("base", "function words", "char n-grams"):
        lines.append(f"| {method} (no training) | raw | no | "
                     + " | ".join(_cell(baselines.get((method, s))) for s in sets) + " | |")
    print("\n".join(lines))


def _cell(row: dict | None) -> str:
    if not row:
        return " | "
    return (f"{row['auc']:.3f} [{row['auc_low']:.3f}, {row['auc_high']:.3f}] | "
            f"{row['same_median'] - row['cross_median']:.3f}")


if __name__ == "__main__":
    main()
