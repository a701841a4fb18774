"""Stage `grpo_data`: GRPO prompts for the train plots and evaluation prompts for the test plots, each row
with a sample of the author's target book (the style reward's reference).

    python data_processing/build_grpo_dataset.py --config config/demo_cpu.yaml [--force] [key=value ...]
"""

import sys

from litstyle.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main("grpo_data"))
