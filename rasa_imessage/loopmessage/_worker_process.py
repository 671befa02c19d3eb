"""The send worker's child process (`_worker.WorkerClient` starts it with `python -m`).

A module of its own, which the package does not import, so that `-m` runs it once.
"""

from ._worker import run_child

if __name__ == "__main__":
    run_child()
