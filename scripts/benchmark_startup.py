#!/usr/bin/env python
"""Start-up at YouTube-ASL scale: seconds from launching the stage to its plan (the `Tasks:` line).

The benchmark lives in signpose/benchmarks/startup.py (its docstring says what it measures);
the same as the console command signpose-benchmark-startup.
"""
import sys

from signpose.benchmarks.startup import main

if __name__ == '__main__':
    sys.exit(main())
