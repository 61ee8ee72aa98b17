#!/usr/bin/env python
"""Stage 3b: 3D whole-body landmarks (T, 85, 4) for every caption segment of the manifest.

    python scripts/3b_extract_mmpose.py
    python scripts/3b_extract_mmpose.py --cfg-options CSV_FILE=/data/how2sign.tsv DEVICE=cpu

Settings: configs/extract_mmpose.py. Reruns skip what is done; Ctrl-C stops cleanly.
Exit status: 0 done, 1 some segment failed, 2 something to fix first, 3 out of space in NPY_DIR
(free space, then run the same command: it continues), 130 interrupted.
"""
import sys

from signpose.cli.extract import main

if __name__ == '__main__':
    sys.exit(main())
