"""Benchmark harnesses (opt-in; `make bench`) and their data."""
