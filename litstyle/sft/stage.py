"""Stage ``sft_data``: teacher stories for (author, train plot), filtered by rules and the style judge.

For every author of ``run.authors`` and every train plot (``litstyle.prompts.split_plots``; the
test plots stay unseen for evaluation) the teacher LLM (role ``teacher`` of ``litstyle.serve``)
writes ``samples_per_prompt`` stories through the robust client (concurrent, bounded retries,
failures counted).  Stories that break the prompt's rules or repeat another are dropped; the rest
are scored by the style judge of the ``judge`` stage against a reference chunk of the author's
target book, and kept when the score reaches ``min_style`` (or is in the best ``keep_top`` share).

Output ``<run_dir>/sft_data/``: a ``DatasetDict`` (train / validation, split by plot; no
validation split when ``validation_fraction`` leaves no plot for it) with
``messages`` (prompt + the teacher's story as the assistant turn), author, title, plot, sample,
style, words; ``README.md`` (dataset card); counts kept / dropped by reason and the teacher's call
statistics in the manifest.  With ``sft_data.from_dataset`` the stories come from a published set instead
(:func:`published_rows` says which columns it relies on) and no teacher starts.
"""

from __future__ import annotations

import logging
import random

from litstyle import prompts, published
from litstyle.corpus.read import author_books, author_passages, pick
from litstyle.errors import StageError
from litstyle.rundir import StageContext
from litstyle.serve import client_for
from litstyle.sft.filters import Candidate, counts, mark_duplicates, mark_style, rule_reason
from litstyle.style.scorer import style_score
from litstyle.text import END_LINE, append_end_line, count_words, normalize_ending

ENDINGS = {"exact": lambda text: text, "normalize": normalize_ending, "append": append_end_line}

log = logging.getLogger(__name__)


def _features():
    from datasets import Features, List, Value

    return Features({"messages": List({"role": Value("string"), "content": Value("string")}),
                     "author": Value("string"), "title": Value("string"), "plot": Value("string"),
                     "sample": Value("int32"), "style": Value("float32"), "words": Value("int32")})


def _turns(value, role: str) -> list[dict]:
    return [{"role": role, "content": value}] if isinstance(value, str) else [dict(turn) for turn in value]


def published_rows(ctx: StageContext) -> dict[str, list[dict]]:
    """Rows of ``sft_data.from_dataset`` in litstyle's schema.  Relied on: ``messages`` (chat turns ending with
    the assistant's story), or ``prompt`` + ``completion`` (strings or turns); ``author``, ``title``, ``plot``
    when present.  Splits named validation / eval / dev / test go to validation, the rest to train; a row of
    another author than run.authors, or of a plot this run holds out for evaluation, is left out (counted)."""
    recipe, cfg = ctx.recipe, ctx.recipe.sft_data
    _, test_plots = prompts.split_plots(prompts.load_plots(ctx.read_file(recipe.prompts.plots_file)),
                                        recipe.prompts.test_fraction, recipe.run.seed)
    held_out = set(test_plots)
    data = published.load(cfg.from_dataset)
    rows: dict[str, list[dict]] = {"train": [], "validation": []}
    dropped = {"test_plot": 0, "other_author": 0}
    for split in data:
        columns = set(data[split].column_names)
        if "messages" not in columns and not {"prompt", "completion"} <= columns:
            raise StageError(f"sft_data.from_dataset: {cfg.from_dataset} ({split}) has neither a messages column "
                             f"nor prompt + completion (it has {', '.join(sorted(columns))})")
        target = "validation" if split in ("validation", "eval", "dev", "test") else "train"
        for record in data[split]:
            messages = (_turns(record["messages"], "user") if "messages" in columns
                        else _turns(record["prompt"], "user") + _turns(record["completion"], "assistant"))
            if record.get("plot") in held_out:
                dropped["test_plot"] += 1
                continue
            if record.get("author") and record["author"] not in recipe.run.authors:
                dropped["other_author"] += 1
                continue
            story = messages[-1]["content"]
            rows[target].append({"messages": messages, "author": record.get("author") or "",
                                 "title": record.get("title") or "", "plot": record.get("plot") or "", "sample": -1,
                                 "style": float("nan"), "words": count_words(story)})
    if not rows["train"]:
        raise StageError(f"sft_data.from_dataset: no training row left in {cfg.from_dataset} ({dropped})")
    ctx.counts.update({"from_dataset": cfg.from_dataset, "dropped": dropped})
    return rows


def build_sft_data(ctx: StageContext) -> None:
    from datasets import Dataset, DatasetDict

    if ctx.recipe.sft_data.from_dataset is not None:
        rows = published_rows(ctx)
        DatasetDict({split: Dataset.from_list(r, features=_features()) for split, r in rows.items() if r}
                    ).save_to_disk(str(ctx.out_dir))
        ctx.counts.update({"train_rows": len(rows["train"]), "validation_rows": len(rows["validation"])})
        (ctx.out_dir / "README.md").write_text(f"# SFT stories\n\nRead from `{ctx.recipe.sft_data.from_dataset}`: "
                                               f"{ctx.counts}.\n")
        log.info("sft_data: %s", ctx.counts)
        return
    recipe, cfg, pcfg = ctx.recipe, ctx.recipe.sft_data, ctx.recipe.prompts
    seed = recipe.run.seed
    all_plots = prompts.load_plots(ctx.read_file(pcfg.plots_file))
    train_plots, test_plots = prompts.split_plots(all_plots, pcfg.test_fraction, seed)
    plots = train_plots[:cfg.plots_per_author] if cfg.plots_per_author else train_plots
    books, refs = author_books(ctx, cfg.reference_words)

    candidates = [Candidate(a, books[a]["title"], plot, k, None)
                  for a in recipe.run.authors for plot in plots for k in range(cfg.samples_per_prompt)]
    messages = [prompts.story_prompt(c.author, c.title, c.plot, pcfg.min_words, pcfg.max_words,
                                     system=pcfg.system) for c in candidates]
    log.info("sft_data: %d authors x %d train plots x %d samples = %d %s (%d test plots held out)",
             len(recipe.run.authors), len(plots), cfg.samples_per_prompt, len(candidates),
             "teacher stories" if cfg.source == "teacher" else f"{cfg.corpus_words}-word passages of the authors",
             len(test_plots))
    answers = _teacher(ctx, messages, candidates) if cfg.source == "teacher" else _passages(ctx, candidates)
    for c, answer in zip(candidates, answers):
        c.text = ENDINGS[cfg.end_line](answer) if answer is not None else None
        c.reason = rule_reason(c, cfg.min_words)
    mark_duplicates(candidates, cfg.near_duplicate)
    alive = [c for c in candidates if c.reason is None]
    references = [pick(refs[c.author], seed, c.author, c.plot, c.sample) for c in alive]
    if alive:
        scores = style_score(recipe, ctx.inputs["judge"]).score([c.text for c in alive], references,
                                                                  [c.author for c in alive])
        for c, score in zip(alive, scores):
            c.style = round(score, 6)
    mark_style(candidates, cfg.min_style, cfg.keep_top)
    ctx.counts.update(counts(candidates))
    log.info("sft_data: %s", ctx.counts)
    kept = [c for c in candidates if c.reason is None]
    if not kept:
        raise StageError(f"sft_data: no story kept out of {len(candidates)} ({ctx.counts}); check the teacher "
                         "(llm.teacher), sft_data.min_style or sft_data.min_words")

    n_val = round(len(plots) * cfg.validation_fraction) if len(plots) > 1 else 0
    val_plots = set(random.Random(f"{seed}:sft_data:validation").sample(plots, n_val))
    rows = {"train": [], "validation": []}
    for c, msgs in zip(candidates, messages):
        if c.reason is None:
            row = {"messages": msgs + [{"role": "assistant", "content": c.text}], "author": c.author,
                   "title": c.title, "plot": c.plot, "sample": c.sample, "style": c.style, "words": c.words}
            rows["validation" if c.plot in val_plots else "train"].append(row)
    if not rows["train"]:
        raise StageError("sft_data: every kept story belongs to a validation plot; lower sft_data.validation_fraction")
    # an empty split is left out (datasets cannot load an empty split back from disk)
    DatasetDict({split: Dataset.from_list(r, features=_features()) for split, r in rows.items() if r}
                ).save_to_disk(str(ctx.out_dir))
    ctx.counts.update({"train_rows": len(rows["train"]), "validation_rows": len(rows["validation"]),
                       "plots": len(plots), "test_plots_held_out": len(test_plots)})
    (ctx.out_dir / "README.md").write_text(_card(ctx, candidates, val_plots))


def _teacher(ctx: StageContext, messages: list, candidates: list[Candidate]) -> list[str | None]:
    recipe, cfg = ctx.recipe, ctx.recipe.sft_data
    with client_for(recipe, "teacher") as client:
        answers = client.chat_many(messages, max_tokens=cfg.max_tokens, temperature=cfg.temperature,
                                   top_p=cfg.top_p, seed=[recipe.run.seed + c.sample for c in candidates],
                                   extra_body={"reasoning_effort": cfg.reasoning_effort} if cfg.reasoning_effort else None,
                                   progress="teacher stories")
        ctx.extra["teacher_calls"] = client.stats.summary()
    return answers


def _passages(ctx: StageContext, candidates: list[Candidate]) -> list[str]:
    """``sft_data.source: corpus``: a passage of the author's own (other) book per prompt, ending with the
    prompt's end line; distinct passages per author as far as the book has them."""
    passages = author_passages(ctx, ctx.recipe.sft_data.corpus_words, "corpus_words")
    out, used = [], {a: set() for a in passages}
    for c in candidates:
        options = [p for p in passages[c.author] if p not in used[c.author]] or passages[c.author]
        text = pick(options, ctx.recipe.run.seed, "sft_data:corpus", c.author, c.plot, c.sample)
        used[c.author].add(text)
        out.append(f"{text.rstrip()}\n\n{END_LINE}")
    return out


def _card(ctx: StageContext, candidates: list[Candidate], val_plots: set[str]) -> str:
    recipe, cfg = ctx.recipe, ctx.recipe.sft_data
    rule = (f"style-judge cosine >= {cfg.min_style}" if cfg.keep_top is None
            else f"the best {cfg.keep_top:.0%} of each author by style-judge cosine")
    lines = [
        "# SFT stories", "",
        f"Teacher `{recipe.models.teacher_llm}` wrote {len(candidates)} stories (seed {recipe.run.seed}, "
        f"temperature {cfg.temperature}, top_p {cfg.top_p}) for the prompts of `litstyle.prompts` "
        f"({recipe.prompts.min_words}-{recipe.prompts.max_words} words)." if cfg.source == "teacher" else
        f"Source corpus: {len(candidates)} targets, each a {cfg.corpus_words}-word passage of the author's own "
        "books (other than the target book when the corpus has one) ending with `THE END.`, for the prompts of "
        f"`litstyle.prompts` ({recipe.prompts.min_words}-{recipe.prompts.max_words} words); no teacher.",
        f"Kept: stories whose last line is exactly `THE END.`, that name neither author nor title, have at "
        f"least {cfg.min_words} words, repeat no other story, and reach {rule} against a "
        f"{cfg.reference_words}-word chunk of the author's target book.",
        f"Validation split: every row of {len(val_plots)} plot(s) ({', '.join(sorted(val_plots)) or 'none'}).", "",
        "Columns: messages (user prompt + assistant story), author, title, plot, sample, style, words.", "",
        "| author | kept | generated | mean style of kept |", "|---|---:|---:|---:|",
    ]
    for author in recipe.run.authors:
        mine = [c for c in candidates if c.author == author]
        kept = [c.style for c in mine if c.reason is None and c.style is not None]
        mean = f"{sum(kept) / len(kept):.3f}" if kept else "-"
        lines.append(f"| {author} | {len(kept)} | {len(mine)} | {mean} |")
    lines += ["", "Counts: " + ", ".join(f"{k} {v}" for k, v in counts(candidates).items())]
    return "\n".join(lines) + "\n"
