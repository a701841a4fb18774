"""Stage `sft_data`: teacher stories for (author, train plot), filtered by rules and the style judge.

    python data_processing/build_sft_dataset.py --config config/demo_cpu.yaml [--force] [key=value ...]
    python data_processing/build_sft_dataset.py --config config/h100x4.yaml   # starts the teacher vLLM server
"""

import sys

from litstyle.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main("sft_data"))
