"""Benchmark scripts (run them as scripts) and ``python -m benchmarks``, the README's speed table."""
