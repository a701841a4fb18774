"""Stage ``judge_benchmark``: how well does each judge separate authors, on books it never trained on?

For each chunk size: pairs of chunks by the same author from different books versus pairs by
different authors, drawn from the validation and test authors of ``judge_pairs`` (disjoint from
the training authors).  Each pair is scored by the base encoder, the fine-tuned judge and a
Burrows function-word baseline ("cosine delta": relative frequencies of the most frequent words,
z-scored per word, then cosine).  Reported: ROC AUC, EER, median cosine per class, a Markdown
table, box plots and ROC curves (PNG), and the calibration constants of the scaled style score
(median cross-author cosine -> 0, median same-author cosine -> 1) for every judge.
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections import Counter
from typing import Callable

import numpy as np

from litstyle import models
from litstyle.judge.pairs import PairSampler
from litstyle.rundir import StageContext, StageError
from litstyle.style import StyleScorer, judge_scorer

log = logging.getLogger(__name__)

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


class FunctionWords:
    """Burrows-style baseline: the ``n`` most frequent words of a reference corpus, z-scored."""

    def __init__(self, reference_texts: list[str], n: int = 300) -> None:
        counts = Counter(w for text in reference_texts for w in _WORD.findall(text.lower()))
        self.vocab = [w for w, _ in counts.most_common(n)]
        self.index = {w: i for i, w in enumerate(self.vocab)}
        freqs = self.frequencies(reference_texts)
        self.mean = freqs.mean(axis=0)
        self.std = freqs.std(axis=0) + 1e-9

    def frequencies(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.vocab)))
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower())
            for word in words:
                col = self.index.get(word)
                if col is not None:
                    out[row, col] += 1
            out[row] /= max(len(words), 1)
        return out

    def embed(self, texts: list[str]) -> np.ndarray:
        z = (self.frequencies(texts) - self.mean) / self.std
        return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


def sample_pairs(chunks: list[tuple[str, int, str]], n: int, rng: random.Random) -> tuple[list, list]:
    """``n`` same-author/different-book pairs and ``n`` different-author pairs of (author, book, text)."""
    sampler = PairSampler(chunks, lambda c: c[0], lambda c: c[1])
    if not sampler.multi or len(sampler.authors) < 2:
        raise StageError("judge_benchmark: the held-out authors need one author with 2+ books and 2+ authors")
    same, cross = [], []
    for _ in range(n):
        first, second = sampler.same(rng)
        same.append((first[2], second[2]))
        a, b = sampler.cross(rng)
        cross.append((a[2], b[2]))
    return same, cross


def cosines(embed: Callable[[list[str]], np.ndarray], pairs: list[tuple[str, str]]) -> np.ndarray:
    left = embed([a for a, _ in pairs])
    right = embed([b for _, b in pairs])
    return np.sum(left * right, axis=1)


def auc_eer(same: np.ndarray, cross: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import roc_auc_score, roc_curve

    labels = np.r_[np.ones(len(same)), np.zeros(len(cross))]
    scores = np.r_[same, cross]
    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1 - tpr
    i = int(np.argmin(np.abs(fnr - fpr)))
    return float(roc_auc_score(labels, scores)), float((fpr[i] + fnr[i]) / 2)


def run_benchmark(ctx: StageContext) -> None:
    from datasets import load_from_disk

    recipe, cfg = ctx.recipe, ctx.recipe.judge_benchmark
    pairs = load_from_disk(str(ctx.inputs["judge_pairs"]))
    held_out = ({*pairs["validation"]["author1"], *pairs["validation"]["author2"],
                 *pairs["test"]["author1"], *pairs["test"]["author2"]})
    trained = {*pairs["train"]["author1"], *pairs["train"]["author2"]}
    chunks = load_from_disk(str(ctx.inputs["corpus"] / "chunks"))
    judge_cfg = recipe.judge
    encoder_kwargs = {"prefix": judge_cfg.text_prefix, "window_words": cfg.window_words,
                      "max_seq_length": judge_cfg.max_seq_length}
    judges = {
        "base": StyleScorer(models.resolve(recipe.models.encoder, recipe.models.cache_dir),
                            trust_remote_code=recipe.models.trust_remote_code, **encoder_kwargs),
        "fine-tuned": judge_scorer(recipe, ctx.inputs["judge"]),
    }
    rows, results = [], {}
    for words in cfg.chunk_words:
        subset = [(a, b, t) for a, b, t, w in zip(chunks["author"], chunks["book_id"], chunks["text"],
                                                   chunks["target_words"]) if w == words]
        if not subset:
            raise StageError(f"judge_benchmark.chunk_words: no corpus chunks of {words} words "
                             f"(corpus.chunk_words must include it)")
        reference = [t for a, _, t in subset if a in trained]
        baseline = FunctionWords(reference, cfg.function_words)
        same, cross = sample_pairs([c for c in subset if c[0] in held_out], cfg.pairs_per_class,
                                   random.Random(f"{recipe.run.seed}:bench:{words}"))
        methods = {"function words": baseline.embed, **{name: s.encode for name, s in judges.items()}}
        for method, embed in methods.items():
            s, c = cosines(embed, same), cosines(embed, cross)
            auc, eer = auc_eer(s, c)
            results[(method, words)] = (s, c, auc)
            rows.append({"method": method, "words": words, "auc": auc, "eer": eer,
                         "median_same": float(np.median(s)), "median_cross": float(np.median(c)),
                         "q1_same": float(np.quantile(s, 0.25)), "q3_same": float(np.quantile(s, 0.75)),
                         "q1_cross": float(np.quantile(c, 0.25)), "q3_cross": float(np.quantile(c, 0.75))})
            log.info("%-14s %4d words: AUC %.3f, EER %.3f", method, words, auc, eer)
    calibration = {r["method"]: {"words": r["words"], "cross_median": r["median_cross"],
                                 "same_median": r["median_same"]}
                   for r in rows if r["words"] == max(cfg.chunk_words) and r["method"] != "function words"}
    (ctx.out_dir / "results.json").write_text(json.dumps({"rows": rows, "held_out_authors": sorted(held_out),
                                                          "calibration": calibration}, indent=2) + "\n")
    (ctx.out_dir / "calibration.json").write_text(json.dumps(calibration, indent=2) + "\n")
    (ctx.out_dir / "report.md").write_text(_report(rows, sorted(held_out), cfg.pairs_per_class, calibration))
    _plots(ctx, results, cfg.chunk_words)
    best = {r["method"]: round(r["auc"], 4) for r in rows if r["words"] == max(cfg.chunk_words)}
    ctx.counts.update({"pairs_per_class": cfg.pairs_per_class, "auc_at_largest": best,
                       "held_out_authors": len(held_out)})


def _report(rows: list[dict], authors: list[str], n: int, calibration: dict) -> str:
    lines = ["# Style-judge benchmark", "",
             f"Held-out authors (never in judge training): {', '.join(authors)}.",
             f"{n} same-author/different-book and {n} different-author pairs per chunk size.", "",
             "| method | words | ROC AUC | EER | same: median [Q1, Q3] | cross: median [Q1, Q3] |",
             "|---|---:|---:|---:|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['words']} | {r['auc']:.3f} | {r['eer']:.3f} | "
                     f"{r['median_same']:.3f} [{r['q1_same']:.3f}, {r['q3_same']:.3f}] | "
                     f"{r['median_cross']:.3f} [{r['q1_cross']:.3f}, {r['q3_cross']:.3f}] |")
    lines += ["", "Scaled style score = clip((cos - cross_median) / (same_median - cross_median), 0, 1):", ""]
    lines += [f"- {m}: cross {c['cross_median']:.4f}, same {c['same_median']:.4f} ({c['words']} words)"
              for m, c in calibration.items()]
    lines += ["", "![box plots](boxplots.png)", "", "![ROC](roc.png)"]
    return "\n".join(lines) + "\n"


def _plots(ctx: StageContext, results: dict, sizes: list[int]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    methods = list(dict.fromkeys(m for m, _ in results))
    fig, axes = plt.subplots(1, len(sizes), figsize=(5 * len(sizes), 4), squeeze=False)
    for ax, words in zip(axes[0], sizes):
        data, labels = [], []
        for method in methods:
            same, cross, _ = results[(method, words)]
            data += [same, cross]
            labels += [f"{method}: same", f"{method}: cross"]
        ax.boxplot(data, showfliers=False)
        ax.set_xticks(range(1, len(labels) + 1), labels, fontsize=7, rotation=30, ha="right")
        ax.set_title(f"{words}-word chunks")
        ax.set_ylabel("cosine")
    fig.tight_layout()
    fig.savefig(ctx.out_dir / "boxplots.png", dpi=120)
    plt.close(fig)
    fig, axes = plt.subplots(1, len(sizes), figsize=(4.5 * len(sizes), 4), squeeze=False)
    for ax, words in zip(axes[0], sizes):
        for method in methods:
            same, cross, auc = results[(method, words)]
            fpr, tpr, _ = roc_curve(np.r_[np.ones(len(same)), np.zeros(len(cross))], np.r_[same, cross])
            ax.plot(fpr, tpr, label=f"{method} (AUC {auc:.2f})")
        ax.plot([0, 1], [0, 1], "k:", linewidth=0.8)
        ax.set_title(f"{words}-word chunks")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(ctx.out_dir / "roc.png", dpi=120)
    plt.close(fig)
