"""Evaluation: baselines vs fine-tuned models on the test plots, with bootstrap CIs, plots and a report."""
