"""digitlib.data.parallel.map_ranges: the same results in order with or without worker processes,
worker errors raised unchanged, a dying worker named."""
import os
import time

import pytest

from digitlib.data import DigitStructError
from digitlib.data.parallel import WorkerDied, map_ranges


def _span(label, start, stop):
    return label, start, stop, os.getpid()


def _fail_at_3(start, stop):
    if start == 3:
        raise DigitStructError(f"bad item in {start}:{stop}")
    return start


def _die_after_the_first_range(start, stop):
    if start > 0:
        time.sleep(2)  # the first range's result has arrived by now
        os._exit(3)  # a worker that is killed, runs out of memory or crashes
    return start


def test_results_are_in_order_and_the_same_with_worker_processes():
    serial = map_ranges(_span, ("x",), 7, 2, workers=1, progress=False)
    parallel = map_ranges(_span, ("x",), 7, 2, workers=2, progress=False)
    assert [r[:3] for r in serial] == [r[:3] for r in parallel] == [
        ("x", 0, 2), ("x", 2, 4), ("x", 4, 6), ("x", 6, 7)]
    assert {r[3] for r in serial} == {os.getpid()}
    assert os.getpid() not in {r[3] for r in parallel}


def test_at_most_one_range_of_items_runs_in_this_process():
    results = map_ranges(_span, ("x",), 2, 2, workers=2, progress=False)
    assert [r[1:] for r in results] == [(0, 2, os.getpid())]
    assert map_ranges(_span, ("x",), 0, 2, workers=2, progress=False) == []


def test_a_small_input_is_shared_evenly_among_the_workers():
    results = map_ranges(_span, ("x",), 6, 4, workers=2, progress=False)
    assert [r[1:3] for r in results] == [(0, 3), (3, 6)]
    assert os.getpid() not in {r[3] for r in results}


def test_the_bar_counts_every_item(capsys):
    map_ranges(_span, ("x",), 6, 2, workers=1, progress=True, desc="spans", unit="span")
    assert "spans: 100%" in capsys.readouterr().err


@pytest.mark.parametrize("workers", [1, 2])
def test_an_error_in_fn_is_raised_unchanged(workers):
    with pytest.raises(DigitStructError, match=r"bad item in 3:4"):
        map_ranges(_fail_at_3, (), 6, 1, workers=workers, progress=False)


def test_a_worker_that_dies_raises_workerdied_naming_the_range():
    with pytest.raises(WorkerDied, match="items 2 to 3; run with workers=1") as info:
        map_ranges(_die_after_the_first_range, (), 4, 2, workers=2, progress=False)
    assert (info.value.start, info.value.stop) == (2, 4)
