#!/usr/bin/env python
"""Convert the stage's .npy files to .pose files (pose-format), one beside each .npy (or into --out).

    python scripts/3b_npy_to_pose.py [FOLDER or FILES] [--out DIR] [--width W --height H] [--fps F]

The options and what a converted file holds: signpose/output/convert.py and docs/pose.md.
"""
import sys

from signpose.cli.npy_to_pose import main

if __name__ == '__main__':
    sys.exit(main())
