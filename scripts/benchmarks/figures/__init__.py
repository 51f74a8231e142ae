"""Standalone measurements, each ``python -m scripts.benchmarks.figures.NAME``: figures
that are not a goal of DESIGN §8 (or not one a bare baseline can be run beside), kept
with their latest results in docs/benchmarks.md."""
