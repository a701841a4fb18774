"""Content-judge throughput against the real CPU judge server: 16 calls one at a time versus 16 calls
with concurrency 8, in one run.  Each call grades a different ~400-word story (so that vLLM's prefix
cache cannot answer a call from an earlier one beyond the shared instructions and plot).

    make install
    .venv/bin/python benchmarks/bench_judge.py [--config config/demo_cpu.yaml] [key=value ...]

Starts the judge server of the recipe (or uses the running one), prints wall times and the ratio
(target: concurrent <= 0.5x sequential), then stops the server if it started it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from litstyle.config import load_recipe
from litstyle.corpus.chunk import pack, sentence_units
from litstyle.corpus.clean import clean_text
from litstyle.llm.client import CallStats, LLMClient
from litstyle.llm.judge import ContentJudge
from litstyle.log import setup_logging
from litstyle.serve import running

PLOT = "a proud young woman who misjudges a reserved gentleman at a country ball"


def stories(mirror: Path, n: int) -> list[str]:
    units = sentence_units(clean_text((mirror / "1342.txt").read_bytes()))
    chunks, _ = pack(units, 400)
    return [chunk + "\n\nTHE END." for chunk in chunks[10:10 + n]]


def timed(judge: ContentJudge, batch: list[str]) -> tuple[float, list]:
    started = time.perf_counter()
    rewards = judge.score(batch, [PLOT] * len(batch), ["Austen, Jane"] * len(batch), ["Emma"] * len(batch))
    return time.perf_counter() - started, rewards


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/demo_cpu.yaml")
    parser.add_argument("--mirror", default=str(Path(__file__).resolve().parents[2] / "shared/corpus/gutenberg"))
    parser.add_argument("--calls", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    setup_logging("WARNING")
    recipe = load_recipe(args.config, args.overrides)
    texts = stories(Path(args.mirror), 2 * args.calls + 1)
    with running(recipe, "judge") as server:
        results = {}
        for label, concurrency, batch in (("sequential", 1, texts[1:args.calls + 1]),
                                          (f"concurrent ({args.concurrency})", args.concurrency,
                                           texts[args.calls + 1:])):
            with LLMClient(server.base_url, server.served_name, timeout_s=120, retries=2,
                           concurrency=concurrency) as client:
                judge = ContentJudge.from_file(client, recipe.llm.judge_prompt)
                timed(judge, texts[:1])  # warm the shared prefix (instructions + plot)
                client.stats = CallStats()
                results[label] = timed(judge, batch)
                stats = client.stats.summary()
            seconds, rewards = results[label]
            print(f"{label:16s}: {seconds:6.2f} s for {len(batch)} calls ({seconds / len(batch):.2f} s/call), "
                  f"rewards {rewards}, p50 {stats['latency_p50_s']} s, failures {stats['failures']}")
    (seq, _), (conc, _) = results.values()
    print(f"concurrent / sequential wall time: {conc / seq:.2f}x (target <= 0.5x); speed-up {seq / conc:.2f}x")


if __name__ == "__main__":
    main()
