#!/usr/bin/env python
"""Draw the saved landmarks of one segment over its video frames.

    python scripts/3b_visualize.py SENTENCE_NAME
    python scripts/3b_visualize.py SENTENCE_NAME --frames 6 --out viz_check
    python scripts/3b_visualize.py SENTENCE_NAME --cfg-options NPY_DIR=/data/npy CSV_FILE=/data/m.tsv

Writes NPY_DIR/viz/SENTENCE_NAME.mp4 (every sampled frame), SENTENCE_NAME_sheet.png (a contact
sheet) and SENTENCE_NAME_wrist_z.png (wrist depth over time). Exit status 2 when the sentence,
its .npy or its video cannot be found.
"""
import sys

from signpose.cli.visualize import main

if __name__ == '__main__':
    sys.exit(main())
