"""Benchmark suites (what to run), executors (where), reference curves and reports (how it went).

`rlmeta bench SUITE` runs a suite; `rlmeta plot` and `rlmeta compare` read any run directories.
Standalone figures (throughput side by side with other libraries) are scripts in this folder that
write benchmarks/results/.
"""
