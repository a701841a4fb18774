"""Does the content judge add signal?  Each finished story of an evaluation (``eval/stories.jsonl`` of a run)
is graded by the recipe's content judge twice: against the plot it was written for and against another
story's plot (the next plot in a fixed rotation).  A judge that reads plots scores the own plot higher.

    .venv/bin/python benchmarks/bench_judge_signal.py --config config/study_cpu.yaml \
        --stories runs/study_cpu/eval/stories.jsonl [--systems sft grpo] [key=value ...]

Prints per system: stories graded, mean reward for the own and the other plot, ROC AUC of own vs other
(0.5 = the judge does not see the plot), the share of stories scored higher / equal / lower on their own
plot, and failed calls.  Starts the judge server of the recipe (or uses the running one).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sklearn.metrics import roc_auc_score

from litstyle.config import load_recipe
from litstyle.llm.client import LLMClient
from litstyle.llm.judge import ContentJudge
from litstyle.log import setup_logging
from litstyle.serve import running
from litstyle.text import ends_properly


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/study_cpu.yaml")
    parser.add_argument("--stories", required=True, help="an eval stage's stories.jsonl")
    parser.add_argument("--systems", nargs="*", help="default: every system in the file")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    setup_logging("WARNING")
    recipe = load_recipe(args.config, args.overrides)
    rows = [json.loads(line) for line in Path(args.stories).read_text().splitlines()]
    rows = [r for r in rows if not r["failed"] and ends_properly(r["text"])
            and (not args.systems or r["system"] in args.systems)]
    plots = sorted({r["plot"] for r in rows})
    other = {p: plots[(i + 1) % len(plots)] for i, p in enumerate(plots)}
    cfg = recipe.llm.judge
    with running(recipe, "judge") as server, \
            LLMClient(server.base_url, server.served_name, timeout_s=cfg.timeout_s, retries=2,
                      concurrency=cfg.concurrency) as client:
        judge = ContentJudge.from_file(client, recipe.llm.judge_prompt)
        texts = [r["text"] for r in rows]
        authors = [r["author"] for r in rows]
        titles = [""] * len(rows)  # no cap for naming a title: the plots are compared, not the names
        own = judge.score(texts, [r["plot"] for r in rows], authors, titles)
        shifted = judge.score(texts, [other[r["plot"]] for r in rows], authors, titles)
    for system in dict.fromkeys(r["system"] for r in rows):
        pairs = [(a, b) for r, a, b in zip(rows, own, shifted) if r["system"] == system and None not in (a, b)]
        failed = sum(1 for r, a, b in zip(rows, own, shifted) if r["system"] == system and None in (a, b))
        if not pairs:
            print(f"{system}: no story graded ({failed} failed)")
            continue
        a, b = zip(*pairs)
        labels = [1] * len(a) + [0] * len(b)
        auc = roc_auc_score(labels, a + b) if len(set(a + b)) > 1 else 0.5
        higher = sum(x > y for x, y in pairs) / len(pairs)
        equal = sum(x == y for x, y in pairs) / len(pairs)
        print(f"{system}: {len(pairs)} stories, own plot {sum(a) / len(a):.3f}, other plot {sum(b) / len(b):.3f}, "
              f"AUC {auc:.3f}, own higher / equal / lower {higher:.2f} / {equal:.2f} / {1 - higher - equal:.2f}, "
              f"failed {failed}")


if __name__ == "__main__":
    main()
