#!/usr/bin/env python
"""The run report: one self-contained HTML page and a CSV of every segment's quality.

    python scripts/3b_report.py                 # NPY_DIR of configs/extract_mmpose.py
    python scripts/3b_report.py /data/npy --out /tmp/report.html

Writes NPY_DIR/report.html (provenance, outcomes, quality, BBOX_THR, best and worst segments)
and report_segments.csv (every manifest row) beside it. Exit status: 0 written, 2 no ledger to report on.
"""
import sys

from signpose.cli.report import main

if __name__ == '__main__':
    sys.exit(main())
