"""Benchmarks (console commands; their figures are in docs/performance.md)."""
