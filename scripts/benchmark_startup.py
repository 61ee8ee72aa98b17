#!/usr/bin/env python
"""Start-up at YouTube-ASL scale: seconds from launching the stage to its plan (the `Tasks:` line).

The benchmark lives in scripts/benchmarks/startup.py (its docstring says what it measures).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the benchmarks and the test aids are not installed
from scripts.benchmarks.startup import main

if __name__ == '__main__':
    sys.exit(main())
