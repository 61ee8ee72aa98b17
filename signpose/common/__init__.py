"""Small helpers any layer may use: atomic files (common/atomic.py), stage timings (common/timing.py)."""
