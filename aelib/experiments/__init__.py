"""Experiments: Table 1, the rate–distortion sweeps and the reproduction comparison.

They measure and return DataFrames; none writes a file (``tests/test_architecture.py`` checks).
"""
