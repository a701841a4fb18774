"""Stage `corpus`: select Gutenberg books from the catalog, download (or read a mirror folder),
clean and chunk them into HF datasets under <run_dir>/corpus/.

    python data_processing/gutenberg_download.py --config config/demo_cpu.yaml [--force] [key=value ...]
"""

import sys

from litstyle.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main("corpus"))
