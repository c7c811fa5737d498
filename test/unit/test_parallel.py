"""run_all: results in order, every call finished before the first failure is raised."""
import threading
import time

import pytest

from dind_cluster.parallel import run_all


def test_results_come_back_in_the_items_order():
    assert run_all(lambda n: (time.sleep(0.01 * (3 - n)), n * 10)[1], [1, 2, 3]) == [10, 20, 30]
    assert run_all(str, []) == []


def test_calls_run_at_the_same_time():
    barrier = threading.Barrier(3, timeout=5)
    assert run_all(lambda n: barrier.wait() is not None, [1, 2, 3]) == [True, True, True]


def test_first_failure_is_raised_after_every_call_finished():
    finished = []

    def work(n):
        if n == 1:
            raise ValueError("node 1 failed")
        time.sleep(0.05)
        finished.append(n)

    with pytest.raises(ValueError, match="node 1 failed"):
        run_all(work, [1, 2, 3])
    assert sorted(finished) == [2, 3]


def test_limit_bounds_how_many_run_at_once():
    running, peak, lock = [0], [0], threading.Lock()

    def work(_):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1

    run_all(work, range(10), limit=2)
    assert peak[0] <= 2
