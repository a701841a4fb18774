"""Stage `sft`: TRL supervised fine-tuning of the policy on the teacher stories (FSDP / DeepSpeed / LoRA).

    python Train/SFTTrainer.py --config config/demo_cpu.yaml [--force] [key=value ...]
    accelerate launch --config_file config/accelerate/fsdp_4gpu.yaml Train/SFTTrainer.py --config config/h100x4.yaml
    torchrun --nproc_per_node 2 Train/SFTTrainer.py --config config/demo_cpu.yaml   # 2-process DDP (gloo on CPU)
"""

import sys

from litstyle.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main("sft", trainer_sections=["sft"]))
