"""Stage `judge`: fine-tune the sentence-transformer style judge on the authorship pairs.

    python Train/sentence_trainer.py --config config/demo_cpu.yaml [--force] [key=value ...]
    torchrun --nproc_per_node 2 Train/sentence_trainer.py --config config/demo_cpu.yaml    # DDP (gloo on CPU)
    torchrun --nproc_per_node 4 Train/sentence_trainer.py --config config/h100x4.yaml      # 4xH100
"""

import sys

from litstyle.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main("judge", trainer_sections=["judge"]))
