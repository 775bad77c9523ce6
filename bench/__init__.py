"""Benchmarks that print numbers; they run outside the test suite."""
