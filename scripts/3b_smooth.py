#!/usr/bin/env python
"""Fill short gaps and smooth the stage's trajectories, on copies (docs/trajectories.md).

    python scripts/3b_smooth.py dataset/npy dataset/npy_smooth
    python scripts/3b_smooth.py dataset/npy dataset/npy_oneeuro --method oneeuro2 --set hands.beta=100

Writes OUT_DIR/{SENTENCE}.npy (and .pose), OUT_DIR/filled/{SENTENCE}.npy (True where a value was
filled) and OUT_DIR/smoothing.json (method, settings, per file what was done, quality before/after).
Exit status: 0 all done, 1 some file skipped as not a stage output, 2 a usage problem.
"""
import sys

from signpose.cli.smooth import main

if __name__ == '__main__':
    sys.exit(main())
