"""Speed benchmarks of the NER backend: each `bench/speed_*.py` prints a table and writes bench/results/<name>.*.

Run from the repository root, e.g. `python -m bench.speed_predict` (add `--quick` for a tiny smoke run).
"""
