"""Names a recipe may use, kept below :mod:`litstyle.config` so that validation needs no trainer code.

- Reward functions: the built-in names (implemented in :mod:`litstyle.rewards`, which checks that its
  registry matches this list), their ranges, and the ``package.module:function`` form of a custom one.
- Stage names of per-author models (``grpo.per_author``): one stage per run author.
- Batch samplers a judge section defaults to (sentence-transformers / torch are imported when the
  trainer calls the sampler, not when a recipe is checked).
"""

from __future__ import annotations

import re

REWARD_RANGES: dict[str, tuple[float, float]] = {
    "style": (-1.0, 1.0), "content": (0.0, 1.0), "completeness": (0.0, 1.0), "anti_copy": (0.0, 1.0)}
REWARD_NAMES: tuple[str, ...] = tuple(REWARD_RANGES)
# A recipe may also name a reward function of its own as "package.module:function" (TRL's signature).
CUSTOM_REWARD = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def author_stage(stage: str, author: str) -> str:
    """The stage that trains ``author``'s own model: ``grpo-Twain_Mark`` for ``Twain, Mark`` (the paper's
    per-author model names).  Stage names hold no ``-`` otherwise."""
    return f"{stage}-{re.sub(r'[^A-Za-z0-9]+', '_', author).strip('_')}"


def curve_model(stage_dir, step: int):
    """Where a GRPO stage keeps the policy it saved at ``step`` (``grpo.curve_steps``)."""
    return stage_dir / "curve" / f"step-{step}"


def base_stage(name: str) -> str:
    """``grpo`` for ``grpo-Twain_Mark`` (and any stage's own name)."""
    return name.split("-", 1)[0]


def is_known_reward(name: str) -> bool:
    return name in REWARD_NAMES or bool(CUSTOM_REWARD.match(name))


def reward_short_name(name: str) -> str:
    """The name TRL logs a reward under (``rewards/<name>/mean``)."""
    return name.rpartition(":")[2]


def distinct_author_batches(dataset, **kwargs):
    """Batch sampler of the judge's ``mnrl`` loss: sentence-transformers' NoDuplicatesBatchSampler with the
    author label in its duplicate check, so no author (and no text) appears twice in a batch; the scored
    pairs alongside (``with_pairs``) are batched as usual."""
    # heavy third-party imports, deferred to the trainer's call
    from sentence_transformers.base.sampler import DefaultBatchSampler, NoDuplicatesBatchSampler
    from torch.utils.data import RandomSampler

    if "anchor" not in dataset.column_names:  # the trainer's default batch sampler
        return DefaultBatchSampler(RandomSampler(dataset, generator=kwargs.get("generator")), **kwargs)
    return NoDuplicatesBatchSampler(dataset, **{**kwargs, "valid_label_columns": None})
