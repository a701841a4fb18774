"""A custom reward for the GRPO learning test (named in a recipe as rewards_for_tests:brevity)."""

from __future__ import annotations

from litstyle.rewards import text_of
from litstyle.text import count_words


def brevity(prompts, completions, **kwargs) -> list[float]:
    """1.0 for an empty answer, 0.0 at 24 words or more: a target a tiny policy can move in a few steps."""
    return [max(0.0, 1.0 - count_words(text_of(c)) / 24) for c in completions]
