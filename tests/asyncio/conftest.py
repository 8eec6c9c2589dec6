"""
Async test runner for ``tests/asyncio`` (our own; pytest-asyncio is not used).

Write tests as plain coroutines and start real peers *inside* them::

    from .peers import websockets_server

    async def test_echo():
        async with websockets_server() as server:
            async with fastws.connect(server.uri) as ws:
                await ws.send("hi")
                assert await ws.recv() == "hi"

What the runner does:

* Every ``async def test_*`` in this directory, and every test that requests the ``loop``
  fixture, runs once per event loop, with ids ``[asyncio]`` and ``[uvloop]``. The ``loop``
  fixture is that name; the loop itself is ``asyncio.get_running_loop()``.
* Each run gets a fresh loop, in debug mode, whose exception handler records everything.
  The test is cancelled after 10 s and fails with the stack where it was waiting.
* Afterwards, tasks still pending are reported by repr, cancelled and awaited, then async
  generators and the default executor are shut down, the loop is closed and garbage collected.
  The test FAILS if a task was left pending, if the loop's exception handler was called
  ("Task exception was never retrieved", "Task was destroyed but it is pending!",
  "Fatal error on transport", ...), on any ResourceWarning ("unclosed transport", unclosed
  socket), on "coroutine ... was never awaited", or on an exception ignored in ``__del__``.
  If the test itself failed, those findings are attached to its exception as a note.
* Fixtures are synchronous (``loop``, ``tls_context``, ``unix_path``, pytest's own). There
  are no async fixtures on purpose: servers are async context managers (``peers.py``,
  ``rawserver.py``) entered inside the test, so their whole life is covered by the test's
  timeout and leak check.
* ``@hypothesis.given`` on an ``async def`` test works: every example runs in the same loop,
  each with the test's timeout.

Markers:

* ``@pytest.mark.timeout_s(30)``: timeout of each run in seconds (default 10).
* ``@pytest.mark.no_loop_debug``: run without ``loop.set_debug(True)`` (throughput tests).
* ``@pytest.mark.loops("asyncio")``: run on these loops only.
* ``@pytest.mark.allow_loop_errors(r"regex", ...)``: tolerate exception-handler reports
  matching one of these patterns (``re.search`` on the report). Always tolerated: asyncio's
  "Error on transport creation for incoming connection", which only a *server* can report.

Environment: ``FASTWS_TESTS_TIMEOUT_FACTOR=3`` multiplies every timeout (slow machines,
tracing). A full ``gc.collect()`` after each test is what makes leaks visible; to keep it
cheap, every object alive before a test is moved to the permanent generation (``gc.freeze()``).
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import inspect
import io
import re
import shutil
import sys
import textwrap
import traceback
import warnings
from collections.abc import Coroutine, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import pytest

from .peers import TIMEOUT_FACTOR, TLSContexts, free_unix_path
from .peers import tls_context as make_tls_context

T = TypeVar("T")

LOOPS = ("asyncio", "uvloop")
DEFAULT_TIMEOUT = 10.0
# Reports that only a listening socket can cause, i.e. our test servers reacting to a client
# that gives up (e.g. rejects the certificate during the TLS handshake): never a client bug.
SERVER_SIDE_NOISE = (
    r"^loop exception handler: Error on transport creation for incoming connection\n",
)
# How long a cancelled task may take to finish before it's reported as ignoring cancellation.
CANCEL_GRACE = 2.0

HERE = Path(__file__).parent

MARKERS = (
    "timeout_s(seconds): timeout of each run of an async test, inside the event loop (default 10)",
    "no_loop_debug: run this async test without loop.set_debug(True)",
    "loops(*names): run this async test on these loops only ('asyncio', 'uvloop')",
    "allow_loop_errors(*patterns): tolerate loop exception-handler reports matching a regex",
)


def loop_available(kind: str) -> bool:
    """Whether the event loop implementation ``kind`` can run here."""
    if kind == "asyncio":
        return True
    if kind == "uvloop":
        return sys.platform != "win32" and importlib.util.find_spec("uvloop") is not None
    return False


def new_event_loop(kind: str) -> asyncio.AbstractEventLoop:
    """A new, not yet running, event loop of the given kind."""
    if kind == "asyncio":
        return asyncio.new_event_loop()
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    raise ValueError(f"unknown event loop: {kind!r}")


def scaled(seconds: float) -> float:
    """A timeout multiplied by FASTWS_TESTS_TIMEOUT_FACTOR."""
    return seconds * TIMEOUT_FACTOR


def add_note(exc: BaseException, note: str) -> None:
    """Attach a note to an exception (printed to stderr on Python < 3.11)."""
    if hasattr(exc, "add_note"):
        exc.add_note(note)
    else:  # pragma: no cover - Python 3.10
        print(note, file=sys.stderr)


def format_loop_error(context: dict[str, Any]) -> str:
    """Readable text for a loop exception handler context."""
    lines = [str(context.get("message", "(no message)"))]
    for key, value in context.items():
        if key not in {"message", "exception", "source_traceback", "handle_traceback"}:
            lines.append(f"    {key}: {value!r}")
    exc = context.get("exception")
    if exc is not None:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        lines.append(textwrap.indent(text.rstrip(), "    "))
    created = context.get("source_traceback")
    if created:
        text = "".join(traceback.format_list(created[-8:]))
        lines.append(
            "    created at (most recent call last):\n" + textwrap.indent(text.rstrip(), "    ")
        )
    return "\n".join(lines)


def is_false_alarm(caught: warnings.WarningMessage) -> bool:
    """
    Python 3.10's sslproto never marks its transport closed when the peer closes the
    connection first, and warns "unclosed transport" although the socket is closed (its
    SSLProtocol already dropped the TCP transport). 3.11's rewritten sslproto doesn't.
    """
    source = caught.source
    if sys.version_info >= (3, 11) or type(source).__name__ != "_SSLProtocolTransport":
        return False
    return getattr(getattr(source, "_ssl_protocol", None), "_transport", True) is None


class LoopRunner:
    """
    A fresh event loop that records every sign of sloppiness.

    ::

        with LoopRunner("uvloop") as runner:
            result = runner.run(main(), timeout=5)

    ``run()`` may be called several times. Leaving the block cleans up and calls
    ``pytest.fail()`` if anything leaked (see the module docstring); ``problems`` lists it.
    """

    def __init__(
        self, kind: str, *, debug: bool = True, allowed_errors: Iterable[str] = ()
    ) -> None:
        self.kind = kind
        self.debug = debug
        self.allowed_errors = [
            re.compile(pattern) for pattern in (*SERVER_SIDE_NOISE, *allowed_errors)
        ]
        self.problems: list[str] = []
        self.tolerated: list[str] = []
        self._main_tasks: set[asyncio.Future[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, "LoopRunner used outside its with block"
        return self._loop

    def __enter__(self) -> LoopRunner:
        gc.collect()  # garbage left by earlier tests isn't this test's fault
        gc.freeze()  # and later full collections skip everything alive now
        self._warnings_cm = warnings.catch_warnings(record=True)
        self._caught = self._warnings_cm.__enter__()
        warnings.filterwarnings("always", category=ResourceWarning)
        warnings.filterwarnings(
            "always", message=r"coroutine .* was never awaited", category=RuntimeWarning
        )
        self._old_unraisablehook = sys.unraisablehook
        sys.unraisablehook = self._on_unraisable
        self._loop = new_event_loop(self.kind)
        self._loop.set_debug(self.debug)
        self._loop.set_exception_handler(self._on_loop_error)
        asyncio.set_event_loop(self._loop)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._shutdown()
        finally:
            asyncio.set_event_loop(None)
            sys.unraisablehook = self._old_unraisablehook
            self._warnings_cm.__exit__(None, None, None)
        for caught in self._caught:
            if is_false_alarm(caught):
                continue
            if issubclass(caught.category, ResourceWarning) or "never awaited" in str(
                caught.message
            ):
                self._problem(f"{caught.category.__name__}: {caught.message}")
            else:  # not ours to judge: hand it back to pytest's warning capture
                warnings.warn_explicit(
                    caught.message,
                    caught.category,
                    caught.filename,
                    caught.lineno,
                    source=caught.source,
                )
        if not self.problems:
            return
        report = f"{len(self.problems)} problem(s) on the {self.kind} loop:\n" + "\n".join(
            f"- {problem}" for problem in self.problems
        )
        if exc is None:
            pytest.fail(report, pytrace=False)
        add_note(exc, report)  # the test's own failure comes first

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = DEFAULT_TIMEOUT) -> T:
        """Run ``coro`` as a task; cancel it and fail the test after ``timeout`` seconds."""
        loop = self.loop
        task = loop.create_task(coro)
        self._main_tasks.add(task)
        waiting: list[str] = []
        timers: list[asyncio.TimerHandle] = []

        def on_timeout() -> None:
            if task.done():
                return
            stack = io.StringIO()
            task.print_stack(file=stack)
            waiting.append(stack.getvalue())
            task.cancel()
            timers.append(loop.call_later(CANCEL_GRACE, loop.stop))  # if it ignores cancellation

        if timeout is not None:
            timers.append(loop.call_later(timeout, on_timeout))
        failure: BaseException | None = None
        try:
            result = loop.run_until_complete(task)
        except BaseException as exc:
            if not waiting:
                raise
            failure = exc
        finally:
            for timer in timers:
                timer.cancel()
        if not waiting:
            return result
        message = (
            f"test timed out after {timeout:g} s on the {self.kind} loop "
            f"(use @pytest.mark.timeout_s(N) if it needs longer); {waiting[0]}"
        )
        if failure is None:
            pytest.fail(
                message + "\nthen it swallowed the cancellation and returned", pytrace=False
            )
        if not task.done():
            pytest.fail(message + "\nthen it ignored the cancellation", pytrace=False)
        if isinstance(failure, asyncio.CancelledError):
            pytest.fail(message, pytrace=False)
        add_note(failure, message)
        raise failure

    def _shutdown(self) -> None:
        loop = self.loop
        try:
            seen: set[asyncio.Task[Any]] = set()
            for _ in range(3):  # cancelling a task may start new ones
                pending = [t for t in asyncio.all_tasks(loop) if not t.done() and t not in seen]
                if not pending:
                    break
                seen.update(pending)
                for task in pending:
                    if task not in self._main_tasks:
                        self._problem(f"task still pending after the test: {task!r}")
                    task.cancel()
                done, stuck = loop.run_until_complete(asyncio.wait(pending, timeout=CANCEL_GRACE))
                for task in done:
                    if not task.cancelled():
                        task.exception()  # already reported as leaked; don't report twice
                for task in stuck:
                    self._problem(f"task ignored cancellation: {task!r}")
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            gc.collect()  # "Task was destroyed but it is pending!", "exception never retrieved"
        finally:
            loop.close()
            gc.collect()  # transports the closed selector was holding: "unclosed transport"
            self._loop = None

    def _problem(self, text: str) -> None:
        if any(pattern.search(text) for pattern in self.allowed_errors):
            self.tolerated.append(text)
        else:
            self.problems.append(text)

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self._problem("loop exception handler: " + format_loop_error(context))

    def _on_unraisable(self, unraisable: Any) -> None:
        exc = unraisable.exc_value
        text = "".join(traceback.format_exception(type(exc), exc, unraisable.exc_traceback))
        where = unraisable.err_msg or "Exception ignored in"
        self._problem(f"{where}: {unraisable.object!r}\n" + textwrap.indent(text.rstrip(), "    "))


# pytest hooks


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    gc.unfreeze()


def is_async_test(obj: object) -> bool:
    """A coroutine function, or a Hypothesis test wrapping one."""
    inner = getattr(getattr(obj, "hypothesis", None), "inner_test", None)
    return inspect.iscoroutinefunction(obj) or inspect.iscoroutinefunction(inner)


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> None:
    """Make every async test use the ``loop`` fixture, hence be parametrized over loops."""
    if (
        isinstance(collector, pytest.Module | pytest.Class)
        and collector.istestfunction(obj, name)
        and is_async_test(obj)
    ):
        pytest.mark.usefixtures("loop")(obj)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "loop" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("loops")
    kinds = marker.args if marker is not None else LOOPS
    params = [
        pytest.param(
            kind,
            id=kind,
            marks=() if loop_available(kind) else pytest.mark.skip(reason=f"{kind} unavailable"),
        )
        for kind in kinds
    ]
    metafunc.parametrize("loop", params, indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep pytest-timeout (the process-wide backstop) later than our own timeout."""
    if not config.pluginmanager.hasplugin("timeout"):
        return
    try:
        backstop = float(config.getini("timeout") or 0)
    except (ValueError, TypeError):  # pragma: no cover
        return
    for item in items:
        if HERE not in item.path.parents or item.get_closest_marker("timeout") is not None:
            continue
        needed = run_timeout(item) + CANCEL_GRACE + 10
        if backstop and needed > backstop:
            item.add_marker(pytest.mark.timeout(needed))


def run_timeout(item: pytest.Item) -> float:
    marker = item.get_closest_marker("timeout_s")
    return scaled(float(marker.args[0]) if marker is not None and marker.args else DEFAULT_TIMEOUT)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    func = pyfuncitem.obj
    if not is_async_test(func):
        return None
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    timeout = run_timeout(pyfuncitem)
    allowed = [
        pattern
        for marker in pyfuncitem.iter_markers("allow_loop_errors")
        for pattern in marker.args
    ]
    debug = pyfuncitem.get_closest_marker("no_loop_debug") is None
    kind = str(pyfuncitem.funcargs["loop"])
    with LoopRunner(kind, debug=debug, allowed_errors=allowed) as runner:
        hypothesis = getattr(func, "hypothesis", None)
        if hypothesis is not None and inspect.iscoroutinefunction(hypothesis.inner_test):
            inner = hypothesis.inner_test

            def run_example(*args: Any, **kw: Any) -> None:
                runner.run(inner(*args, **kw), timeout)

            hypothesis.inner_test = run_example
            try:
                func(**kwargs)
            finally:
                hypothesis.inner_test = inner
        else:
            runner.run(func(**kwargs), timeout)
    return True


# fixtures


@pytest.fixture
def loop(request: pytest.FixtureRequest) -> str:
    """The event loop this test runs on: "asyncio" or "uvloop"."""
    kind: str = request.param
    return kind


@pytest.fixture
def tls_context() -> TLSContexts:
    """Fresh (server, client) SSL contexts for a trustme CA's "localhost"/127.0.0.1/::1 cert."""
    return make_tls_context()


@pytest.fixture
def unix_path(tmp_path: Path) -> Iterator[str]:
    """A free Unix socket path, short enough for sun_path."""
    path = free_unix_path(tmp_path)
    yield path
    parent = Path(path).parent
    if parent != tmp_path:  # fallback directory made by free_unix_path
        shutil.rmtree(parent, ignore_errors=True)
