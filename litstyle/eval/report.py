"""Evaluation summary (bootstrap CIs, paired differences), plots and ``report.md``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from litstyle import plots
from litstyle.config import recipe_hash
from litstyle.registry import base_stage
from litstyle.eval.metrics import bootstrap_ci, paired_diff_ci
from litstyle.rundir import StageContext, finished_stages

log = logging.getLogger(__name__)

# metric -> (label, unit / range) in tables and plots
METRICS = {
    "style_scaled": ("style (scaled)", "0-1"), "style": ("style cosine", "cosine"),
    "attributed": ("attributed to the author", "share"), "content": ("content judge", "0-1"),
    "completeness": ("completeness", "0-1"), "end": ("ends with THE END.", "share"), "words": ("length", "words"),
    "copy_rate": ("copy rate (8-grams)", "share"), "distinct_2": ("distinct-2", "share"),
    "p_author": ("P(author), independent classifier", "0-1"), "classified": ("classifier top-1 = author", "share"),
    "style_base": ("base encoder cosine", "cosine"),
}
# measures the reward never saw (litstyle.eval.metrics.AuthorClassifier; the base encoder)
INDEPENDENT = ("p_author", "classified", "style_base")
PAIRS = [("grpo", "sft"), ("sft", "zero_shot"), ("grpo", "zero_shot"), ("few_shot", "zero_shot")]


def _values(records: list[dict], metric: str) -> list[float]:
    return [r[metric] for r in records if not r["failed"] and r.get(metric) is not None]  # older caches: absent


def _ci(values: list[float], n_boot: int, seed: int) -> dict[str, Any]:
    mean, low, high = bootstrap_ci(values, n_boot=n_boot, seed=seed)
    return {"mean": mean, "low": low, "high": high, "n": len(values)}


def summarize(records: list[dict], systems: list[str], n_boot: int, seed: int) -> dict[str, Any]:
    by_system = {s: [r for r in records if r["system"] == s] for s in systems}
    authors = sorted({r["author"] for r in records})
    overall = {s: {m: _ci(_values(rs, m), n_boot, seed) for m in METRICS} for s, rs in by_system.items()}
    per_author = {s: {a: {m: _ci(_values([r for r in rs if r["author"] == a], m), n_boot, seed) for m in METRICS}
                      for a in authors}
                  for s, rs in by_system.items()}
    paired = []
    for a, b in PAIRS:
        if a not in by_system or b not in by_system:
            continue
        index_b = {(r["author"], r["plot"], r["k"]): r for r in by_system[b]}
        for metric in ("style_scaled", "style", "content", "completeness", "attributed", *INDEPENDENT,
                       "copy_rate", "distinct_2"):
            xs, ys = [], []
            for r in by_system[a]:
                other = index_b.get((r["author"], r["plot"], r["k"]))
                if other and r.get(metric) is not None and other.get(metric) is not None:
                    xs.append(r[metric])
                    ys.append(other[metric])
            if xs:
                mean, low, high = paired_diff_ci(xs, ys, n_boot=n_boot, seed=seed)
                paired.append({"a": a, "b": b, "metric": metric, "diff": mean, "low": low, "high": high, "n": len(xs)})
    failures = {s: sum(r["failed"] for r in rs) for s, rs in by_system.items()}
    return {"systems": systems, "authors": authors, "overall": overall, "per_author": per_author,
            "paired": paired, "failures": failures, "stories": {s: len(rs) for s, rs in by_system.items()}}


MODES = {"zero_shot": "Zero-shot", "few_shot": "Few-shot"}


def _mean_std(values: list[float]) -> str:
    """``mean ± std`` (sample standard deviation, n - 1), as the paper reports."""
    if not values:
        return "-"
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5 if len(values) > 1 else 0.0
    return f"{mean:.3f} ± {std:.3f}"


def paper_tables(records: list[dict], modes: dict[str, str], authors: list[str],
                 labels: dict[str, str] | None = None) -> list[str]:
    """The paper's two tables (zero-shot, few-shot): per system (or label: per-author models share a row)
    and author, raw and scaled style as mean ± std over the stories that were written, with their number n
    and the number of stories that failed (a generation call that gave up: not scored, not hidden)."""
    labels = labels or {name: name for name in modes}
    lines: list[str] = []
    for mode, title in MODES.items():
        rows = list(dict.fromkeys(labels[name] for name, m in modes.items() if m == mode))
        if not rows:
            continue
        lines += [f"### {title}", "", "| system | " + " | ".join(authors) + " | all authors |",
                  "|---|" + "---|" * (len(authors) + 1)]
        for row in rows:
            members = {name for name, m in modes.items() if m == mode and labels[name] == row}
            cells = []
            for author in [*authors, None]:
                rs = [r for r in records if r["system"] in members and (author is None or r["author"] == author)]
                failed = sum(1 for r in rs if r["failed"])
                cells.append(f"{_mean_std(_values(rs, 'style'))} / {_mean_std(_values(rs, 'style_scaled'))} "
                             f"(n={len(_values(rs, 'style'))}{f', {failed} failed' if failed else ''})")
            lines.append(f"| {row} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


WATCH = ("copy_rate", "distinct_2", "words", "end")


def openings(records: list[dict], systems: list[str], n: int = 3, words: int = 120) -> list[str]:
    """The opening ``words`` words of every system's story for the first ``n`` (author, plot, k) items that
    every system wrote (a system that wrote nothing left out): the same plots side by side, for a reader to
    see what the scores mean."""
    written = {s: {(r["author"], r["plot"], r["k"]): r["text"] for r in records if r["system"] == s and not r["failed"]}
               for s in systems}
    systems = [s for s in systems if written[s]]
    common = [k for k in dict.fromkeys((r["author"], r["plot"], r["k"]) for r in records)
              if all(k in written[s] for s in systems)][:n]
    lines = []
    for author, plot, k in common:
        lines += ["", f"**{author}**, plot: {plot} (story {k})", ""]
        for system in systems:
            text = written[system][(author, plot, k)].split()
            lines.append(f"- *{system}*: " + " ".join(text[:words]) + (" ..." if len(text) > words else ""))
    return lines


def _fmt(cell: dict[str, Any], digits: int = 3) -> str:
    if not cell["n"]:
        return "-"
    if cell["low"] == cell["high"]:
        return f"{cell['mean']:.{digits}f}"
    return f"{cell['mean']:.{digits}f} [{cell['low']:.{digits}f}, {cell['high']:.{digits}f}]"


def figures(out: Path, summary: dict, records: list[dict]) -> list[str]:
    systems = summary["systems"]
    metrics = ["style_scaled", "style", "attributed", "content", "completeness", "words", "copy_rate", "distinct_2"]
    with plots.figure(out / "metrics.png", 2, 4, figsize=(16, 7), dpi=110) as (fig, axes):
        for ax, metric in zip(axes.flat, metrics):
            data = [_values([r for r in records if r["system"] == s], metric) for s in systems]
            shown = [(s, d) for s, d in zip(systems, data) if d]
            if shown:
                ax.boxplot([d for _, d in shown], showmeans=True)
                ax.set_xticks(range(1, len(shown) + 1), [s for s, _ in shown], rotation=20)
            label, unit = METRICS[metric]
            ax.set_title(label)
            ax.set_ylabel(unit)
            if unit in ("0-1", "share"):
                ax.set_ylim(-0.05, 1.05)  # the whole scale, so that an all-zero metric reads as zero
            ax.grid(alpha=0.3)
        fig.suptitle("Per-story metrics by system (box: quartiles, triangle: mean)")

    authors = summary["authors"]
    with plots.figure(out / "style_by_author.png", figsize=(max(7, 2 * len(authors)), 4.5), dpi=110) as (_, ax):
        width = 0.8 / max(len(systems), 1)
        for i, system in enumerate(systems):
            cells = [summary["per_author"][system][a]["style_scaled"] for a in authors]
            xs = [j + i * width for j in range(len(authors))]
            means = [c["mean"] if c["n"] else 0.0 for c in cells]
            errs = [[max(0.0, c["mean"] - c["low"]) if c["n"] else 0 for c in cells],
                    [max(0.0, c["high"] - c["mean"]) if c["n"] else 0 for c in cells]]
            ax.bar(xs, means, width, yerr=errs, capsize=3, label=system)
        ax.set_xticks([j + width * (len(systems) - 1) / 2 for j in range(len(authors))], authors)
        ax.set_ylabel(f"scaled style score ({SCALE_WORDS[summary['calibration']['scale']]})")
        ax.set_ylim(0, 1.05)
        ax.set_title("Style by author and system (mean, bootstrap 95 % CI)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    return ["metrics.png", "style_by_author.png"]


def curve(out: Path, summary: dict, histories: dict[str, list[dict]]) -> list[str]:
    """The learning curve: held-out scores of the systems along training (SFT at 0, GRPO's saved steps, the
    final GRPO model; zero-shot mode) next to the training style reward per step (each GRPO stage's log).
    Report lines (a table and the plot) or none when fewer than two points."""
    steps = {s: n for s, n in summary.get("steps", {}).items() if summary.get("modes", {}).get(s, "zero_shot") == "zero_shot"}
    if len(steps) < 2:
        return []
    points = sorted((n, s) for s, n in steps.items())
    lines = ["## Learning curve (held-out plots along training)", "",
             "| system | step | style (scaled) | style cosine | P(author), classifier | base encoder cosine |",
             "|---|---:|---|---|---|---|"]
    for n, s in points:
        cells = summary["overall"][s]
        lines.append(f"| {s} | {n} | {_fmt(cells['style_scaled'])} | {_fmt(cells['style'])} | {_fmt(cells['p_author'])} | "
                     f"{_fmt(cells['style_base'])} |")
    with plots.figure(out / "curve.png", figsize=(7, 4), dpi=120) as (_, ax):
        for metric, label in (("style", "held-out style cosine"), ("p_author", "held-out P(author), classifier")):
            cells = [(n, summary["overall"][s][metric]) for n, s in points if summary["overall"][s][metric]["n"]]
            if cells:
                ax.errorbar([n for n, _ in cells], [c["mean"] for _, c in cells],
                            yerr=[[c["mean"] - c["low"] for _, c in cells], [c["high"] - c["mean"] for _, c in cells]],
                            marker="o", capsize=3, label=label)
        key = "rewards/style/mean"
        for stage, history in histories.items():
            train = [(e["step"], e[key]) for e in history if "step" in e and key in e and e[key] == e[key]]  # no NaN
            if train:
                ax.plot(*zip(*train), lw=1, alpha=0.7, label=f"training style reward ({stage})")
        plots.finish(ax, "Held-out scores along GRPO training", "training step (0 = SFT model)", "mean", legend_size=7)
    return lines + ["", "![learning curve](curve.png)", ""]


SCALE_WORDS = {"quartiles": "0 = cross-author Q1, 1 = same-author Q3", "medians": "0 = cross-author median, "
               "1 = same-author median", "fixed": "0 and 1 at eval.scale_fixed"}


def scale_warning(calibration: dict | None) -> list[str]:
    """Report lines saying that scaled style is left out, when the judge's calibration cannot scale."""
    if not calibration or calibration.get("separates", True):
        return []
    return [f"**Scaled style is left out:** the `{calibration['name']}` judge's scale ({calibration['scale']}) maps "
            f"1 to {calibration['high']:.3f} <= {calibration['low']:.3f} mapped to 0: it does not separate authors; "
            "train the judge longer (see its report).", ""]


def write(ctx: StageContext, summary: dict, records: list[dict]) -> None:
    recipe, out = ctx.recipe, ctx.out_dir
    images = figures(out, summary, records)
    systems = summary["systems"]
    lines = ["# Evaluation", "",
             f"Recipe hash `{recipe_hash(recipe.model_dump(mode='json'))[:12]}`, run dir `{recipe.run_dir}`, seed "
             f"{recipe.run.seed}. Test plots of `grpo_data` (never trained on), {recipe.eval.stories_per_plot} "
             f"story per author and plot and system; means with bootstrap 95 % CIs ({recipe.eval.bootstrap} "
             f"resamples). " + (
                 "Style (raw and scaled) is the cross-book verifier's calibrated P(the row's author wrote it) "
                 "(`judge.style_score: verifier`), the GRPO reward's style." if recipe.judge.style_score == "verifier"
                 else f"Style is scaled by `eval.scale: {recipe.eval.scale}` of the `{recipe.eval.judge_calibration}` "
                 f"judge ({SCALE_WORDS[recipe.eval.scale]}: {summary['calibration']['low']:.4f} -> 0, "
                 f"{summary['calibration']['high']:.4f} -> 1)."), "",
             *scale_warning(summary.get("calibration")),
             "## Overall", "", "| metric | " + " | ".join(systems) + " |", "|---|" + "---|" * len(systems)]
    for metric, (label, unit) in METRICS.items():
        lines.append(f"| {label} ({unit}) | " + " | ".join(_fmt(summary["overall"][s][metric], 1 if metric == "words" else 3)
                                                         for s in systems) + " |")
    lines.append("| stories (failed) | " + " | ".join(f"{summary['stories'][s]} ({summary['failures'][s]})"
                                                     for s in systems) + " |")
    failed = [s for s in systems if summary["failures"][s]]
    if failed:
        lines += ["", "**Failures:** " + ", ".join(f"{s}: {summary['failures'][s]} of {summary['stories'][s]} stories "
                                                   "could not be generated (server errors after retries)"
                                                   for s in failed) + "."]
    lines += ["", "## Paired differences (same author, plot and sample)", "",
              "| comparison | metric | difference [95 % CI] | n |", "|---|---|---|---:|"]
    for p in summary["paired"]:
        lines.append(f"| {p['a']} - {p['b']} | {p['metric']} | {p['diff']:+.3f} [{p['low']:+.3f}, {p['high']:+.3f}] "
                     f"| {p['n']} |")
    lines += ["", "## Measures the reward never saw", "",
              "P(author) and top-1 of an authorship classifier trained on corpus chunks of every corpus author (TF-IDF "
              "char 2-4-grams and word 1-2-grams, logistic regression; never trained on generated text), and the base "
              "encoder's cosine to the sample. Overlap with the fused reward: the char n-grams and word unigrams are "
              "reward features too (weighted per author here, not a cosine to one sample); the word bigrams and the "
              "content words are not. A reward gain that these do not share is a sign of reward hacking.", "",
              "| metric | " + " | ".join(systems) + " |", "|---|" + "---|" * len(systems)]
    for metric in INDEPENDENT:
        label, unit = METRICS[metric]
        lines.append(f"| {label} ({unit}) | " + " | ".join(_fmt(summary["overall"][s][metric]) for s in systems) + " |")
    lines += ["", "## Reward-hacking watch", "",
              "Copy rate (share of the story's 8-grams found in the sample or the prompt), distinct-2, length and the "
              "share of stories ending with `THE END.`, then the opening 120 words of three stories per system "
              "(the same plots).", "", "| metric | " + " | ".join(systems) + " |", "|---|" + "---|" * len(systems)]
    for metric in WATCH:
        label, unit = METRICS[metric]
        lines.append(f"| {label} ({unit}) | " + " | ".join(_fmt(summary["overall"][s][metric], 1 if metric == "words"
                                                                else 3) for s in systems) + " |")
    lines += openings(records, systems)
    histories = {name: json.loads((path / "log_history.json").read_text()) for name, path in ctx.inputs.items()
                 if base_stage(name) == "grpo" and (path / "log_history.json").is_file()}
    lines += ["", *curve(out, summary, histories)]
    lines += ["", "## The paper's tables: style cosine / scaled style, mean ± std (n stories)", "",
              *paper_tables(records, summary.get("modes", {s: "zero_shot" for s in systems}), summary["authors"],
                            summary.get("labels"))]
    lines += ["## By author (mean [95 % CI])"]
    for metric, (label, unit) in METRICS.items():
        lines += ["", f"**{label}** ({unit})", "", "| author | " + " | ".join(systems) + " |",
                  "|---|" + "---|" * len(systems)]
        for author in summary["authors"]:
            lines.append(f"| {author} | " + " | ".join(_fmt(summary["per_author"][s][author][metric],
                                                            1 if metric == "words" else 3) for s in systems) + " |")
    lines += ["", "## Plots", ""] + [f"![{name}]({name})" for name in images]
    rewards = ctx.inputs.get("grpo")
    if rewards is not None and (rewards / "rewards.png").is_file():
        lines.append("![GRPO rewards](../grpo/rewards.png)")
    lines += ["", "Judge benchmark: [report](../judge_benchmark/report.md), "
              "![ROC](../judge_benchmark/roc.png)", "", "## Stage wall times", "",
              "| stage | wall time (s) |", "|---|---:|"]
    for manifest in finished_stages(recipe.run_dir):
        if manifest.get("stage") != ctx.name:
            lines.append(f"| {manifest.get('stage')} | {manifest.get('wall_time_s', '-')} |")
    (out / "report.md").write_text("\n".join(lines) + "\n")
    log.info("eval report: %s", recipe.run_dir / ctx.name / "report.md")
