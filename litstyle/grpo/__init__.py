"""GRPO stages: plot-split prompts with author samples (``grpo_data``) and multi-reward TRL GRPO (``grpo``)."""
