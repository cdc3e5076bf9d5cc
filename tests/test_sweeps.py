"""digitlib.sweeps.run_all: experiments trained in two worker processes, in order, the same as a
serial run, reusing the results cache; and grid_search(n_jobs=...) going through it."""
import os
from dataclasses import replace

import pytest

from digitlib.config import PROFILES
from digitlib.experiments import Experiment
from digitlib.sweeps import run_all, seed_sweep

# one epoch of a few sequences: what costs time is starting TensorFlow in each worker
PROFILE = replace(PROFILES["quick"], epochs=1, batch_size=32, mnist_train_sequences=120, mnist_test_sequences=24)
BASE = Experiment("tiny", "mnist_cnn", "mnist", precision="float32")


def _layout(value):
    """The shape of a metrics or history dict: its keys, nested, and the kinds of its values."""
    if isinstance(value, dict):
        return {k: _layout(v) for k, v in value.items()}
    if isinstance(value, list):
        return [len(value)]
    return type(value).__name__


def test_two_workers_train_in_order_like_a_serial_run_and_reuse_the_cache(tmp_path, monkeypatch):
    import joblib

    from digitlib import sweeps
    from digitlib.training import run_experiment

    home = tmp_path / "shared-results"
    monkeypatch.setenv("DIGITLIB_RESULTS", str(home))  # the folder every worker (machine) shares
    exps = seed_sweep(BASE, [1, 2]) + [replace(BASE, name="same_as_seed_1", seed=1)]
    assert [(e.name, e.seed) for e in exps[:2]] == [("tiny_seed1", 1), ("tiny_seed2", 2)]

    results = run_all(exps, PROFILE, n_jobs=2)

    # in the order given; the third has the first one's settings, so it is that run, trained once
    assert [r.experiment["seed"] for r in results] == [1, 2, 1]
    assert [r.experiment["name"] for r in results[:2]] == ["tiny_seed1", "tiny_seed2"]
    assert results[2].folder == results[0].folder != results[1].folder
    assert {r.folder.parent for r in results} == {home}
    # each trained in a worker process of its own, with its share of the cores
    workers = [r.extra["sweep"] for r in results[:2]]
    assert all(w["in_worker"] for w in workers), workers
    assert len({w["pid"] for w in workers}) == 2 and os.getpid() not in {w["pid"] for w in workers}, workers
    assert {w["threads"] for w in workers} == {max(1, joblib.cpu_count() // 2)}, workers

    # the same result as training in this process, one after another
    serial = run_experiment(exps[0], PROFILE, tmp_path / "serial", verbose=0)
    parallel = results[0]
    assert _layout(parallel.metrics) == _layout(serial.metrics) and set(parallel.metrics) == {"validation", "test"}
    assert _layout(parallel.history) == _layout(serial.history)
    assert parallel.params == serial.params and parallel.data_source == serial.data_source
    assert {k: v for k, v in parallel.extra.items() if k != "sweep"} == serial.extra
    assert parallel.history["loss"] == pytest.approx(serial.history["loss"], rel=1e-3)
    for split in serial.metrics:  # seeded: equal, up to a prediction flipped by float rounding
        for name, value in serial.metrics[split].items():
            if not isinstance(value, list):
                assert parallel.metrics[split][name] == pytest.approx(value, abs=0.05), (split, name)

    # a second call reuses the cache: no worker, nothing trained
    monkeypatch.setattr(sweeps, "_train_all", lambda *a, **k: pytest.fail("trained again despite the cache"))
    again = run_all(exps, PROFILE, n_jobs=2)
    assert [r.folder for r in again] == [r.folder for r in results]
    assert [r.metrics for r in again] == [r.metrics for r in results]
    assert all(not r.extra["sweep"]["in_worker"] and r.extra["sweep"]["pid"] == os.getpid() for r in again)


def test_fork_and_thread_backends_are_refused_before_training(tmp_path):
    for backend in ("multiprocessing", "threading"):
        with pytest.raises(ValueError, match="loky"):
            run_all([BASE], PROFILE, backend=backend, results_home=tmp_path)
    assert not list(tmp_path.iterdir())


def test_grid_search_with_n_jobs_trains_the_grid_with_run_all(monkeypatch):
    from types import SimpleNamespace

    from digitlib import experiments, sweeps

    seen = {}

    def fake_run_all(exps, profile=None, n_jobs=None, verbose=0):
        seen.update(exps=exps, n_jobs=n_jobs)
        return [SimpleNamespace(metrics={"validation": {"sequence_accuracy": e.learning_rate}}) for e in exps]

    monkeypatch.setattr(sweeps, "run_all", fake_run_all)
    monkeypatch.setattr(experiments, "run_experiment", lambda *a, **k: pytest.fail("trained in this process"))
    ranked = experiments.grid_search("mnist_cnn", {"learning_rate": [1e-3, 3e-3], "shift": [0, 2]},
                                     PROFILES["quick"], n_jobs=2)
    assert seen["n_jobs"] == 2 and len(seen["exps"]) == 4
    assert [s for s, _ in ranked][:2] == [{"learning_rate": 3e-3, "shift": 0}, {"learning_rate": 3e-3, "shift": 2}]
    assert all(r.metrics["validation"]["sequence_accuracy"] == s["learning_rate"] for s, r in ranked)
