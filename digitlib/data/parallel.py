"""One parallel map for the data pipeline: a function over consecutive ranges of items, in worker
processes (joblib's loky backend) or in this process, with a progress bar.

Loky starts fresh Python processes instead of forking this one, so it is safe after TensorFlow
has started its threads. Starting them costs about half a second on an idle machine (more on a
busy one), so callers size a range to about a second of work, and an input of at most one range
is processed in this process.
"""
from __future__ import annotations

import math

#: seconds an idle worker process waits for more work before it exits (and frees its memory). Short:
#: a chapter often trains right after preparing data, and Binder's 2 GB count the workers too (one
#: cold build measured chapter 8 at 2.4 GB instead of about 1.7, most likely the two workers that
#: had just prepared its crops idling beside the training that followed)
IDLE_WORKER_SECONDS = 1


class WorkerDied(RuntimeError):
    """A worker process ended abruptly (killed, out of memory, crashed) while the items
    ``start:stop`` were being processed. Run with ``workers=1`` to see the error in this process."""

    def __init__(self, start: int, stop: int):
        super().__init__(f"a worker process died while working on items {start} to {stop - 1}; "
                         "run with workers=1 to see the error")
        self.start, self.stop = start, stop


def default_workers() -> int:
    """Worker processes used when none are asked for: one per usable CPU core, at most 4."""
    import joblib

    return min(joblib.cpu_count(), 4)


def map_ranges(fn, args: tuple, n: int, chunk: int, workers: int | None = None, progress: bool = True,
               desc: str = "", unit: str = "img") -> list:
    """``[fn(*args, start, stop) for each range]``: consecutive ranges ``start:stop`` covering
    ``0..n`` in order, of at most ``chunk`` items each.

    With ``workers`` > 1 (None: :func:`default_workers`) and more than ``chunk`` items, the ranges
    run in up to ``workers`` processes (smaller ranges when that gives every worker one), else in
    this process. Where ``fn`` returns one result per
    item that depends only on the item, the results are the same for any ``workers``.
    A tqdm bar (``desc``, ``unit``, off without ``progress``) advances by each range's size as its
    result arrives. An exception raised by ``fn`` is raised here unchanged, and the ranges not yet
    started are dropped; a worker that dies raises :class:`WorkerDied` naming the range awaited.
    """
    from joblib import Parallel, delayed
    from joblib.externals.loky.process_executor import TerminatedWorkerError
    from tqdm.auto import tqdm

    workers = default_workers() if workers is None else workers
    in_workers = workers > 1 and n > chunk
    size = min(chunk, math.ceil(n / workers)) if in_workers else chunk
    ranges = [(start, min(start + size, n)) for start in range(0, n, size)]
    if in_workers:
        parallel = Parallel(n_jobs=min(workers, len(ranges)), return_as="generator",
                            idle_worker_timeout=IDLE_WORKER_SECONDS)
        outputs = parallel(delayed(fn)(*args, start, stop) for start, stop in ranges)
    else:
        outputs = (fn(*args, start, stop) for start, stop in ranges)
    results = []
    with tqdm(total=n, desc=desc, unit=unit, disable=not progress, mininterval=1.0) as bar:
        try:
            for (start, stop), result in zip(ranges, outputs):
                results.append(result)
                bar.update(stop - start)
        except TerminatedWorkerError as err:
            raise WorkerDied(*ranges[len(results)]) from err
    return results
