#!/usr/bin/env python
"""Benchmark: the design's per-frame loop against the stage's engine, same frames, same models.

The benchmark lives in scripts/benchmarks/stage.py (its docstring says what it measures).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks and the test aids are not installed
from scripts.benchmarks.stage import main

if __name__ == '__main__':
    sys.exit(main())
