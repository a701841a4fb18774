"""Stage `judge_pairs`: author-disjoint style-judge pairs from the corpus chunks: extremes
(same author/different books = 1.0, different authors = 0.0) and graded pairs from masked
rewrites by the rewriter LLM (started for the stage from llm.rewriter).

    python data_processing/build_judge_pairs.py --config config/demo_cpu.yaml [--force] [key=value ...]
"""

import sys

from litstyle.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main("judge_pairs"))
