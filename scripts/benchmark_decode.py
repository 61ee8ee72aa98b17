#!/usr/bin/env python
"""Decoding speed per backend and codec: frames/s of the stage's own reading code.

The benchmark lives in scripts/benchmarks/decode.py (its docstring says what it measures).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks and the test aids are not installed
from scripts.benchmarks.decode import main

if __name__ == '__main__':
    sys.exit(main())
