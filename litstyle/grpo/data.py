"""Stage ``grpo_data``: GRPO prompts for train plots and evaluation prompts for test plots.

The plots are split by :func:`litstyle.prompts.split_plots` (the same split as ``sft_data``: test
plots are never trained on).  For every author and plot, ``*_rows_per_plot`` rows; each row holds
the chat ``prompt``, a ``sample_text`` (a ``sample_words``-word chunk of the author's target book,
chosen per row, so rows of one plot see different samples), author, title, plot and split.

Output ``<run_dir>/grpo_data/``: a ``DatasetDict`` (train / test), ``README.md`` and counts.
"""

from __future__ import annotations

import logging

from litstyle import prompts
from litstyle.corpus.read import author_books, pick
from litstyle.rundir import StageContext

log = logging.getLogger(__name__)


def build_grpo_data(ctx: StageContext) -> None:
    from datasets import Dataset, DatasetDict, Features, List, Value

    recipe, cfg, pcfg = ctx.recipe, ctx.recipe.grpo_data, ctx.recipe.prompts
    seed = recipe.run.seed
    all_plots = prompts.load_plots(ctx.read_file(pcfg.plots_file))
    train_plots, test_plots = prompts.split_plots(all_plots, pcfg.test_fraction, seed)
    chosen = {"train": train_plots[:cfg.train_plots] if cfg.train_plots else train_plots,
              "test": test_plots[:cfg.test_plots] if cfg.test_plots else test_plots}
    per_plot = {"train": cfg.train_rows_per_plot, "test": cfg.test_rows_per_plot}
    books, samples = author_books(ctx, cfg.sample_words, "sample_words")
    features = Features({"prompt": List({"role": Value("string"), "content": Value("string")}),
                         "sample_text": Value("string"), "author": Value("string"), "title": Value("string"),
                         "plot": Value("string"), "split": Value("string"), "row": Value("int32")})
    splits = {}
    for split, plots in chosen.items():
        rows = []
        for author in recipe.run.authors:
            title = books[author]["title"]
            for plot in plots:
                prompt = prompts.story_prompt(author, title, plot, pcfg.min_words, pcfg.max_words, system=pcfg.system)
                for k in range(per_plot[split]):
                    rows.append({"prompt": prompt, "sample_text": pick(samples[author], seed, split, author, plot, k),
                                 "author": author, "title": title, "plot": plot, "split": split, "row": k})
        splits[split] = Dataset.from_list(rows, features=features)
    DatasetDict(splits).save_to_disk(str(ctx.out_dir))
    ctx.counts.update({f"{s}_rows": len(d) for s, d in splits.items()})
    ctx.counts.update({f"{s}_plots": len(p) for s, p in chosen.items()})
    ctx.counts["samples_per_author"] = {a: len(texts) for a, texts in samples.items()}
    (ctx.out_dir / "README.md").write_text(_card(ctx, chosen, per_plot))
    log.info("grpo_data: %s", ctx.counts)


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
