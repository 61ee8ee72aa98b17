#!/usr/bin/env python
"""Benchmark: the design's per-frame loop against the stage's engine, same frames, same models.

The benchmark lives in signpose/benchmarks/stage.py (its docstring says what it measures);
the same as the console command signpose-benchmark.
"""
import sys

from signpose.benchmarks.stage import main

if __name__ == '__main__':
    sys.exit(main())
