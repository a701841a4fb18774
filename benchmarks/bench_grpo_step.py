"""Where a CPU GRPO step goes: generation, each reward, the other scoring (reference/old log-probs)
and the loss + backward + optimizer step, on the demo recipe (or any recipe).

    .venv/bin/python benchmarks/bench_grpo_step.py --config config/demo_cpu.yaml [--steps 3] [key=value ...]

Needs the run dir of that recipe with the stages before ``grpo`` done (``make demo`` leaves it);
the GRPO stage runs ``--steps`` steps into a scratch copy and is timed through TRL's own profiling
hooks (``profiling/Time taken: ...``).  Prints a table of seconds per step and shares (target: the
rewards take < 20 % of the step).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from collections import defaultdict
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/demo_cpu.yaml")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()

    from trl.extras import profiling

    from litstyle.config import load_recipe
    from litstyle.log import setup_logging
    from litstyle.rundir import run_stage
    from litstyle.stages import get_stage

    source = load_recipe(args.config, args.overrides).run_dir
    stage = get_stage("grpo")
    timings: dict[str, list[float]] = defaultdict(list)

    def record(self, duration: float) -> None:
        timings[self.name.rsplit(".", 1)[-1]].append(duration)

    profiling.ProfilingContext._log_metrics = record  # collect instead of sending to a tracker
    setup_logging("WARNING")
    with tempfile.TemporaryDirectory(prefix="bench-grpo-") as scratch:
        run_dir = Path(scratch)
        recipe = load_recipe(args.config, [*args.overrides, f"run.run_dir={run_dir}", f"grpo.max_steps={args.steps}",
                                           "grpo.save_steps=1000"])
        for name in stage.input_names(recipe):
            (run_dir / name).symlink_to((source / name).resolve())
        result = run_stage(recipe, stage, force=True)
        history = json.loads((result.path / "log_history.json").read_text())
    steps = [e["step_time"] for e in history if "step_time" in e]
    step = statistics.fmean(steps)
    per_step = {name: sum(values) / len(steps) for name, values in timings.items()}
    generation = per_step.get("generate", 0.0) + per_step.get("generate_batch", 0.0)
    rewards = per_step.get("_calculate_rewards", 0.0)
    prepare = per_step.get("_prepare_inputs", 0.0)
    rows = [("generation", generation)]
    rows += [(f"  reward {name}", per_step[name]) for name in recipe.grpo.reward_funcs if name in per_step]
    rows += [("rewards (all, as run)", rewards),
             ("other scoring (log-probs)", max(0.0, prepare - generation - rewards)),
             ("loss + backward + optimizer", max(0.0, step - prepare)),
             ("whole step", step)]
    print(f"GRPO step split, {args.config}, {len(steps)} steps, {recipe.grpo.trainer_kwargs().get('num_generations')} "
          f"generations of <= {recipe.grpo.trainer_kwargs().get('max_completion_length')} tokens")
    print(f"{'part':<30} {'s/step':>8} {'share':>7}")
    for name, seconds in rows:
        print(f"{name:<30} {seconds:8.2f} {seconds / step:7.1%}")
    print(f"rewards share: {rewards / step:.1%} (target < 20 %)")


if __name__ == "__main__":
    main()
