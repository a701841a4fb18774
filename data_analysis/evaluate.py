"""Stage `eval`: stories for the test plots from the baselines, the SFT and the GRPO model (and any
external OpenAI-compatible model), scored with bootstrap CIs, plots and a Markdown report.

    python data_analysis/evaluate.py --config config/demo_cpu.yaml [--force] [key=value ...]
"""

import sys

from litstyle.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main("eval"))
