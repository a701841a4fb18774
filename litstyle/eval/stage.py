"""Stage ``eval``: stories for the test plots from every system, scored, compared with CIs, reported.

Systems (``eval.systems``): ``zero_shot`` / ``few_shot`` (the base policy with the plain prompt /
with ``shots`` excerpts of the author), ``sft`` and ``grpo`` (the stages' models), ``external`` (any
OpenAI-compatible server by model name and base_url).  For every author x test plot of
``grpo_data`` (never trained on), ``stories_per_plot`` stories per system, each paired with that
row's ``sample_text``.  Per story: style (the rewards' style score, ``judge.style_score``: the judge cosine
to the sample and its scaled score by the judge benchmark's calibration, or the verifier's calibrated
P(the row's author wrote it), its own scaled score), content (the judge server), completeness, words, ``THE END.``,
copy rate, distinct-2 and authorship attribution (nearest author centroid of judge embeddings of
every corpus author's chunks); and two measures the reward never saw: P(author) and the top-1 author of
an independent authorship classifier (``litstyle.eval.metrics.AuthorClassifier``, trained on the same
corpus chunks) and the base encoder's cosine to the sample (``models.encoder``, not fine-tuned).
Systems of kind grpo with ``step`` use the policy GRPO saved at that step (``grpo.curve_steps``): the
report's learning curve.  Stories and scores are kept in ``<run_dir>/checkpoints/eval`` as they are
made, so a rerun of an interrupted stage generates and scores only what is missing.

Output ``<run_dir>/eval/``: ``stories.jsonl``, ``summary.json`` (means with bootstrap 95 % CIs per
system and metric, overall and per author; paired differences), ``report.md`` and PNG plots.
"""

from __future__ import annotations

import json
import logging
import random
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from litstyle import prompts, serve
from litstyle.corpus.catalog import pick_upto
from litstyle.corpus.read import author_books, pick
from litstyle.config import api_key
from litstyle.errors import StageError
from litstyle.eval import report
from litstyle.eval.generate import generate_local, generate_remote
from litstyle.eval.metrics import AuthorClassifier, attribute, centroids
from litstyle.style.calibration import anchors, scaled_style
from litstyle.jsonl import append_records, read_records
from litstyle.llm.judge import ContentJudge
from litstyle.registry import author_stage, base_stage, curve_model
from litstyle.rewards import completeness_score
from litstyle.rundir import StageContext
from litstyle.serve import client_for
from litstyle.style.scorer import StyleScore, StyleScorer, judge_scorer, style_score
from litstyle.text import copy_rate, count_words, distinct_n, ends_properly
from litstyle.training import finish_checkpoints, stamped_dir

log = logging.getLogger(__name__)

CACHE = "stories.jsonl"


def items(test, per_plot: int) -> list[dict[str, Any]]:
    """(author, plot, k) items of the test split; story k uses the k-th row of its group (cycling)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in test:
        groups.setdefault((row["author"], row["plot"]), []).append(row)
    out = []
    for (author, plot), rows in groups.items():
        for k in range(per_plot):
            row = rows[k % len(rows)]
            out.append({"author": author, "title": row["title"], "plot": plot, "k": k, "prompt": row["prompt"],
                        "sample_text": row["sample_text"]})
    return out


def writes(system, item: dict) -> bool:
    """Whether ``system`` writes a story for ``item`` (``authors`` restricts it to those authors' rows)."""
    return system.authors is None or item["author"] in system.authors


def key(system: str, item: dict) -> str:
    return f"{system}|{item['author']}|{item['plot']}|{item['k']}"


class StoryCache:
    """Scored stories by key, appended to a JSON-lines file as they are made.  A failed story (no text) is
    not reused: a rerun asks for it again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[str, dict] = {r["key"]: r for r in read_records(path) if "key" in r and not r.get("failed")}
        self.reused = len(self.records)

    def add(self, records: list[dict]) -> None:
        self.records.update((record["key"], record) for record in records)
        append_records(self.path, records)


def model_path(ctx: StageContext, system, author: str) -> str:
    """The model that writes ``author``'s stories for ``system``: a stage's model folder (with
    ``grpo.per_author``, that author's GRPO model), the named policy, or an external server's model name."""
    if system.kind == "external":
        return system.model
    if system.kind in ("sft", "grpo"):
        per_author = system.kind == "grpo" and ctx.recipe.grpo.per_author
        stage = author_stage("grpo", author) if per_author else system.kind
        if stage not in ctx.inputs:  # test rows of an author outside run.authors: grpo_data is older than it
            raise StageError(f"eval.systems {system.name!r}: no model of {author!r} (grpo.per_author trains one per "
                             "run author): rerun grpo_data with this run.authors")
        folder = ctx.inputs[stage] / "model" if system.step is None else curve_model(ctx.inputs[stage], system.step)
        if not (folder / "config.json").is_file():
            raise StageError(f"eval.systems {system.name!r}: no model in {folder}")
        return str(folder)
    return ctx.recipe.models.path("policy", system.model)


def training_steps(ctx: StageContext, systems) -> dict[str, int]:
    """The learning curve's x of each system that has one: SFT 0, a GRPO checkpoint its step, GRPO its last step."""
    finished = [json.loads((path / "metrics.json").read_text())["steps"] for name, path in ctx.inputs.items()
                if base_stage(name) == "grpo" and (path / "metrics.json").is_file()]
    out = {}
    for system in systems:
        if system.kind == "sft":
            out[system.name] = 0
        elif system.kind == "grpo" and (system.step or finished):
            out[system.name] = system.step or max(finished)
    return out


def writer(ctx: StageContext, model: str) -> str:
    """A story's model as kept with it: a model folder of the run dir relative to it, else as given."""
    path = Path(model)
    return str(path.relative_to(ctx.recipe.run_dir)) if path.is_relative_to(ctx.recipe.run_dir) else model


def system_prompts(ctx: StageContext, system, todo: list[dict]) -> list[list[dict]]:
    """The chat messages of each item: the row's own prompt (zero-shot, the prompts.system it was built
    with), or the same task with excerpts of the author first (few-shot); ``system_prompt`` replaces the
    system message."""
    pcfg, seed = ctx.recipe.prompts, ctx.recipe.run.seed
    system_text = system.system_prompt if system.system_prompt is not None else pcfg.system
    if system.prompt_mode == "zero_shot":
        if system.system_prompt is None:
            return [item["prompt"] for item in todo]
        return [prompts.story_prompt(item["author"], item["title"], item["plot"], pcfg.min_words, pcfg.max_words,
                                     system=system_text) for item in todo]
    if system.shot_source == "sample":
        return [prompts.story_prompt(item["author"], item["title"], item["plot"], pcfg.min_words, pcfg.max_words,
                                     system=system_text, excerpts=[item["sample_text"]], heading=prompts.SAMPLE_HEADING)
                for item in todo]
    _, excerpts = author_books(ctx, system.shot_words, "eval.systems.shot_words")
    return [prompts.story_prompt(item["author"], item["title"], item["plot"], pcfg.min_words, pcfg.max_words,
                                 system=system_text,
                                 excerpts=[pick(excerpts[item["author"]], seed, "shot", item["plot"], item["k"], j)
                                           for j in range(system.shots)])
            for item in todo]


class Generator:
    """``llm.generator`` serving one model folder at a time: the systems of one model (its zero-shot and
    few-shot modes; the eval asks model by model) share a server start."""

    def __init__(self, ctx: StageContext) -> None:
        self.ctx, self.path, self.info, self._stack = ctx, None, None, ExitStack()

    def serving(self, path: str):
        if path != self.path:
            self.close()
            self.info = self._stack.enter_context(serve.running(self.ctx.recipe, "generator", path))
            self.path = path
        return self.info

    def close(self) -> None:
        self._stack.close()
        self.path = self.info = None


def generate(ctx: StageContext, system, todo: list[dict], generator: Generator,
             model: str) -> tuple[list[str | None], dict | None]:
    """Every story of ``todo`` written by ``model`` (:func:`model_path`; None: failed) and the server's call
    statistics."""
    cfg, seed = ctx.recipe.eval, ctx.recipe.run.seed
    messages = system_prompts(ctx, system, todo)
    sampling = {name: getattr(system, name) if getattr(system, name) is not None else getattr(cfg, name)
                for name in ("max_new_tokens", "temperature", "top_p", "min_p")}
    sampling.update(seed=seed, desc=system.name)
    penalty = system.repetition_penalty if system.repetition_penalty is not None else cfg.repetition_penalty
    if system.kind == "external":  # repetition_penalty only when the system sets it (a vLLM extension)
        key = api_key(system.api_key_env, f"eval.systems[{system.name}]")
        return generate_remote(system.base_url, system.model, messages, timeout_s=system.timeout_s,
                               retries=system.retries, api_key=key, repetition_penalty=system.repetition_penalty,
                               api=system.api, **sampling)
    if system.served(cfg.engine):
        server = ctx.recipe.llm.generator
        info = generator.serving(model)
        return generate_remote(info.base_url, info.served_name, messages, timeout_s=server.timeout_s,
                               retries=server.retries, concurrency=server.concurrency,
                               repetition_penalty=penalty, **sampling)
    texts = generate_local(model, messages, repetition_penalty=penalty,
                           batch_size=cfg.batch_size, trust_remote_code=ctx.recipe.models.trusts("policy"),
                           **sampling)
    return list(texts), None


class Scorer:
    """Every per-story metric; the style judge, the author centroids and the content judge load once."""

    def __init__(self, ctx: StageContext, content_judge) -> None:
        from datasets import load_from_disk

        recipe, cfg = ctx.recipe, ctx.recipe.eval
        self.recipe, self.cfg, self.content_judge = recipe, cfg, content_judge
        calibration = json.loads((ctx.inputs["judge_benchmark"] / "calibration.json").read_text())
        if cfg.judge_calibration not in calibration:
            raise StageError(f"eval.judge_calibration: {cfg.judge_calibration!r} is not in the judge benchmark's "
                             f"calibration ({', '.join(calibration)})")
        self.calibration = calibration[cfg.judge_calibration]
        try:
            self.low, self.high = anchors(self.calibration, cfg.scale, cfg.scale_fixed)
        except KeyError as exc:
            raise StageError(f"eval.scale {cfg.scale}: {exc.args[0]}") from None
        # a judge that does not separate authors (the cosine that maps to 1 at or below the one that maps to
        # 0) has no scale: scaled style is left out (and said so), the other metrics still stand
        # the verifier's style is its own scale (a probability); the judge's cosine needs its calibration
        self.verifier = recipe.judge.style_score == "verifier"
        self.scaled = self.verifier or self.high > self.low
        if not self.scaled:
            log.warning("eval: scale %s of the %r judge maps 1 to %.3f <= %.3f mapped to 0: it does not separate "
                        "authors, scaled style is left out; see judge_benchmark/report.md", cfg.scale,
                        cfg.judge_calibration, self.high, self.low)
        self.style = judge_scorer(recipe, ctx.inputs["judge"])
        # the style column: the rewards' style score (judge.style_score)
        self.reward_style = style_score(recipe, ctx.inputs["judge"]) if self.verifier else StyleScore(judge=self.style)
        chunks = load_from_disk(str(ctx.inputs["corpus"] / "chunks"))
        by_author: dict[str, list[str]] = {}
        for author, text, words in zip(chunks["author"], chunks["text"], chunks["target_words"]):
            if words == cfg.attribution_words:
                by_author.setdefault(author, []).append(text)
        rng = random.Random(recipe.run.seed)
        chosen = [(author, text) for author, texts in sorted(by_author.items())
                  for text in pick_upto(rng, texts, cfg.attribution_chunks)]
        if not chosen:
            raise StageError(f"eval.attribution_words: no corpus chunks of {cfg.attribution_words} words "
                             f"(corpus.chunk_words {recipe.corpus.chunk_words})")
        log.info("author centroids of %d authors from %d chunks of %d words", len(by_author), len(chosen),
                 cfg.attribution_words)
        self.authors, self.centres = centroids(self.style.encode([t for _, t in chosen]), [a for a, _ in chosen])
        self.classifier = AuthorClassifier([t for _, t in chosen], [a for a, _ in chosen], seed=recipe.run.seed)
        self.base = StyleScorer(recipe.models.path("encoder"), trust_remote_code=recipe.models.trusts("encoder"),
                                prefix=recipe.judge.text_prefix, window_words=recipe.judge_benchmark.window_words,
                                max_seq_length=recipe.judge.max_seq_length, device=recipe.models.encoder_device)

    def score(self, system: str, todo: list[dict], texts: list[str | None]) -> list[dict]:
        ok = [i for i, t in enumerate(texts) if t is not None]
        stories = [texts[i] for i in ok]
        style = (self.reward_style.score(stories, [todo[i]["sample_text"] for i in ok], [todo[i]["author"] for i in ok])
                 if ok else [])
        guessed = attribute(self.style.encode(stories), self.authors, self.centres) if ok else []
        classified = self.classifier.predict(stories, [todo[i]["author"] for i in ok])
        base = self.base.score(stories, [todo[i]["sample_text"] for i in ok]) if ok else []
        content = (self.content_judge.score(stories, [todo[i]["plot"] for i in ok], [todo[i]["author"] for i in ok],
                                            [todo[i]["title"] for i in ok])
                   if ok and self.content_judge is not None else [None] * len(ok))
        pcfg = self.recipe.prompts
        records = []
        for item, text in zip(todo, texts):
            record = {"key": key(system, item), "system": system, "author": item["author"], "plot": item["plot"],
                      "k": item["k"], "text": text, "failed": text is None}
            records.append(record)
        for j, i in enumerate(ok):
            text, item = texts[i], todo[i]
            records[i].update({
                "style": round(style[j], 6),
                "style_scaled": (round(style[j], 6) if self.verifier else
                                 round(scaled_style(style[j], self.low, self.high), 6) if self.scaled else None),
                "content": content[j],
                "completeness": round(completeness_score(text, pcfg.min_words, pcfg.max_words), 6),
                "words": count_words(text), "end": float(ends_properly(text)),
                "copy_rate": round(copy_rate(text, [item["sample_text"], item["prompt"][-1]["content"]],
                                              self.cfg.copy_ngram), 6),
                "distinct_2": round(distinct_n(text, 2), 6),
                "attributed_to": guessed[j], "attributed": float(guessed[j] == item["author"]),
                "p_author": round(classified[j][0], 6), "classified_as": classified[j][1],
                "classified": float(classified[j][1] == item["author"]), "style_base": round(base[j], 6),
            })
        return records


def run_eval(ctx: StageContext) -> None:
    from datasets import load_from_disk

    recipe, cfg = ctx.recipe, ctx.recipe.eval
    systems = [s for s in cfg.systems if s.enabled]
    todo_items = items(load_from_disk(str(ctx.inputs["grpo_data"]))["test"], cfg.stories_per_plot)
    cache = StoryCache(stamped_dir(ctx, keep=True) / CACHE)
    if cache.reused:
        log.info("eval: %d scored stories of an interrupted run re-used", cache.reused)
    calls: dict[str, dict] = {}
    with ExitStack() as stack:
        judge = None
        if cfg.content:
            client = stack.enter_context(client_for(recipe, "judge"))
            judge = ContentJudge.from_file(client, ctx.read_file(recipe.llm.judge_prompt))
        scorer = Scorer(ctx, judge)
        generator = Generator(ctx)
        stack.callback(generator.close)
        # every system's rows by the model that writes them (grpo.per_author: each author's its own), then
        # model by model, so that a served model starts once for all the systems it writes for (zero-shot
        # and few-shot modes, per-author models in both modes)
        work: dict[str, list[tuple[object, list[dict], int]]] = {}
        for system in systems:
            mine = [item for item in todo_items if writes(system, item)]
            todo = [item for item in mine if key(system.name, item) not in cache.records]
            log.info("eval %s: %d stories to write (%d done before)", system.name, len(todo), len(mine) - len(todo))
            by_model: dict[str, list[dict]] = {}
            for item in todo:
                by_model.setdefault(model_path(ctx, system, item["author"]), []).append(item)
            for model, part in by_model.items():
                work.setdefault(model, []).append((system, part, len(by_model)))
        for model, parts in work.items():
            for system, part, models_of_system in parts:
                texts, stats = generate(ctx, system, part, generator, model)
                if stats is not None:  # per model (its stage folder's name) when there are several
                    if models_of_system == 1:
                        calls[system.name] = stats
                    else:
                        calls.setdefault(system.name, {})[Path(model).parent.name] = stats
                records = scorer.score(system.name, part, texts)
                for record in records:
                    record["model"] = writer(ctx, model)
                cache.add(records)
        if judge is not None:
            calls["content_judge"] = judge.client.stats.summary()
    records = [cache.records[key(s.name, item)] for s in systems for item in todo_items if writes(s, item)]
    with open(ctx.out_dir / "stories.jsonl", "w") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    summary = report.summarize(records, [s.name for s in systems], cfg.bootstrap, recipe.run.seed)
    summary["modes"] = {s.name: s.prompt_mode for s in systems}
    summary["labels"] = {s.name: s.label or s.name for s in systems}
    summary["steps"] = training_steps(ctx, systems)
    summary["calibration"] = {"name": cfg.judge_calibration, "scale": cfg.scale, "low": scorer.low, "high": scorer.high,
                              "separates": scorer.scaled, **scorer.calibration}
    (ctx.out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    report.write(ctx, summary, records)
    ctx.counts.update({"stories": len(records), "failed": sum(r["failed"] for r in records),
                       "reused": cache.reused, "systems": [s.name for s in systems], "items": len(todo_items)})
    ctx.extra["calls"] = calls
    ctx.extra["headline"] = {name: {m: round(v["mean"], 4) for m, v in summary["overall"][name].items()
                                    if v["mean"] == v["mean"]} for name in summary["overall"]}

    finish_checkpoints(ctx)
