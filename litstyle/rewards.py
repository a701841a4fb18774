"""GRPO reward functions and their registry (the names a recipe may use are listed in
:mod:`litstyle.registry`, below the recipe validation; this registry must match them).

Each reward follows TRL's contract: called with ``prompts``, ``completions`` and every dataset
column as keyword arguments (unknown ones ignored), plain-text or chat-format completions alike;
returns one float or ``None`` (a failed judge call: that completion is left out of the step, see
``grpo.failed_reward``; never a 0) per completion.  ``build_rewards`` turns the recipe's ``grpo.reward_funcs`` into callables; rewards
that need a resource (the style judge, the content-judge client) get it from ``Resources``.

- ``style``: the run's style score (``judge.style_score``): the style judge's cosine between completion and
  the row's ``sample_text``, or the verifier's calibrated P(the row's ``author`` wrote the completion).
- ``content``: the LLM content judge (digit / 10, rule gates in code), async, over HTTP.
- ``completeness``: the reference code's length/ending curve, scaled to the recipe's word range.
- ``anti_copy``: the share of the completion not covered by word n-grams of ``sample_text`` or the prompt
  (0 below two n-grams' worth of words).
"""

from __future__ import annotations

import asyncio
import importlib
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from litstyle.errors import ConfigError
from litstyle.text import copy_rate, count_words, ends_loosely, ends_properly

# The reference code's numbers belong to a 1,200-1,500-word target.
REF_MIN, REF_MAX = 1200, 1500
REF_FLOOR, REF_PLATEAU_END, REF_DECAY = 500, 1600, 1500


def text_of(completion: Any) -> str:
    """The text of a plain (``str``) or chat-format (``[{"role": "assistant", "content": ...}]``) completion."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(m.get("content") or "" for m in completion if isinstance(m, dict))
    if isinstance(completion, dict):
        return completion.get("content") or ""
    raise TypeError(f"completion of type {type(completion).__name__}: expected str or chat messages")


def completeness_score(text: str, min_words: int = REF_MIN, max_words: int = REF_MAX, strict: bool = False) -> float:
    """n < floor -> 0; floor <= n < min -> n / min; min..plateau_end -> 1; above ->
    max(0, 1 - sqrt((n - plateau_end) / decay)); times 0 without the ending.  With the reference
    range (1,200-1,500): floor 500, plateau end 1,600, decay 1,500; other ranges scale them."""
    if not (ends_properly(text) if strict else ends_loosely(text)):
        return 0.0
    n = count_words(text)
    low, high = min_words / REF_MIN, max_words / REF_MAX
    floor, plateau_end, decay = REF_FLOOR * low, REF_PLATEAU_END * high, REF_DECAY * high
    if n < floor:
        return 0.0
    if n < min_words:
        return n / min_words
    if n <= plateau_end:
        return 1.0
    return max(0.0, 1.0 - math.sqrt((n - plateau_end) / decay))


@dataclass
class Resources:
    """What rewards may need; built lazily by the GRPO stage and the evaluation."""

    min_words: int = REF_MIN
    max_words: int = REF_MAX
    strict_ending: bool = False
    copy_ngram: int = 8
    style_scorer: Any = None  # litstyle.style.scorer.StyleScore
    content_judge: Any = None  # litstyle.llm.judge.ContentJudge
    client: Any = None  # the content judge's LLMClient (call statistics)
    failures: dict[str, int] = field(default_factory=dict)  # reward name -> None rewards so far


def _column(kwargs: dict, name: str, n: int) -> list:
    values = kwargs.get(name)
    if values is None:
        raise KeyError(f"reward needs the dataset column {name!r} (have: {sorted(kwargs)})")
    return list(values) if not isinstance(values, str) else [values] * n


def make_completeness(res: Resources) -> Callable:
    def completeness(prompts: Sequence, completions: Sequence, **kwargs: Any) -> list[float | None]:
        return [completeness_score(text_of(c), res.min_words, res.max_words, res.strict_ending) for c in completions]
    return completeness


def make_anti_copy(res: Resources) -> Callable:
    def anti_copy(prompts: Sequence, completions: Sequence, **kwargs: Any) -> list[float | None]:
        samples = _column(kwargs, "sample_text", len(completions))
        texts = [text_of(c) for c in completions]
        # fewer words than two n-grams: too short to have copied anything, and too short to be rewarded
        return [1.0 - copy_rate(t, [s, text_of(p)], res.copy_ngram) if len(t.split()) >= 2 * res.copy_ngram else 0.0
                for p, t, s in zip(prompts, texts, samples)]
    return anti_copy


def make_style(res: Resources) -> Callable:
    if res.style_scorer is None:
        raise ValueError("the style reward needs the style judge (Resources.style_scorer)")

    async def style(prompts: Sequence, completions: Sequence, **kwargs: Any) -> list[float | None]:
        samples = _column(kwargs, "sample_text", len(completions))
        authors = _column(kwargs, "author", len(completions))
        texts = [text_of(c) for c in completions]
        # the scorer runs in a thread so that the async content judge's HTTP calls overlap with it
        return await asyncio.to_thread(res.style_scorer.score, texts, samples, authors)
    return style


def make_content(res: Resources) -> Callable:
    if res.content_judge is None:
        raise ValueError("the content reward needs the content judge (Resources.content_judge)")
    judge = res.content_judge

    async def content(prompts: Sequence, completions: Sequence, **kwargs: Any) -> list[float | None]:
        n = len(completions)
        plots, authors, titles = (_column(kwargs, k, n) for k in ("plot", "author", "title"))
        rewards = await asyncio.gather(*(judge.ascore(text_of(c), p, a, t)
                                         for c, p, a, t in zip(completions, plots, authors, titles)))
        missing = sum(r is None for r in rewards)
        res.failures["content"] = res.failures.get("content", 0) + missing
        log_metric = kwargs.get("log_metric")
        if callable(log_metric):
            log_metric("content/none_rewards", float(missing))
            log_metric("content/none_rewards_total", float(res.failures["content"]))
        return list(rewards)
    return content


REGISTRY: dict[str, Callable[[Resources], Callable]] = {
    "style": make_style,
    "content": make_content,
    "completeness": make_completeness,
    "anti_copy": make_anti_copy,
}


def import_reward(name: str) -> Callable:
    """A custom reward ``package.module:function`` (runs the module's code, as any import does)."""
    module, _, attr = name.partition(":")
    try:
        func = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"grpo.reward_funcs: cannot import {name!r}: {exc}") from None
    if not callable(func):
        raise ConfigError(f"grpo.reward_funcs: {name!r} is not callable")
    return func


def build_rewards(names: Sequence[str], res: Resources) -> list[Callable]:
    return [REGISTRY[name](res) if name in REGISTRY else import_reward(name) for name in names]
