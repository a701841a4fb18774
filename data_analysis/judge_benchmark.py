"""Stage `judge_benchmark`: ROC AUC / EER of the base encoder, the fine-tuned style judge and a
function-word baseline on authors the judge never trained on; Markdown report, box plots, ROC
curves and the calibration constants of the scaled style score, in <run_dir>/judge_benchmark/.

    python data_analysis/judge_benchmark.py --config config/demo_cpu.yaml [--force] [key=value ...]
"""

import sys

from litstyle.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main("judge_benchmark"))
