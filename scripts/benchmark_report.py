#!/usr/bin/env python
"""Time the run report on a YouTube-ASL-size ledger (610,193 segments): python scripts/benchmark_report.py"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks and the test aids are not installed
from scripts.benchmarks.report import main

if __name__ == '__main__':
    main()
