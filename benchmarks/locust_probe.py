"""
A Locust plugin for benchmarks/locust_compare.py: CPU and round trips of one worker process.

Add it to the locustfile list (``-f examples/locustfile.py,benchmarks/locust_probe.py``). From
the test_start event to the test_stop event it counts the successful "echo" requests and the
process's user+system CPU time (all threads: Locust's and fastws's loop thread), and writes them
as JSON to ``$LOCUST_PROBE_DIR/<pid>.json``. It leaves the master alone.
"""

from __future__ import annotations

import json
import os
import resource
import time
from typing import Any

from locust import events
from locust.runners import MasterRunner

_state: dict[str, Any] = {}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@events.test_start.add_listener
def _on_test_start(environment: Any, **_: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        return
    _state.update(requests=0, failures=0, cpu=_cpu(), wall=time.perf_counter(), active=True)


@events.request.add_listener
def _on_request(name: str, exception: Any, **_: Any) -> None:
    if _state.get("active") and name == "echo":
        if exception is None:
            _state["requests"] += 1
        else:
            _state["failures"] += 1


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_: Any) -> None:
    if not _state.get("active"):
        return
    _state["active"] = False
    result = {
        "pid": os.getpid(),
        "requests": _state["requests"],
        "failures": _state["failures"],
        "cpu_s": _cpu() - _state["cpu"],
        "wall_s": time.perf_counter() - _state["wall"],
    }
    directory = os.environ.get("LOCUST_PROBE_DIR")
    if directory:
        with open(os.path.join(directory, f"{os.getpid()}.json"), "w") as file:
            json.dump(result, file)
