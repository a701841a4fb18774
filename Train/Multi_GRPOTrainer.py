"""Stage `grpo`: multi-reward TRL GRPO (style judge, content judge over HTTP, completeness, anti-copy).

    python Train/Multi_GRPOTrainer.py --config config/demo_cpu.yaml [--force] [key=value ...]
    accelerate launch --config_file config/accelerate/zero3_4gpu.yaml Train/Multi_GRPOTrainer.py --config config/h100x4.yaml
"""

import sys

from litstyle.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main("grpo", trainer_sections=["grpo"]))
