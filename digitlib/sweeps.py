"""Seed sweeps and grid searches over several processes, or several machines, with joblib.

:func:`run_all` trains a list of experiments, each in a worker process, and returns their
:class:`~digitlib.training.Result` objects in the order given. Every run goes through
:func:`~digitlib.training.run_experiment`, so the results cache works as it does in the chapters:
a run already in the results folder is loaded, not trained (and not sent to a worker at all);
two experiments with the same settings (:meth:`~digitlib.experiments.Experiment.key`) are trained
once; and a run that another process is training is waited for (its file lock), then reused.

The engine is joblib, which digitlib already uses to parse and generate data:

* one machine: joblib's default ``loky`` backend starts fresh Python processes (not forks of this
  one, so it is safe after TensorFlow has started). Each worker gets its share of the CPU cores,
  ``cpu_count() // n_jobs`` threads, set in TensorFlow before it runs anything
  (:func:`limit_tensorflow_threads`), so two workers do not fight over the same cores;
* several machines: the same call with joblib's ``dask`` backend (dask.distributed) or Ray's
  (``ray.util.joblib``), every machine reading and writing one results folder on a shared file
  system (``$DIGITLIB_RESULTS``). Neither is a dependency of the book; the README's "GPUs and
  several devices" explains the set-up.

Example, three seeds of chapter 4's network in two processes::

    from digitlib.experiments import book_experiments
    from digitlib.sweeps import run_all, seed_sweep

    results = run_all(seed_sweep(book_experiments()["mnist_cnn"], [1, 2, 3]), n_jobs=2)
"""
from __future__ import annotations

import os
import socket
import warnings
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from .experiments import Experiment
    from .training import Result

#: seconds an idle worker process waits for more runs before it exits and frees its memory
IDLE_WORKER_SECONDS = 10


def limit_tensorflow_threads(threads: int | None) -> int | None:
    """Let TensorFlow in this process use ``threads`` threads within an operation and as many
    operations at once (None: leave TensorFlow's defaults, one thread per core).

    It must run before TensorFlow executes anything in the process (a fresh worker); afterwards
    TensorFlow's thread pools are fixed, and a different request only warns. Returns the number
    of threads within an operation that TensorFlow will use (0 means one per core).
    """
    if threads is not None:
        os.environ["TF_NUM_INTRAOP_THREADS"] = os.environ["TF_NUM_INTEROP_THREADS"] = str(threads)
    from .backend import import_keras

    import_keras()
    import tensorflow as tf

    if threads is not None:
        for get, set_ in ((tf.config.threading.get_intra_op_parallelism_threads,
                           tf.config.threading.set_intra_op_parallelism_threads),
                          (tf.config.threading.get_inter_op_parallelism_threads,
                           tf.config.threading.set_inter_op_parallelism_threads)):
            if get() != threads:
                try:
                    set_(threads)
                except RuntimeError:  # TensorFlow has already run something in this process
                    warnings.warn(f"TensorFlow in process {os.getpid()} has already started with "
                                  f"{get() or 'all'} threads; {threads} were asked for", stacklevel=2)
    return tf.config.threading.get_intra_op_parallelism_threads()


def _with_origin(result: Result, threads: int | None, in_worker: bool) -> Result:
    """``result`` with ``extra["sweep"]``: where this call got it (host, process, threads)."""
    result.extra = {**result.extra, "sweep": {"host": socket.gethostname(), "pid": os.getpid(),
                                              "threads": threads, "in_worker": in_worker}}
    return result


def _train(exp: Experiment, profile, home: Path, threads: int | None, verbose: int) -> Result:
    """Run in a worker: limit TensorFlow's threads, then train or reuse ``exp``."""
    used = limit_tensorflow_threads(threads)
    from .training import run_experiment

    return _with_origin(run_experiment(exp, profile, home, verbose=verbose), used, in_worker=True)


def run_all(experiments: Iterable[Experiment], profile=None, n_jobs: int | None = None,
            backend: str | None = None, threads: int | None = None, results_home=None,
            verbose: int = 0) -> list[Result]:
    """Train (or reuse) every experiment, in up to ``n_jobs`` worker processes, and return the
    :class:`~digitlib.training.Result` of each, in the order given.

    * ``backend``: a joblib backend name (None: the one set with ``joblib.parallel_config``, by
      default ``loky``: processes on this machine). ``"dask"`` and ``"ray"`` run on a cluster (see
      the README); ``"multiprocessing"`` is refused (it forks this process, unsafe once TensorFlow
      has started).
    * ``n_jobs``: with ``loky``, worker processes (None or -1: one per usable core), at most one
      per run to train; ``n_jobs=1`` trains one run after another in this process, exactly as
      :func:`~digitlib.training.run_experiment` does. On a cluster, tasks at once (None: -1, all).
    * ``threads``: TensorFlow threads per worker (None: with ``loky``, ``cpu_count() // n_jobs``,
      the worker's share of this machine's cores; on a cluster, TensorFlow's default, one per core
      of the worker's machine).
    * ``results_home``: the results folder (None: ``$DIGITLIB_RESULTS``, else ``results/``), the
      same path for every worker; on several machines, a folder on a shared file system.

    Runs already in the results folder are loaded here without starting a worker, and experiments
    with the same settings are trained once. Each returned result's ``extra["sweep"]`` tells where
    it came from in this call (not saved): ``host``, ``pid``, ``threads`` and ``in_worker`` (False
    for a run loaded from the cache here).
    """
    from .config import active_profile, results_home as _results_home
    from .training import load_result

    experiments = list(experiments)
    profile = profile or active_profile()
    home = _results_home(results_home).absolute()  # the same folder for workers in another directory
    keys = [exp.key(profile) for exp in experiments]
    results: dict[str, Result] = {}
    for key in keys:
        if key not in results and (home / key / "result.json").exists():
            results[key] = _with_origin(load_result(home / key), None, in_worker=False)
    todo: dict[str, Experiment] = {}  # one run per key: the first experiment with those settings
    for key, exp in zip(keys, experiments):
        if key not in results:
            todo.setdefault(key, exp)
    if todo:
        for key, result in zip(todo, _train_all(list(todo.values()), profile, home, n_jobs, backend,
                                                threads, verbose)):
            results[key] = result
    return [results[key] for key in keys]


def _active_backend() -> str:
    """The name of the joblib backend in force (``"loky"`` unless ``joblib.parallel_config`` set
    another), from its class: ``LokyBackend`` is ``"loky"``."""
    from joblib.parallel import get_active_backend

    return type(get_active_backend()[0]).__name__.lower().removesuffix("backend")


def _train_all(experiments: list, profile, home: Path, n_jobs, backend, threads, verbose) -> list:
    import joblib

    name = backend or _active_backend()
    if name in ("multiprocessing", "threading"):
        raise ValueError(f"the {name} backend runs trainings in forks or threads of this process, which is "
                         "unsafe once TensorFlow has started; use the default, loky, which starts fresh processes")
    if n_jobs == 1 and name in ("loky", "sequential"):  # in this process, with all its threads
        from .training import run_experiment

        return [_with_origin(run_experiment(exp, profile, home, verbose=verbose), None, in_worker=False)
                for exp in experiments]
    if name != "loky":  # a cluster (dask, ray): its workers, with their own thread counts unless given
        tasks = [joblib.delayed(_train)(exp, profile, home, threads, verbose) for exp in experiments]
        with joblib.parallel_config(backend=backend) if backend else nullcontext():
            return joblib.Parallel(n_jobs=-1 if n_jobs is None else n_jobs)(tasks)
    cores = joblib.cpu_count()
    n_jobs = min(cores if n_jobs is None or n_jobs < 0 else n_jobs, len(experiments))
    threads = threads or max(1, cores // n_jobs)
    tasks = [joblib.delayed(_train)(exp, profile, home, threads, verbose) for exp in experiments]
    # inner_max_num_threads: the workers' OpenMP/BLAS limit too; another thread count starts fresh
    # workers. They are shut down at the end, freeing their memory (TensorFlow, a trained network,
    # its data), so that the next user of joblib's shared executor (the data code) starts clean.
    from joblib.externals.loky import get_reusable_executor

    try:
        with joblib.parallel_config(backend="loky", inner_max_num_threads=threads):
            return joblib.Parallel(n_jobs=n_jobs, idle_worker_timeout=IDLE_WORKER_SECONDS)(tasks)
    finally:
        get_reusable_executor().shutdown(wait=True)


def seed_sweep(exp: Experiment, seeds: Iterable[int]) -> list[Experiment]:
    """``exp`` once per seed, named ``<name>_seed<seed>``: the spread of a result over seeds (the
    initial weights, the order of the batches, the random shifts) with :func:`run_all`."""
    return [replace(exp, name=f"{exp.name}_seed{seed}", seed=int(seed)) for seed in seeds]
