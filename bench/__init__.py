"""Benchmarks. Run each as a module from the repository root: ``python -m bench.run_all``, ``python -m bench.NAME``."""
