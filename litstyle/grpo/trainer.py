"""TRL's GRPOTrainer with litstyle's meaning of a ``None`` reward (``grpo.failed_reward``).

TRL reads ``None`` as "this reward does not apply" and sums the others (``nansum``), so a failed
content-judge call would count as 0, and only a story that ends properly reaches the judge: a flaky
judge would penalise exactly the well-formed stories.  With ``failed_reward: drop`` (the default) a
completion with any ``None`` reward is marked unscorable, which TRL already handles: it is left out of
its group's baseline and gets advantage 0 (no learning signal either way).  ``ignore`` keeps TRL's
reading, for custom rewards whose ``None`` means "not applicable".
"""

from __future__ import annotations

from functools import cache
from typing import Any


def drop_failed(rewards_per_func: Any) -> Any:
    """Rows (completions) of a reward tensor with any NaN (a ``None`` reward) become all-NaN: unscorable."""
    import torch  # heavy third-party import, deferred

    failed = torch.isnan(rewards_per_func).any(dim=1)
    rewards_per_func[failed] = torch.nan
    return rewards_per_func


def curve_saver(steps: list[int], save) -> Any:
    """A callback that calls ``save(step)`` when training reaches each of ``steps`` (every rank: a save
    gathers sharded weights), for the learning curve's held-out points."""
    from transformers import TrainerCallback  # heavy third-party import, deferred

    class CurveSaver(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step in steps:
                save(state.global_step)

    return CurveSaver()


@cache
def trainer_class() -> type:
    """``trl.GRPOTrainer`` with ``failed_reward=`` (built on first use: importing TRL takes seconds)."""
    from trl import GRPOTrainer  # heavy third-party import, deferred

    class LitstyleGRPOTrainer(GRPOTrainer):
        def __init__(self, *args: Any, failed_reward: str = "drop", **kwargs: Any) -> None:
            self.failed_reward = failed_reward
            super().__init__(*args, **kwargs)

        def _calculate_rewards(self, *args: Any, **kwargs: Any) -> Any:
            # TRL's per-function metrics are means over the rows kept, from this same tensor
            rewards = super()._calculate_rewards(*args, **kwargs)
            return drop_failed(rewards) if self.failed_reward == "drop" else rewards

    return LitstyleGRPOTrainer
