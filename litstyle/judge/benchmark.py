"""Stage ``judge_benchmark``: how well does each judge separate authors, on text it never trained on?

Evaluation sets, per chunk size: ``unseen authors`` (pairs of the test authors of ``judge_pairs``,
never trained on; the validation authors chose the checkpoint and fitted the fused weights); in
book_disjoint mode ``unseen books`` (each pair holds a chunk of a training author's held-out book and a
chunk of another book: the same author's other book, or another author); in all_books mode with folds
``unseen books (folds)``: for each leave-book-out fold, the fold's judge (trained without the fold's
books) and baselines fitted without them, on pairs holding a chunk of one of its books; the folds'
cosines pooled, and each fold's AUC (mean and spread) reported.  Same-author/different-book pairs are
the positives, different-author pairs the negatives.  Topic diagnostic for every set and method: the
AUC with same-book positives (two chunks of one book) against the same negatives, and its gap to the
cross-book AUC: a judge that learned book identity (names, places, topics) has a large gap.  Methods:
the base encoder, the fine-tuned judge (through its text view; its fused score when it has one, and
then its cosine alone as "judge cosine only") and the unsupervised stylometric baselines of
``judge_benchmark.stylometry`` fitted on training-book chunks, each a "cosine delta" (relative
frequencies of the most frequent features, z-scored per feature, then cosine:
:mod:`litstyle.style.stylometry`).  Reported: ROC AUC with a bootstrap 95 % CI, EER, median cosine per
class, a per-author AUC table, a Markdown report, box plots and ROC curves (PNG), and the calibration
constants of the scaled style score (cross-author Q1 and median, same-author median and Q3:
:mod:`litstyle.style.calibration`) of every judge, at the largest chunk size, on the folds or the unseen
books when there are (the target authors are trained authors then), else on the unseen authors.  The
cross-book verifier saved with a judge (``litstyle.style.verifier``) is scored on the same pairs (its P(same
author)), and on the reward's own task, author profiles (``litstyle.judge.profiles``): chunks of unseen
books against every training author's profile, own-profile AUC and N-way / 4-way attribution, at
``judge_benchmark.profile_words``.
"""

from __future__ import annotations

import json
import logging
import random
from typing import Callable

import numpy as np

from litstyle import plots
from litstyle.errors import StageError
from litstyle.judge import profiles as prof
from litstyle.judge.pairs import BOOK_SPLIT, FOLDS_DIR, PairSampler
from litstyle.judge.stats import auc, auc_eer, bootstrap_auc
from litstyle.rundir import StageContext
from litstyle.style.calibration import calibrate
from litstyle.style.scorer import StyleScorer, judge_scorer
from litstyle.style.stylometry import FEATURES
from litstyle.style.verifier import Verifier

log = logging.getLogger(__name__)

UNSEEN_AUTHORS, UNSEEN_BOOKS = "unseen authors", "unseen books"
UNSEEN_BOOKS_FOLDS = "unseen books (folds)"  # all_books: leave-book-out folds, pooled
VERIFIER = "verifier"


Item = tuple[str, int, str]  # (author, book id, text)


def sample_pairs(chunks: list[Item], n: int, rng: random.Random,
                 anchor: Callable[[Item], bool] | None = None) -> tuple[list, list]:
    """``n`` same-author/different-book pairs and ``n`` different-author pairs, each as
    ((author, text), (author, text)); the first item of a pair passes ``anchor`` when given."""
    sampler = PairSampler(chunks, lambda c: c[0], lambda c: c[1], anchor=anchor)
    if not sampler.multi or len(sampler.authors) < 2:
        raise StageError("judge_benchmark: an evaluation set needs one author with 2+ books and 2+ authors")
    same, cross = [], []
    for _ in range(n):
        first, second = sampler.same(rng)
        same.append(((first[0], first[2]), (second[0], second[2])))
        a, b = sampler.cross(rng)
        cross.append(((a[0], a[2]), (b[0], b[2])))
    return same, cross


def memo(embed: Callable[[list[str]], np.ndarray]) -> Callable[[list[str]], np.ndarray]:
    """``embed`` that embeds each distinct text once, however many pairs and calls it appears in."""
    cache: dict[str, np.ndarray] = {}

    def cached(texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        if missing:
            cache.update(zip(missing, embed(missing)))
        return np.stack([cache[t] for t in texts])

    return cached


def cosines(embed: Callable[[list[str]], np.ndarray], pairs: list) -> np.ndarray:
    """Cosine of each pair (``embed`` returns unit-length rows)."""
    left = embed([a[1] for a, _ in pairs])
    right = embed([b[1] for _, b in pairs])
    return np.sum(left * right, axis=1)


def per_author_auc(same_pairs: list, cross_pairs: list, same: np.ndarray, cross: np.ndarray) -> dict[str, float]:
    """AUC of each author's pairs: its same-author pairs against the different-author pairs it opens."""
    out = {}
    for author in sorted({a for (a, _), _ in same_pairs}):
        s = same[[i for i, ((a, _), _) in enumerate(same_pairs) if a == author]]
        c = cross[[i for i, ((a, _), _) in enumerate(cross_pairs) if a == author]]
        if len(s) and len(c):
            out[author] = auc(s, c)
    return out


def same_book_pairs(chunks: list[Item], n: int, rng: random.Random,
                    anchor: Callable[[Item], bool] | None = None) -> list:
    """``n`` pairs of two different chunks of one book (the first passing ``anchor``): the same-book
    positives of the topic diagnostic (a judge that learned book identity separates these far better
    than same-author pairs across books)."""
    by_book: dict[int, list[Item]] = {}
    for c in chunks:
        if anchor is None or anchor(c):
            by_book.setdefault(c[1], []).append(c)
    books = sorted(b for b, cs in by_book.items() if len(cs) >= 2)
    if not books:
        return []
    out = []
    for _ in range(n):
        first, second = rng.sample(by_book[rng.choice(books)], 2)
        out.append(((first[0], first[2]), (second[0], second[2])))
    return out


def _eval_sets(split: dict, chunks: list[Item]) -> dict[str, tuple[list[Item], Callable | None]]:
    """Evaluation set name -> (pool of chunks, anchor test) for the judge trained on every training book."""
    book_split = {int(b): s for b, s in split["books"].items()}
    sets = {UNSEEN_AUTHORS: ([c for c in chunks if book_split.get(c[1]) == "test"], None)}
    if split["mode"] == "book_disjoint":
        test_books = {b for b, s in book_split.items() if s == BOOK_SPLIT}
        pool = [c for c in chunks if book_split.get(c[1]) in ("train", BOOK_SPLIT)]
        sets[UNSEEN_BOOKS] = (pool, lambda c: c[1] in test_books)
    return sets


def _judges(recipe, judge_dir) -> dict[str, StyleScorer]:
    """The fine-tuned judge of ``judge_dir`` (its fused score when it has one) and its cosine alone."""
    tuned = judge_scorer(recipe, judge_dir)
    judges = {"fine-tuned": tuned}
    if tuned.fusion:  # "fine-tuned" is the fused score the rewards use; the judge cosine alone too
        judges["judge cosine only"] = StyleScorer("", encoder=tuned.encoder, prefix=tuned.prefix, view=tuned.view,
                                                  window_words=tuned.window_words)
    return judges


def _methods(cfg, reference: list[str], judges: dict[str, StyleScorer]) -> dict[str, Callable]:
    """Method name -> memoised embed: the stylometric baselines fitted on ``reference``, then the judges."""
    methods = {name: FEATURES[name](reference, n).embed for name, n in cfg.stylometry.items()}
    methods.update({name: s.encode for name, s in judges.items()})
    methods = {name: memo(embed) for name, embed in methods.items()}
    tuned = judges.get("fine-tuned")
    if tuned is not None and tuned.fusion:  # the fused embedding extends the judge's own: encode once
        only = methods["judge cosine only"]
        methods["fine-tuned"] = memo(lambda texts: tuned.fusion.embed(only(texts), [tuned.view.apply(t) for t in texts]))
    return methods


def _reference(recipe, chunks: list[Item], books: set[int]) -> list[str]:
    """The seeded sample of chunks of ``books`` the stylometric baselines are fitted on."""
    reference = [t for _, b, t in chunks if b in books]
    return random.Random(f"{recipe.run.seed}:bench:reference").sample(
        reference, min(len(reference), recipe.judge_benchmark.reference_chunks))


def _score(methods: dict[str, Callable], pool: list[Item], anchor, n: int, rng: random.Random,
           verifier: Verifier | None = None) -> dict:
    """Pairs of a set (same-author/different-book, different-author, same-book) and every method's cosines
    (the verifier's: its P(same author) of the pair)."""
    same_pairs, cross_pairs = sample_pairs(pool, n, rng, anchor)
    book_pairs = same_book_pairs(pool, n, rng, anchor)
    out = {"pairs": (same_pairs, cross_pairs), "cosines": {}}
    scorers = {method: lambda pairs, e=embed: cosines(e, pairs) for method, embed in methods.items()}
    if verifier is not None:
        scorers[VERIFIER] = lambda pairs: verifier.pair_scores([a[1] for a, _ in pairs], [b[1] for _, b in pairs])
    for method, score in scorers.items():
        out["cosines"][method] = (score(same_pairs), score(cross_pairs),
                                  score(book_pairs) if book_pairs else np.zeros(0))
    return out


def _row(set_name: str, method: str, words: int, scored: list[dict], seed: int,
         reps: int) -> tuple[dict, np.ndarray, np.ndarray]:
    """One result row of ``method`` over the scored sets (several: leave-book-out folds, pooled), with its
    pooled same-author and different-author cosines."""
    s, c, b = (np.concatenate([x["cosines"][method][i] for x in scored]) for i in range(3))
    same_pairs = [p for x in scored for p in x["pairs"][0]]
    cross_pairs = [p for x in scored for p in x["pairs"][1]]
    value, eer = auc_eer(s, c)
    low, high = bootstrap_auc(s, c, reps, seed)
    row = {"set": set_name, "method": method, "words": words, "auc": value, "auc_low": low, "auc_high": high,
           "eer": eer, **calibrate(s, c), "per_author": per_author_auc(same_pairs, cross_pairs, s, c)}
    if len(b):  # the topic diagnostic: same-book positives against the same negatives
        row["same_book_auc"] = auc(b, c)
        row["book_gap"] = row["same_book_auc"] - value
    if len(scored) > 1:
        folds = [auc(x["cosines"][method][0], x["cosines"][method][1]) for x in scored]
        row.update(fold_aucs=folds, fold_mean=float(np.mean(folds)), fold_sd=float(np.std(folds, ddof=1)))
    log.info("%-20s %-22s %4d words: AUC %.3f [%.3f, %.3f], EER %.3f, same-book gap %s", set_name, method, words,
             value, low, high, eer, f"{row['book_gap']:+.3f}" if "book_gap" in row else "-")
    return row, s, c


def run_benchmark(ctx: StageContext) -> None:
    from datasets import load_from_disk

    recipe, cfg = ctx.recipe, ctx.recipe.judge_benchmark
    chunks = load_from_disk(str(ctx.inputs["corpus"] / "chunks"))
    judge_cfg = recipe.judge
    base = StyleScorer(recipe.models.path("encoder"), trust_remote_code=recipe.models.trusts("encoder"),
                       prefix=judge_cfg.text_prefix, window_words=cfg.window_words,
                       max_seq_length=judge_cfg.max_seq_length, device=recipe.models.encoder_device)
    judges = {"base": base, **_judges(recipe, ctx.inputs["judge"])}
    split = json.loads((ctx.inputs["judge_pairs"] / "split.json").read_text())
    mode, folds = split["mode"], split.get("folds", [])
    fold_dirs = [ctx.inputs["judge"] / FOLDS_DIR / str(k) for k in range(len(folds))]
    missing = [str(d) for d in fold_dirs if not (d / "model").is_dir()]
    if missing:
        raise StageError(f"judge_benchmark: split.json has {len(folds)} leave-book-out folds but no fold judge in "
                         f"{', '.join(missing)}: rerun the judge stage (--force --only judge)")
    fold_judges = [{"base": base, **_judges(recipe, d)} for d in fold_dirs]
    verifier = Verifier.load(ctx.inputs["judge"] / "model")
    fold_verifiers = [Verifier.load(d / "model") for d in fold_dirs]
    train_books = {int(b) for b, s in split["books"].items() if s == "train"}
    test_books = {int(b) for b, s in split["books"].items() if s == BOOK_SPLIT}
    rows, results, authors, profile_rows = [], {}, {}, []
    profile_words = cfg.profile_words if cfg.profile_words is not None else cfg.chunk_words
    for words in sorted(set(cfg.chunk_words) | set(profile_words)):
        subset = [(a, b, t) for a, b, t, w in zip(chunks["author"], chunks["book_id"], chunks["text"],
                                                   chunks["target_words"]) if w == words]
        if not subset:
            raise StageError(f"judge_benchmark.chunk_words / profile_words: no corpus chunks of {words} words "
                             f"(corpus.chunk_words must include it)")
        # the encoders join the profile task at the pair sizes only (elsewhere: stylometry and verifier, cheap)
        pairs, profiles = words in cfg.chunk_words, words in profile_words
        scored: dict[str, list[dict]] = {}
        methods = _methods(cfg, _reference(recipe, subset, train_books), judges if pairs else {})
        for set_name, (pool, anchor) in _eval_sets(split, subset).items() if pairs else ():
            rng = random.Random(f"{recipe.run.seed}:bench:{words}:{set_name}")
            scored[set_name] = [_score(methods, pool, anchor, cfg.pairs_per_class, rng, verifier)]
        profile_parts: dict[str, list] = {}
        if profiles and mode == "book_disjoint" and not folds:  # the judge never saw the test books
            _profiles(profile_parts, methods, verifier, subset, train_books | test_books, test_books, cfg,
                      f"{recipe.run.seed}:{words}")
        if folds:  # each fold's judge and baselines never saw the fold's books
            pool = [c for c in subset if c[1] in train_books]
            if pairs:
                scored[UNSEEN_BOOKS_FOLDS] = []
            for k, (books, fold) in enumerate(zip(folds, fold_judges)):
                held = set(books)
                methods = _methods(cfg, _reference(recipe, subset, train_books - held), fold if pairs else {})
                if pairs:
                    rng = random.Random(f"{recipe.run.seed}:bench:{words}:fold{k}")
                    scored[UNSEEN_BOOKS_FOLDS].append(_score(methods, pool, lambda c: c[1] in held,
                                                             cfg.pairs_per_class, rng, fold_verifiers[k]))
                if profiles:
                    _profiles(profile_parts, methods, fold_verifiers[k], subset, train_books, held, cfg,
                              f"{recipe.run.seed}:{words}:fold{k}")
        for method, parts in profile_parts.items():
            row = {"set": UNSEEN_BOOKS_FOLDS if folds else UNSEEN_BOOKS, "method": method, "words": words,
                   **prof.profile_row(parts, list(recipe.run.authors), recipe.run.seed, cfg.bootstrap)}
            profile_rows.append(row)
            log.info("profiles %-22s %4d words: own-profile AUC %.3f, %d-way %.3f, 4-way %s", method, words,
                     row["own_auc"], row["authors"], row["n_way"]["accuracy"],
                     f"{row['four_way']['accuracy']:.3f}" if "four_way" in row else "-")
        for set_name, parts in scored.items():
            authors[set_name] = sorted({a for x in parts for (a, _), _ in x["pairs"][0] + x["pairs"][1]})
            for method in parts[0]["cosines"]:
                row, same, cross = _row(set_name, method, words, parts, recipe.run.seed, cfg.bootstrap)
                rows.append(row)
                results[(set_name, method, words)] = (same, cross, row["auc"])
    calibration_set = (UNSEEN_BOOKS_FOLDS if folds else UNSEEN_BOOKS if mode == "book_disjoint" else UNSEEN_AUTHORS)
    calibration = {r["method"]: {"words": r["words"], "set": r["set"],
                                 **{k: r[k] for k in ("cross_median", "same_median", "cross_q1", "same_q3")}}
                   for r in rows if r["words"] == max(cfg.chunk_words) and r["method"] in judges
                   and r["set"] == calibration_set}
    (ctx.out_dir / "results.json").write_text(json.dumps(
        {"rows": rows, "profile_rows": profile_rows, "split": mode, "folds": folds, "authors": authors,
         "held_out_authors": authors[UNSEEN_AUTHORS], "calibration": calibration}, indent=2) + "\n")
    (ctx.out_dir / "calibration.json").write_text(json.dumps(calibration, indent=2) + "\n")
    (ctx.out_dir / "report.md").write_text(_report(rows, authors, cfg.pairs_per_class, mode, calibration, folds)
                                           + _profile_report(profile_rows, cfg))
    _plots(ctx, results)
    largest = [r for r in rows if r["words"] == max(cfg.chunk_words)]
    ctx.counts.update({"pairs_per_class": cfg.pairs_per_class, "split": mode, "folds": len(folds),
                       "auc_at_largest": {f"{r['set']}: {r['method']}": round(r["auc"], 4) for r in largest},
                       "same_book_gap_at_largest": {f"{r['set']}: {r['method']}": round(r["book_gap"], 4)
                                                    for r in largest if "book_gap" in r},
                       "held_out_authors": len(authors[UNSEEN_AUTHORS]),
                       "profiles_at_largest": {r["method"]: {"own_auc": round(r["own_auc"], 4),
                                                             "n_way": round(r["n_way"]["accuracy"], 4)}
                                               for r in profile_rows if r["words"] == max(profile_words)}})


def _profiles(parts: dict[str, list], methods: dict[str, Callable], verifier: Verifier | None, chunks: list[Item],
              books: set[int], held: set[int], cfg, seed: str) -> None:
    """Add one fold's score matrices of every method (and the verifier) on the profile task to ``parts``."""
    tests, profiles = prof.profile_sets(chunks, books, held, cfg.profile_chunks, cfg.profile_test_chunks, seed)
    if not tests or len(profiles) < 2:
        return
    authors = list(profiles)
    for method, embed in methods.items():
        parts.setdefault(method, []).append((prof.centroid_scores(embed, tests, profiles), tests, authors))
    if verifier is not None:
        parts.setdefault(VERIFIER, []).append((prof.verifier_scores(verifier, tests, profiles), tests, authors))


def _profile_report(rows: list[dict], cfg) -> str:
    if not rows:
        return ""
    lines = ["", "## Author profiles (the reward's task)", "",
             f"Chunks of books the scorer never saw ({cfg.profile_test_chunks} per book) against every training "
             f"author's profile ({cfg.profile_chunks} chunks of its other books): embedding methods score the cosine "
             "with the profile centroid (the stylometric families: Cosine Delta), the verifier its calibrated "
             "P(author). Own-profile AUC: own author's score against the others'; attribution: the top score "
             "(bootstrap 95 % intervals).", "",
             "| set | method | words | own-profile AUC [95 % CI] | N-way attribution [95 % CI] | "
             "4-way among run.authors [95 % CI] |", "|---|---|---:|---|---|---|"]
    for r in rows:
        n, four = r["n_way"], r.get("four_way")
        lines.append(f"| {r['set']} | {r['method']} | {r['words']} | {r['own_auc']:.3f} [{r['own_auc_low']:.3f}, "
                     f"{r['own_auc_high']:.3f}] | {r['authors']}-way {n['accuracy']:.3f} [{n['low']:.3f}, "
                     f"{n['high']:.3f}] | " + (f"{four['accuracy']:.3f} [{four['low']:.3f}, {four['high']:.3f}]"
                                             if four else "") + " |")
    return "\n".join(lines) + "\n"


def _report(rows: list[dict], authors: dict[str, list[str]], n: int, mode: str, calibration: dict,
            folds: list[list[int]]) -> str:
    lines = ["# Style-judge benchmark", "", f"Split mode of the judge pairs: {mode}."]
    for set_name, names in authors.items():
        what = {UNSEEN_AUTHORS: "authors never in judge training",
                UNSEEN_BOOKS: "training authors, each pair holding a chunk of a book never in judge training",
                UNSEEN_BOOKS_FOLDS: f"{len(folds)} leave-book-out folds: each fold's judge (and baselines) trained "
                                    "without the fold's books, each pair holding a chunk of one of them; pooled"}[set_name]
        lines.append(f"- {set_name} ({what}): {', '.join(names)}.")
    lines += ["", f"{n} same-author/different-book and {n} different-author pairs per set (per fold) and chunk size; "
              "AUC with a bootstrap 95 % interval. Topic diagnostic: the AUC with same-book positives (two chunks "
              "of one book) against the same negatives; gap = same-book AUC - AUC (small: the judge does not lean on "
              "book identity).", "",
              "| set | method | words | ROC AUC [95 % CI] | folds: mean ± sd | same-book AUC | gap | EER | "
              "same: median [Q1, Q3] | cross: median [Q1, Q3] |",
              "|---|---|---:|---|---|---:|---:|---:|---|---|"]
    for r in rows:
        fold = f"{r['fold_mean']:.3f} ± {r['fold_sd']:.3f}" if "fold_mean" in r else ""
        book = (f"{r['same_book_auc']:.3f} | {r['book_gap']:+.3f}" if "book_gap" in r else " | ")
        lines.append(f"| {r['set']} | {r['method']} | {r['words']} | {r['auc']:.3f} [{r['auc_low']:.3f}, "
                     f"{r['auc_high']:.3f}] | {fold} | {book} | {r['eer']:.3f} | "
                     f"{r['same_median']:.3f} [{r['same_q1']:.3f}, {r['same_q3']:.3f}] | "
                     f"{r['cross_median']:.3f} [{r['cross_q1']:.3f}, {r['cross_q3']:.3f}] |")
    words = max(r["words"] for r in rows)
    for set_name in authors:
        largest = [r for r in rows if r["set"] == set_name and r["words"] == words]
        lines += ["", f"Per-author AUC, {set_name}, {words} words:", "",
                  "| author | " + " | ".join(r["method"] for r in largest) + " |",
                  "|---|" + "---:|" * len(largest)]
        for author in sorted({a for r in largest for a in r["per_author"]}):
            cells = [f"{r['per_author'][author]:.2f}" if author in r["per_author"] else "" for r in largest]
            lines.append(f"| {author} | " + " | ".join(cells) + " |")
    lines += ["", "Scaled style score = clip((cos - low) / (high - low), 0, 1); `eval.scale: quartiles` (the paper): "
              "low = cross-author Q1, high = same-author Q3; `medians`: the two medians:", ""]
    lines += [f"- {m}: quartiles {c['cross_q1']:.4f} / {c['same_q3']:.4f}, medians {c['cross_median']:.4f} / "
              f"{c['same_median']:.4f} ({c['set']}, {c['words']} words)" for m, c in calibration.items()]
    lines += ["", "![box plots](boxplots.png)", "", "![ROC](roc.png)"]
    return "\n".join(lines) + "\n"


def _plots(ctx: StageContext, results: dict) -> None:
    from sklearn.metrics import roc_curve

    panels = list(dict.fromkeys((set_name, words) for set_name, _, words in results))
    methods = list(dict.fromkeys(m for _, m, _ in results))
    with plots.figure(ctx.out_dir / "boxplots.png", 1, len(panels), figsize=(5 * len(panels), 4.2), dpi=120,
                      squeeze=False) as (_, axes):
        for ax, (set_name, words) in zip(axes[0], panels):
            data, labels = [], []
            for method in methods:
                same, cross, _ = results[(set_name, method, words)]
                data += [same, cross]
                labels += [f"{method}: same", f"{method}: cross"]
            ax.boxplot(data, showfliers=False)
            ax.set_xticks(range(1, len(labels) + 1), labels, fontsize=7, rotation=35, ha="right")
            ax.set_title(f"{set_name}, {words}-word chunks")
            ax.set_ylabel("cosine")
    with plots.figure(ctx.out_dir / "roc.png", 1, len(panels), figsize=(4.5 * len(panels), 4), dpi=120,
                      squeeze=False) as (_, axes):
        for ax, (set_name, words) in zip(axes[0], panels):
            for method in methods:
                same, cross, value = results[(set_name, method, words)]
                fpr, tpr, _ = roc_curve(np.r_[np.ones(len(same)), np.zeros(len(cross))], np.r_[same, cross])
                ax.plot(fpr, tpr, label=f"{method} (AUC {value:.2f})")
            ax.plot([0, 1], [0, 1], "k:", linewidth=0.8)
            ax.set_title(f"{set_name}, {words}-word chunks")
            ax.set_xlabel("false positive rate")
            ax.set_ylabel("true positive rate")
            ax.legend(fontsize=7, loc="lower right")
