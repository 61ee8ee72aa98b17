#!/usr/bin/env python
"""Decoding speed per backend and codec: frames/s of the stage's own reading code.

The benchmark lives in signpose/benchmarks/decode.py (its docstring says what it measures);
the same as the console command signpose-benchmark-decode.
"""
import sys

from signpose.benchmarks.decode import main

if __name__ == '__main__':
    sys.exit(main())
