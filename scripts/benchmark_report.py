#!/usr/bin/env python
"""Time the run report on a YouTube-ASL-size ledger (610,193 segments): python scripts/benchmark_report.py"""
from signpose.benchmarks.report import main

if __name__ == '__main__':
    main()
