"""Stage `models`: resolve the recipe's models offline (converts the SmolLM2 GGUF once).

    python data_processing/prepare_models.py --config config/demo_cpu.yaml [--force] [key=value ...]
"""

import sys

from litstyle.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main("models"))
