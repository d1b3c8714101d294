"""Prepare letters in worker processes while the caller stores them (bulk import on several cores).

Preparing a letter (normalise, embed, segment for the matter, shingle, MinHash) is per-letter work in Python;
storing it (one insert per table and batch, index adds) must stay in one process. :class:`PreparePool` runs
:meth:`Triage.prepare` in ``workers`` processes, each with its own copy of the models, and hands the prepared
batches back **in input order**, at most ``2 × workers`` batches ahead of the caller (memory stays bounded on
a large file). Workers use one BLAS/torch thread each: the cores are shared between them and the caller.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Iterable, Iterator

_WORKER = None


def _start_worker(config) -> None:
    global _WORKER
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch ships with the project
        pass
    from .pipeline import Triage

    _WORKER = Triage(config).load()


def _prepare(letters):
    return _WORKER.prepare(letters)


class PreparePool:
    """``with PreparePool(config, workers) as pool: for prepared in pool.prepare(batches): …``"""

    def __init__(self, config, workers: int) -> None:
        import multiprocessing

        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.workers = workers
        # spawn: the caller has torch, faiss and a database engine loaded, which a fork must not share
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_start_worker, initargs=(config,))

    def prepare(self, batches: Iterable[list]) -> Iterator[list]:
        """Prepared batches in the order given; an error in a worker is raised here, at its batch."""
        ahead: deque[Future] = deque()
        for batch in batches:
            ahead.append(self._pool.submit(_prepare, batch))
            if len(ahead) > 2 * self.workers:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "PreparePool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
