"""Benchmarks of the iMessage connector against Rasa's REST channel: `make bench`.

Not a test: figures depend on the machine, so nothing here asserts a speed. `python -m bench`
runs every section within about ten minutes and writes BENCHMARKS.md at the repo root.
"""
