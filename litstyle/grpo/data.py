"""Stage ``grpo_data``: GRPO prompts for train plots and evaluation prompts for test plots.

The plots are split by :func:`litstyle.prompts.split_plots` (the same split as ``sft_data``: test
plots are never trained on).  For every author and plot, ``*_rows_per_plot`` rows; each row holds
the chat ``prompt``, a ``sample_text`` (a ``sample_words``-word chunk of the author's target book,
chosen per row, so rows of one plot see different samples), author, title, plot and split.

With ``grpo_data.from_dataset`` the rows come from a published dataset instead (the paper's
``VibrantVista/grpo-style-training``; :func:`published_rows` says which columns it relies on).

Output ``<run_dir>/grpo_data/``: a ``DatasetDict`` (train / test), ``README.md`` and counts.
"""

from __future__ import annotations

import logging
import re

from litstyle import prompts, published
from litstyle.corpus.read import author_books, pick
from litstyle.errors import StageError
from litstyle.rundir import StageContext

log = logging.getLogger(__name__)


FEATURES = {"prompt": "messages", "sample_text": "string", "author": "string", "title": "string", "plot": "string",
            "split": "string", "row": "int32"}
PLOT_IN_PROMPT = re.compile(r"\babout (.+?) in this style\.", re.DOTALL)


def _features():
    from datasets import Features, List, Value

    return Features({name: List({"role": Value("string"), "content": Value("string")}) if kind == "messages"
                     else Value(kind) for name, kind in FEATURES.items()})


def published_rows(ctx: StageContext) -> dict[str, list[dict]]:
    """Rows of ``grpo_data.from_dataset`` in litstyle's schema, per split.  Relied on: ``prompt`` (chat
    messages, or a string taken as the user turn) and ``sample_text``; ``author`` (else the author whose
    config it is), ``title`` (else the author's target book in the corpus) and ``plot`` (else the text of the
    prompt's "about ... in this style." task line) when present."""
    recipe, cfg = ctx.recipe, ctx.recipe.grpo_data
    from datasets import load_from_disk

    books = prompts.target_books(load_from_disk(str(ctx.inputs["corpus"] / "books")), recipe.run.authors)
    sources = ({author: cfg.from_configs[author] for author in recipe.run.authors if author in cfg.from_configs}
               or {None: None})
    out: dict[str, list[dict]] = {"train": [], "test": []}
    for author, config in sources.items():
        data = published.load(cfg.from_dataset, config)
        for split in out:
            if split not in data:
                raise StageError(f"grpo_data.from_dataset: {cfg.from_dataset} ({config or 'whole'}) has no {split} "
                                 f"split (it has {', '.join(data)})")
            missing = {"prompt", "sample_text"} - set(data[split].column_names)
            if missing:
                raise StageError(f"grpo_data.from_dataset: {cfg.from_dataset} lacks the column(s) {sorted(missing)}")
            counters: dict[tuple[str, str], int] = {}
            for record in data[split]:
                prompt = record["prompt"]
                messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
                who = record.get("author") or author
                if who is None:
                    raise StageError("grpo_data.from_dataset: the rows have no author column: map each run "
                                     "author to its config with grpo_data.from_configs")
                if who not in recipe.run.authors:
                    continue
                found = PLOT_IN_PROMPT.search(messages[-1]["content"])
                plot = record.get("plot") or (found.group(1).strip() if found else messages[-1]["content"][:80])
                k = counters[(who, plot)] = counters.get((who, plot), -1) + 1
                out[split].append({"prompt": messages, "sample_text": record["sample_text"], "author": who,
                                   "title": record.get("title") or books.get(who, {}).get("title", ""),
                                   "plot": plot, "split": split, "row": k})
    for split, rows in out.items():
        if not rows:
            raise StageError(f"grpo_data.from_dataset: no {split} row of {cfg.from_dataset} is by an author of "
                             f"run.authors {recipe.run.authors}")
    return out


def build_grpo_data(ctx: StageContext) -> None:
    from datasets import Dataset, DatasetDict

    cfg = ctx.recipe.grpo_data
    if cfg.from_dataset is not None:
        rows = published_rows(ctx)
        card = f"# GRPO prompts\n\nRead from `{cfg.from_dataset}` (configs: {cfg.from_configs or 'none'}).\n"
        ctx.counts["from_dataset"] = cfg.from_dataset
    else:
        rows, card = _built_rows(ctx)
    splits = {split: Dataset.from_list(split_rows, features=_features()) for split, split_rows in rows.items()}
    DatasetDict(splits).save_to_disk(str(ctx.out_dir))
    ctx.counts.update({f"{s}_rows": len(d) for s, d in splits.items()})
    ctx.counts.update({f"{s}_plots": len(set(d["plot"])) for s, d in splits.items()})
    (ctx.out_dir / "README.md").write_text(card)
    log.info("grpo_data: %s", ctx.counts)


def _built_rows(ctx: StageContext) -> tuple[dict[str, list[dict]], str]:
    """Rows for the plots of the split, each with its own sample of the author's target book; the card."""
    recipe, cfg, pcfg = ctx.recipe, ctx.recipe.grpo_data, ctx.recipe.prompts
    seed = recipe.run.seed
    all_plots = prompts.load_plots(ctx.read_file(pcfg.plots_file))
    train_plots, test_plots = prompts.split_plots(all_plots, pcfg.test_fraction, seed)
    chosen = {"train": train_plots[:cfg.train_plots] if cfg.train_plots else train_plots,
              "test": test_plots[:cfg.test_plots] if cfg.test_plots else test_plots}
    per_plot = {"train": cfg.train_rows_per_plot, "test": cfg.test_rows_per_plot}
    books, samples = author_books(ctx, cfg.sample_words, "sample_words")
    rows: dict[str, list[dict]] = {}
    for split, plots in chosen.items():
        rows[split] = []
        for author in recipe.run.authors:
            title = books[author]["title"]
            for plot in plots:
                prompt = prompts.story_prompt(author, title, plot, pcfg.min_words, pcfg.max_words, system=pcfg.system)
                for k in range(per_plot[split]):
                    rows[split].append({"prompt": prompt, "author": author, "title": title, "plot": plot,
                                        "sample_text": pick(samples[author], seed, split, author, plot, k),
                                        "split": split, "row": k})
    ctx.counts["samples_per_author"] = {a: len(texts) for a, texts in samples.items()}
    return rows, _card(ctx, chosen, per_plot)


def _card(ctx: StageContext, chosen: dict[str, list[str]], per_plot: dict[str, int]) -> str:
    recipe, cfg = ctx.recipe, ctx.recipe.grpo_data
    lines = ["# GRPO prompts", "",
             f"Authors: {', '.join(recipe.run.authors)}; seed {recipe.run.seed}; prompts ask for "
             f"{recipe.prompts.min_words}-{recipe.prompts.max_words} words.",
             f"Each row's sample_text is a {cfg.sample_words}-word chunk of the author's target book (the style "
             "reward's reference).",
             "Columns: prompt (chat messages), sample_text, author, title, plot, split, row.", ""]
    for split, plots in chosen.items():
        lines += [f"## {split}: {len(plots)} plots x {per_plot[split]} rows per author", ""]
        lines += [f"- {p}" for p in plots] + [""]
    return "\n".join(lines)
