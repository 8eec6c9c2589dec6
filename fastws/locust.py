"""
Locust integration: :class:`WebSocketUser` drives fastws connections from Locust users.

Install with ``pip install "fastws[locust]"``. Importing this module imports Locust, which
monkey-patches the standard library with gevent; ``import fastws`` alone never does.

How it works (``docs/locust.md`` has the details and a measured comparison):

- Each Locust process (a worker, or a standalone ``locust``) runs one asyncio event loop (uvloop
  when installed) in a real OS thread, started with the *original* ``_thread.start_new_thread``.
  On the stdlib loop, the selector is the original one and connections use sockets made by the
  original ``socket.socket``: gevent's patched versions would block or switch greenlets inside
  a thread that has no running gevent hub.
- A user's greenlet hands a coroutine to that loop (``loop.call_soon_threadsafe``) and waits on a
  ``gevent.event.AsyncResult``: the greenlet sleeps, the gevent hub and the other users go on.
- The loop thread measures every connect and message with ``time.perf_counter()`` where the
  work happens, then queues the result, with the call that wakes the waiting greenlet, for the
  gevent thread. One gevent ``async_`` watcher (a thread-safe wake-up, no polling) tells a
  dispatcher greenlet to drain that queue; it fires ``environment.events.request`` there, in
  Locust's own thread, so master/worker mode, the web UI, the CSV files and the charts see
  ordinary Locust requests, with sub-millisecond response times.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

import gevent  # type: ignore[import-untyped]
import gevent.event  # type: ignore[import-untyped]
import gevent.monkey  # type: ignore[import-untyped]
from locust import User
from locust.env import Environment
from locust.exception import StopUser

from .asyncio.client import connect
from .asyncio.protocol import WebSocketClientProtocol
from .typing import Data
from .uri import parse_uri

__all__ = ["EVENT_LOOPS", "WebSocketClient", "WebSocketUser", "shutdown"]

T = TypeVar("T")

logger = logging.getLogger("fastws.locust")

#: Values of ``WebSocketUser.event_loop`` and of the ``FASTWS_LOCUST_LOOP`` environment variable.
EVENT_LOOPS = ("auto", "uvloop", "asyncio")

# The standard library as it was before gevent patched it: the loop thread must block in the
# kernel (select, connect), never in a gevent hub.
_start_new_thread = gevent.monkey.get_original("_thread", "start_new_thread")
_Selector = gevent.monkey.get_original("selectors", "DefaultSelector")
_socket, _getaddrinfo = gevent.monkey.get_original("socket", ["socket", "getaddrinfo"])


def _new_event_loop(kind: str) -> tuple[asyncio.AbstractEventLoop, str]:
    """Create the loop of the loop thread: uvloop if asked or, for "auto", if installed."""
    if kind != "asyncio":
        try:
            import uvloop
        except ImportError:
            if kind == "uvloop":
                raise
        else:
            return uvloop.new_event_loop(), "uvloop"
    # asyncio's wake-up socket pair comes from the patched socket module: gevent wraps it, but
    # the loop keeps it non-blocking, so each call goes straight to the OS.
    return asyncio.SelectorEventLoop(_Selector()), "asyncio"


class _Job:
    """A coroutine submitted by a greenlet, run by the loop thread."""

    __slots__ = ("coro", "result", "runner", "task", "cancelled")

    def __init__(
        self, runner: _LoopThread, coro: Coroutine[Any, Any, Any], result: gevent.event.AsyncResult
    ) -> None:
        self.runner = runner
        self.coro = coro
        self.result = result
        self.task: asyncio.Task[Any] | None = None
        self.cancelled = False

    def start(self) -> None:
        """Loop thread: run the coroutine as a task."""
        if self.cancelled:
            self.coro.close()
            return
        self.task = self.runner.loop.create_task(self.coro)
        self.task.add_done_callback(self.done)

    def done(self, task: asyncio.Task[Any]) -> None:
        """Loop thread: hand the outcome to the waiting greenlet."""
        if task.cancelled():
            # The greenlet cancelled it (and doesn't wait any more), or the loop is shutting
            # down: stop the user as Locust does, without an error.
            self.runner.post(self.result.set_exception, StopUser("cancelled"))
            return
        exc = task.exception()
        if exc is None:
            self.runner.post(self.result.set, task.result())
        else:
            self.runner.post(self.result.set_exception, exc)

    def cancel(self) -> None:
        """Loop thread: the greenlet stopped waiting (it was killed): cancel the task."""
        self.cancelled = True
        if self.task is not None:
            self.task.cancel()


class _LoopThread:
    """
    One asyncio event loop in a real OS thread, and the way back to the gevent thread.

    Created, used and stopped from the gevent thread; ``post`` and ``connections`` are the only
    members the loop thread uses.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.loop: asyncio.AbstractEventLoop
        self.backend = ""  # "uvloop" or "asyncio", once the loop runs
        self.ignored_kinds: set[str] = set()  # event_loop values asked for too late (warned)
        self.connections: set[WebSocketClientProtocol] = set()  # loop thread only
        # Callbacks for the gevent thread. deque.append and popleft are atomic: the loop thread
        # appends, the dispatcher greenlet pops.
        self._inbox: deque[tuple[Callable[..., object], tuple[Any, ...]]] = deque()
        self._signalled = False
        self._wake = gevent.event.Event()
        self._watcher = gevent.get_hub().loop.async_()
        self._watcher.start(self._wake.set)  # runs in the hub: only sets the event
        self._dispatcher = gevent.spawn(self._dispatch)
        self._ready = gevent.event.AsyncResult()
        self._stopped = gevent.event.AsyncResult()
        self.closing = False
        _start_new_thread(self._run, ())

    # Loop thread.

    def post(self, func: Callable[..., object], *args: Any) -> None:
        """Any thread: have the gevent thread call ``func(*args)``, in order of posting."""
        self._inbox.append((func, args))
        if not self._signalled:
            self._signalled = True
            self._watcher.send()  # thread-safe; wake-ups coalesce

    def _run(self) -> None:
        try:
            loop, self.backend = _new_event_loop(self.kind)
        except BaseException as exc:
            self.post(self._ready.set_exception, exc)
            self.post(self._stopped.set, None)
            return
        self.loop = loop
        self.post(self._ready.set, loop)
        try:
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
        except BaseException:  # a bug: say so, don't die silently
            logger.exception("the event loop thread failed")
        finally:
            loop.close()
            self.post(self._stopped.set, None)

    async def _shutdown(self, close_timeout: float) -> None:
        if self.connections:
            closing = [asyncio.ensure_future(ws.close()) for ws in list(self.connections)]
            await asyncio.wait(closing, timeout=close_timeout)
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=close_timeout)
        self.loop.stop()

    # Gevent thread.

    def _dispatch(self) -> None:
        inbox = self._inbox
        while True:
            self._wake.wait()
            self._wake.clear()
            self._signalled = False  # before draining: a later post sends a new wake-up
            while inbox:
                func, args = inbox.popleft()
                try:
                    func(*args)
                except Exception:
                    logger.exception("error in %r", func)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Greenlet: wait until the loop runs (raise what stopped it from starting)."""
        self._ready.get(timeout=timeout)

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Greenlet: run ``coro`` on the loop and return its result; only this greenlet waits."""
        result = gevent.event.AsyncResult()
        job = _Job(self, coro, result)
        try:
            self.loop.call_soon_threadsafe(job.start)
        except RuntimeError:  # the loop is closed
            coro.close()
            raise
        try:
            value: T = result.get()
        except BaseException:
            if not result.ready():  # killed or timed out while waiting: stop the work too
                try:
                    self.loop.call_soon_threadsafe(job.cancel)
                except RuntimeError:  # the loop closed meanwhile
                    pass
            raise
        return value

    def stop(self, close_timeout: float = 2.0) -> None:
        """Gevent thread: close the connections, stop the loop and its thread."""
        if self.closing:
            return
        self.closing = True
        if self._ready.ready() and self._ready.successful():
            shutdown = self._shutdown(close_timeout)
            try:
                self.loop.call_soon_threadsafe(self.loop.create_task, shutdown)
            except RuntimeError:  # the loop closed already
                shutdown.close()
            try:
                self._stopped.get(timeout=2 * close_timeout + 1)
            except gevent.Timeout:
                logger.warning("the event loop thread didn't stop in time")
        self._watcher.stop()
        self._watcher.close()
        self._dispatcher.kill(block=False)


_runner: _LoopThread | None = None
_quitting_hooked: set[int] = set()  # ids of the environments whose quitting event stops _runner


def _get_runner(kind: str, environment: Environment | None) -> _LoopThread:
    """Greenlet: the process's loop thread, started on first use."""
    global _runner
    if kind not in EVENT_LOOPS:
        raise ValueError(f"event_loop must be one of {', '.join(EVENT_LOOPS)}, not {kind!r}")
    runner = _runner
    if runner is None or runner.closing:
        runner = _runner = _LoopThread(kind)
        runner.wait_ready()
        logger.info("%s event loop running in its own thread", runner.backend)
    elif runner.kind != kind and kind not in runner.ignored_kinds:
        runner.ignored_kinds.add(kind)
        logger.warning(
            "event_loop=%r ignored: the loop thread already runs %r",
            kind,
            runner.kind,
        )
    if environment is not None and id(environment) not in _quitting_hooked:
        _quitting_hooked.add(id(environment))
        quitting = environment.events.quitting
        quitting.add_listener(lambda **_: shutdown())  # type: ignore[no-untyped-call]
    runner.wait_ready()
    return runner


def shutdown() -> None:
    """
    Close every fastws connection of this process and stop its event loop thread.

    Called when Locust quits (its ``quitting`` event) and at exit; a later request starts a new
    loop thread.
    """
    global _runner
    runner, _runner = _runner, None
    if runner is not None:
        try:
            runner.stop()
        except Exception:  # at exit, gevent may be half torn down already
            logger.debug("shutdown failed", exc_info=True)


atexit.register(shutdown)


async def _open(uri: str, backend: str, kwargs: dict[str, Any]) -> WebSocketClientProtocol:
    """Loop thread: open a connection; on the stdlib loop, over an unpatched socket."""
    if backend == "asyncio" and kwargs.get("sock") is None:
        # loop.create_connection() would make a gevent socket and resolve the name in an
        # executor whose "threads" are greenlets nobody runs here: connect the socket first.
        wsuri = parse_uri(uri)
        host = kwargs.pop("host", None) or wsuri.host
        port = kwargs.pop("port", None) or wsuri.port
        loop = asyncio.get_running_loop()
        timeout = kwargs.get("open_timeout", 10)
        # The unpatched resolver blocks this thread: instant for an IP address or /etc/hosts.
        infos = _getaddrinfo(host, port, type=socket.SOCK_STREAM)
        error: OSError | None = None
        for family, type_, proto, _, address in infos:
            sock = _socket(family, type_, proto)
            sock.setblocking(False)
            try:
                await asyncio.wait_for(loop.sock_connect(sock, address), timeout)
            except BaseException as exc:
                sock.close()
                if not isinstance(exc, OSError):
                    raise
                error = exc
            else:
                return await connect(uri, sock=sock, **kwargs)
        assert error is not None  # getaddrinfo returns at least one address or raises
        raise error
    return await connect(uri, **kwargs)


class WebSocketClient:
    """
    The fastws connection of one Locust user, used from the user's greenlet.

    Every method blocks only the calling greenlet. Each measured operation fires one Locust
    request event (``request_type``, ``name``, response time in milliseconds as a float,
    ``response_length`` in bytes or characters); ``name=None`` skips the event. A failure is
    reported (with the exception) and then raised in the greenlet.

    Args:
        environment: the Locust environment whose ``events.request`` receives the results.
        url: default ws:// or wss:// URI for :meth:`connect`.
        request_type: the request type of every event.
        connect_kwargs: keyword arguments for :func:`fastws.connect`.
        event_loop: "auto" (uvloop when installed), "uvloop" or "asyncio"; defaults to the
            ``FASTWS_LOCUST_LOOP`` environment variable, else "auto". One loop serves the
            whole process: the first client to connect chooses it.
        context: returns the ``context`` dict of each event (``User.context``).
    """

    def __init__(
        self,
        environment: Environment,
        *,
        url: str | None = None,
        request_type: str = "WS",
        connect_kwargs: Mapping[str, Any] | None = None,
        event_loop: str | None = None,
        context: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.environment = environment
        self.url = url
        self.request_type = request_type
        self.connect_kwargs = dict(connect_kwargs or {})
        self.event_loop = event_loop or os.environ.get("FASTWS_LOCUST_LOOP") or "auto"
        self.context = context
        self._runner: _LoopThread | None = None
        self._websocket: WebSocketClientProtocol | None = None

    @property
    def websocket(self) -> WebSocketClientProtocol | None:
        """
        The open connection, or None: use it only in coroutines passed to :meth:`run`.
        """
        return self._websocket

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop of the loop thread (started on first use)."""
        return self._get_runner().loop

    def _get_runner(self) -> _LoopThread:
        runner = self._runner
        if runner is None or runner.closing:
            runner = self._runner = _get_runner(self.event_loop, self.environment)
        return runner

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """
        Run ``coro`` on the loop thread and return its result; only this greenlet waits.

        If the greenlet is killed meanwhile (Locust stopping the user), the task is cancelled.
        Inside ``coro``, use :attr:`websocket` and :meth:`report`, never Locust itself.
        """
        return self._get_runner().call(coro)

    def report(
        self,
        name: str,
        start: float,
        *,
        response_length: int = 0,
        exception: BaseException | None = None,
    ) -> None:
        """
        Loop thread: report one request that began at ``start`` (``time.perf_counter()``).

        The response time is measured now; the event fires in Locust's thread soon after.
        """
        end = time.perf_counter()
        meta = {
            "request_type": self.request_type,
            "name": name,
            "response_time": (end - start) * 1000.0,
            "response_length": response_length,
            "exception": exception,
            "start_time": time.time() - (end - start),
            "url": self.url,
            "response": None,
        }
        self._get_runner_nowait().post(self._fire, meta)

    def _get_runner_nowait(self) -> _LoopThread:
        runner = self._runner
        if runner is None:
            raise RuntimeError("report() is for coroutines run by WebSocketClient.run()")
        return runner

    def _fire(self, meta: dict[str, Any]) -> None:
        meta["context"] = self.context() if self.context is not None else {}
        self.environment.events.request.fire(**meta)  # type: ignore[no-untyped-call]

    def _require_websocket(self) -> WebSocketClientProtocol:
        websocket = self._websocket
        if websocket is None:
            raise RuntimeError("not connected: call connect() first")
        return websocket

    # The greenlet-side methods.

    def connect(
        self, url: str | None = None, *, name: str | None = "connect", **kwargs: Any
    ) -> None:
        """
        Open the connection to ``url`` (default: the client's ``url``) and report it.

        A connection already open is closed first.

        Args:
            url: ws:// or wss:// URI.
            name: the event's name; None doesn't report.
            kwargs: added to ``connect_kwargs`` for :func:`fastws.connect`.
        """
        url = url or self.url
        if not url:
            raise ValueError("no URL: pass one, or set the user's host (--host ws://...)")
        self.close()
        self.url = url
        runner = self._get_runner()
        kwargs = {**self.connect_kwargs, **kwargs}
        self._websocket = self.run(self._connect(runner, url, name, kwargs))

    async def _connect(
        self, runner: _LoopThread, url: str, name: str | None, kwargs: dict[str, Any]
    ) -> WebSocketClientProtocol:
        start = time.perf_counter()
        try:
            websocket = await _open(url, runner.backend, kwargs)
        except Exception as exc:
            if name is not None:
                self.report(name, start, exception=exc)
            raise
        if name is not None:
            self.report(name, start)
        runner.connections.add(websocket)
        return websocket

    def send(self, message: Data, *, name: str | None = "send") -> None:
        """Send a message; the response time is the time ``send()`` took (flow control)."""
        websocket = self._require_websocket()
        self.run(self._exchange(websocket, message, name, None, None, receive=False))

    def recv(self, *, name: str | None = "recv", timeout: float | None = None) -> Data:
        """
        Receive the next message; the response time is how long it was awaited.

        Raises:
            TimeoutError: If no message arrived within ``timeout`` seconds.
        """
        websocket = self._require_websocket()
        return self.run(self._exchange(websocket, None, name, timeout, None))

    def request(
        self,
        message: Data,
        *,
        name: str | None = "request",
        timeout: float | None = None,
        expect: Data | None = None,
    ) -> Data:
        """
        Send ``message``, receive the next message and report the round trip.

        Args:
            message: what to send.
            name: the event's name; None doesn't report.
            timeout: seconds to wait for the reply; None waits forever.
            expect: if given, a reply that differs from it is a failure (ValueError).

        Returns:
            The reply.

        Raises:
            TimeoutError: If no reply arrived within ``timeout`` seconds.
            ValueError: If the reply isn't ``expect``.
        """
        websocket = self._require_websocket()
        return self.run(self._exchange(websocket, message, name, timeout, expect))

    async def _exchange(
        self,
        websocket: WebSocketClientProtocol,
        message: Data | None,
        name: str | None,
        timeout: float | None,
        expect: Data | None,
        receive: bool = True,
    ) -> Data:
        """
        Send ``message`` (unless None), then receive the next message (unless not ``receive``);
        report the time it all took as ``name``, with the length of the reply (or of the message
        sent, without ``receive``). Returns the reply (the message sent, without ``receive``).
        """
        start = time.perf_counter()
        try:
            if message is not None:
                await websocket.send(message)
            if not receive:
                assert message is not None
                reply = message
            elif timeout is None:
                reply = await websocket.recv()
            else:
                reply = await asyncio.wait_for(websocket.recv(), timeout)
            if expect is not None and reply != expect:
                raise ValueError(f"unexpected reply of {len(reply)} bytes or characters")
        except Exception as exc:
            if name is not None:
                self.report(name, start, exception=exc)
            raise
        if name is not None:
            self.report(name, start, response_length=len(reply))
        return reply

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection (closing handshake), if there is one; not reported."""
        websocket, self._websocket = self._websocket, None
        runner = self._runner
        if websocket is None or runner is None or runner.closing:
            return
        self.run(self._close(runner, websocket, code, reason))

    @staticmethod
    async def _close(
        runner: _LoopThread, websocket: WebSocketClientProtocol, code: int, reason: str
    ) -> None:
        try:
            await websocket.close(code, reason)
        finally:
            runner.connections.discard(websocket)


class WebSocketUser(User):
    """
    A Locust user with one fastws connection, ``self.client`` (a :class:`WebSocketClient`).

    ``on_start`` connects to the user's ``host`` (``--host ws://...``) and ``on_stop`` closes;
    tasks call ``self.client.request(...)``, ``send``, ``recv``, or ``run`` a coroutine. A
    subclass that overrides ``on_start`` or ``on_stop`` calls the parent's method.
    """

    abstract = True
    #: Keyword arguments for :func:`fastws.connect` (``compression``, ``ping_interval``...).
    connect_kwargs: Mapping[str, Any] = {}
    #: The request type of the events (the "Type" column).
    request_type = "WS"
    #: "auto", "uvloop" or "asyncio"; None: ``FASTWS_LOCUST_LOOP``, else "auto".
    event_loop: str | None = None

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.client = WebSocketClient(
            environment,
            url=self.host,
            request_type=self.request_type,
            connect_kwargs=self.connect_kwargs,
            event_loop=self.event_loop,
            context=self.context,
        )

    def on_start(self) -> None:
        """Open the connection to ``host`` (reported as "connect")."""
        self.client.connect()

    def on_stop(self) -> None:
        """Close the connection."""
        self.client.close()
