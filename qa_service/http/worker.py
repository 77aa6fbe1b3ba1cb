"""The gunicorn worker of ``qa-service serve``: requests are read whole before a thread sees them.

gunicorn's ``gthread`` worker hands a connection to a thread as soon as its first byte arrives, and the
thread then reads the rest with blocking calls: a client that trickles its headers or body holds a
thread, and a few dozen such clients hold them all (``/readyz`` included). This worker keeps the
``gthread`` layout (an event loop that accepts, a pool of threads that answers) but moves all reading
into the event loop: each connection is read with non-blocking calls into a buffer until one request
(headers and body, ``Content-Length`` or chunked) is complete, and only then is it given to a thread,
whose parser reads from that buffer and never from the socket. Reading has a deadline
(``QA_READ_TIMEOUT`` from the first byte of a request, or from the connection's start); a connection
past it gets ``408`` and is closed. A request the service will refuse anyway is answered from the loop
with a JSON error and closed: a body over ``QA_MAX_BODY_BYTES`` (``413``), headers over 64 KiB
(``431``), a transfer coding other than ``chunked`` (``501``). Errors gunicorn's parser finds in a
buffered request are answered as JSON too (see :func:`parser_error_status`), all with the service's
security headers; the log never shows the request line, which may carry a key in its query string.

A request that arrives while no thread is answering one is answered by the event loop's own thread
(nothing to hand over: no thread to wake, no callback back to the loop). Should it run longer than
``INLINE_SECONDS`` (a slow encoder, a client that does not read its answer), a standby thread takes
the loop over until it ends, so that other connections are still read, handed to threads, and refused
with 503 when the gate is full, as before.

Workers share one listening socket and each takes the connections it wins: 16 kept-alive clients came
out 12 and 4, and the worker with 12 made them wait three times as long. A worker holding more than its
share of the open connections (``ConnectionShare``, counted across workers) stops accepting until the
others catch up; some worker always accepts.

Plain HTTP/1.x only: TLS, HTTP/2 and the uWSGI protocol are left to a proxy in front.
"""

from __future__ import annotations

import contextlib
import errno
import json
import multiprocessing
import selectors
import socket
import threading
import time
from functools import partial
from typing import Any

from gunicorn import http
from gunicorn.http import errors as gerrors
from gunicorn.http.unreader import Unreader
from gunicorn.workers.gthread import TConn, ThreadWorker

from .headers import SECURITY_HEADERS

#: Longest header block read before the request is refused with 431 (gunicorn's own limits are larger).
MAX_HEADER_BYTES = 64 * 1024

#: Bytes read from a socket per event.
RECV_BYTES = 64 * 1024

#: Seconds a closing connection may take to read our FIN before it is closed outright.
LINGER_SECONDS = 2.0

#: Seconds between two sweeps for connections past their deadline.
SWEEP_SECONDS = 0.2

#: Seconds an idle kept-alive connection stays open once the worker is stopping (as gunicorn's gthread).
STOP_LINGER_SECONDS = 2.0

#: Seconds a request answered by the loop's thread runs (to twice that) before the standby thread takes the loop over.
INLINE_SECONDS = 0.02

#: Seconds between two heartbeats to the arbiter (gunicorn kills a worker silent for its ``timeout``).
NOTIFY_SECONDS = 1.0

_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    408: "Request Timeout",
    413: "Content Too Large",
    414: "URI Too Long",
    417: "Expectation Failed",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
}

_CODES = {
    400: "bad_request",
    403: "forbidden",
    408: "request_timeout",
    413: "payload_too_large",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "request_header_fields_too_large",
    500: "internal_error",
    501: "not_implemented",
}

_MESSAGES = {
    400: "The request is not valid HTTP/1.1.",
    403: "The request is forbidden.",
    408: "The request was not sent completely in time.",
    414: "The request line is too long.",
    417: "Only 'Expect: 100-continue' is supported.",
    431: "The request's headers are too large.",
    500: "The service failed to answer; the error was logged.",
    501: "Unsupported Transfer-Encoding: only 'chunked' is accepted.",
}


def parser_error_status(exc: BaseException) -> int:
    """The status gunicorn gives an error its parser raised (400 for any malformed request)."""
    if isinstance(exc, gerrors.UnsupportedTransferCoding):
        return 501
    if isinstance(exc, gerrors.LimitRequestLine):
        return 414
    if isinstance(exc, gerrors.LimitRequestHeaders):
        return 431
    if isinstance(exc, gerrors.ExpectationFailed):
        return 417
    if isinstance(exc, gerrors.ForbiddenProxyRequest):
        return 403
    if isinstance(exc, gerrors.ParseException):
        return 400
    return 500


def error_bytes(status: int, message: str | None = None, extra: dict[str, str] | None = None) -> bytes:
    """A complete ``Connection: close`` response with a JSON error body and the security headers."""
    body = json.dumps({"error": {"code": _CODES.get(status, "error"), "message": message or _MESSAGES[status]}})
    headers = {
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        "Connection": "close",
        **SECURITY_HEADERS,
        **(extra or {}),
    }
    head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return (head + "\r\n" + body).encode("latin-1")


class Incomplete(Exception):
    """More bytes are needed to know where the request ends."""


class Refused(Exception):
    """The request is refused from the event loop with ``status``."""

    def __init__(self, status: int, message: str | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.message = message


class Framing:
    """Finds where one HTTP/1.x request ends as its bytes arrive.

    Each call resumes where the last one stopped, so a request trickled a byte at a time costs time in
    proportion to its size, not to its size squared.
    """

    def __init__(self, max_body: int) -> None:
        self.max_body = max_body
        self.start = 0  # where the request line starts (after empty lines)
        self.scanned = 0  # bytes searched for the end of the headers
        self.body_start: int | None = None
        self.length = 0
        self.chunked = False
        self.pos = 0  # the next chunk (or trailer line) to read
        self.size_total = 0
        self.chunks = 0
        self.trailers = False

    def end(self, data: bytes | bytearray) -> int:
        """Where the request ends in ``data`` (the bytes read so far, growing between calls).

        Raises:
            Incomplete: its end has not arrived yet.
            Refused: it is refused without reading further (too large, unsupported coding, no framing).
        """
        if self.body_start is None:
            self._headers(data)
        if self.chunked:
            return self._chunks(data)
        if len(data) < self.body_start + self.length:
            raise Incomplete
        return self.body_start + self.length

    def _headers(self, data: bytes | bytearray) -> None:
        while data.startswith(b"\r\n", self.start):  # empty lines before a request are ignored (RFC 9112 2.2)
            self.start += 2
            if self.start > 1024:
                raise Refused(400, "Too many empty lines before the request.")
        head_end = data.find(b"\r\n\r\n", max(self.start, self.scanned - 3))
        if head_end < 0:
            self.scanned = len(data)
            if len(data) - self.start > MAX_HEADER_BYTES:
                raise Refused(431)
            raise Incomplete
        if head_end - self.start > MAX_HEADER_BYTES:
            raise Refused(431)
        lengths: list[str] = []
        codings: list[str] = []
        for line in bytes(data[self.start : head_end]).split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                lengths.append(value.strip().decode("latin-1"))
            elif name == b"transfer-encoding":
                codings.extend(c.strip().lower() for c in value.decode("latin-1").split(",") if c.strip())
        if codings and lengths:
            raise Refused(400, "Both Content-Length and Transfer-Encoding.")
        if codings and codings != ["chunked"]:
            raise Refused(501)
        if lengths and (len(set(lengths)) != 1 or not lengths[0].isdigit()):
            raise Refused(400, "The Content-Length header is not valid.")
        length = int(lengths[0]) if lengths else 0
        if length > self.max_body:
            raise Refused(413, f"Request body too large (limit {self.max_body} bytes)")
        self.body_start = self.pos = head_end + 4
        self.length = length
        self.chunked = bool(codings)

    def _chunks(self, data: bytes | bytearray) -> int:
        while True:
            if self.pos - self.body_start > 2 * self.max_body + MAX_HEADER_BYTES:
                raise Refused(413, f"Request body too large (limit {self.max_body} bytes)")
            line_end = data.find(b"\r\n", self.pos)
            if line_end < 0:
                if self.trailers and len(data) - self.pos > MAX_HEADER_BYTES:
                    raise Refused(431)
                if not self.trailers and len(data) - self.pos > 1024:
                    raise Refused(400, "A chunk size line is too long.")
                raise Incomplete
            if self.trailers:  # trailer fields, ended by an empty line
                if line_end == self.pos:
                    return line_end + 2
                self.pos = line_end + 2
                continue
            size_text = bytes(data[self.pos : line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16) if 0 < len(size_text) <= 8 else -1
            except ValueError:
                size = -1
            if size < 0:
                raise Refused(400, "A chunk size is not valid.")
            if size == 0:
                self.trailers = True
                self.pos = line_end + 2
                continue
            if self.size_total + size > self.max_body:
                raise Refused(413, f"Request body too large (limit {self.max_body} bytes)")
            chunk_end = line_end + 2 + size + 2
            if len(data) < chunk_end:
                raise Incomplete
            if data[chunk_end - 2 : chunk_end] != b"\r\n":
                raise Refused(400, "A chunk does not end where its size says.")
            self.size_total += size
            self.pos = chunk_end


def request_end(data: bytes | bytearray, max_body: int) -> int:
    """Where the first HTTP/1.x request of ``data`` ends (see :meth:`Framing.end`)."""
    return Framing(max_body).end(data)


def expects_continue(data: bytes | bytearray) -> bool:
    """Whether a request whose headers have arrived asks for ``100 Continue`` (HTTP/1.1 only)."""
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        return False
    lines = bytes(data[:head_end]).lstrip(b"\r\n").split(b"\r\n")
    if not lines[0].rstrip().endswith(b"HTTP/1.1"):
        return False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"expect" and value.strip().lower() == b"100-continue":
            return True
    return False


class BufferUnreader(Unreader):
    """What gunicorn's parser reads: the complete requests the event loop gave it, then end of input."""

    def __init__(self) -> None:
        super().__init__()
        self.ready = b""

    def chunk(self, size_hint: int | None = None) -> bytes:
        data, self.ready = self.ready, b""
        return data


class HeadWithBody:
    """A socket whose first ``sendall`` (gunicorn's status line and headers) waits to go out with the next
    write (the body), so that a response leaves in one write, to be read in one wake-up, and not two.

    Whatever is held is written before any other kind of send (``sendfile`` for a file's body) and by
    :meth:`flush`, which the worker calls when the response is done (one without a body).
    """

    _SENDS = frozenset({"send", "sendfile", "sendmsg", "sendto"})

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.held = b""
        self.first = True

    def sendall(self, data: bytes, *args: Any) -> None:
        if self.first and not args:
            self.first = False
            self.held = bytes(data)
            return
        self.first = False
        if self.held:
            data, self.held = self.held + data, b""
        self.sock.sendall(data, *args)

    def flush(self) -> None:
        """Write what is held (the headers of a response without a body)."""
        self.first = False
        if self.held:
            data, self.held = self.held, b""
            self.sock.sendall(data)

    def __getattr__(self, name: str) -> Any:
        if name in self._SENDS:
            self.flush()
        return getattr(self.sock, name)


class SettledConfig:
    """gunicorn's configuration read once per setting: its ``Config`` looks each setting up anew on every
    read, and parsing and answering one request read a few dozen. A worker's settings do not change (a
    reload starts new workers)."""

    def __init__(self, cfg: Any) -> None:
        self._cfg = cfg

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._cfg, name)
        self.__dict__[name] = value
        return value


class ConnectionShare:
    """The connections open in all the workers of one server, counted in memory they share (made before
    the fork), so that a worker can tell whether it holds more than its share."""

    def __init__(self) -> None:
        self.total = multiprocessing.Value("q", 0)

    def add(self, count: int) -> None:
        with self.total.get_lock():
            self.total.value += count

    def over(self, own: int, workers: int) -> bool:
        """Whether a worker with ``own`` connections holds more than ``(total + 1) / workers`` of them. Not
        every worker can be over at once, so some worker always accepts."""
        return workers > 1 and own * workers > self.total.value + 1


class Reading:
    """A connection being read by the event loop: its bytes so far and its deadline."""

    def __init__(self, conn: TConn, deadline: float, idle: bool, framing: Framing) -> None:
        self.conn = conn
        self.buffer = bytearray()
        self.framing = framing
        self.deadline = deadline
        self.idle = idle  # no byte of the next request yet (a kept-alive connection)
        self.continued = False  # the headers were checked for "Expect: 100-continue"


class BufferingWorker(ThreadWorker):
    """``gthread`` with every request read whole, with a deadline, before a thread answers it.

    ``read_timeout`` and ``max_body`` are set by :func:`buffering_worker` from the settings.
    """

    read_timeout: float = 10.0
    max_body: int = 16 * 1024
    share: ConnectionShare | None = None  # the server's count of open connections (None: not balanced)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reading: dict[TConn, Reading] = {}
        self.lingering: dict[socket.socket, float] = {}
        self.next_sweep = 0.0
        self.next_notify = 0.0
        self.counted = 0  # this worker's connections in ``share``
        self.in_pool = 0  # requests handed to the thread pool and not finished
        self.inline: TConn | None = None  # a request the loop's thread answers once its events are dispatched
        self.inline_started: float | None = None  # when the loop's thread began answering one
        self.loop_lock = threading.Lock()  # held by whichever thread runs the event loop
        self.loop_thread = 0
        self.standby_active = False

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        if cfg.is_ssl or getattr(cfg, "protocol", "http") != "http" or cfg.http2_cleartext != "off":
            raise RuntimeError("the buffering worker serves plain HTTP/1.x; put TLS and HTTP/2 in a proxy")
        super().check_config(cfg, log)

    def init_process(self) -> None:
        self.cfg = SettledConfig(self.cfg)
        super().init_process()

    def run(self) -> None:
        self.loop_thread = threading.get_ident()
        threading.Thread(target=self._standby, name="qa-loop-standby", daemon=True).start()
        try:
            super().run()
        finally:
            self._count(-self.counted)

    def _count(self, change: int) -> None:
        if self.share is not None and change:
            self.counted += change
            self.share.add(change)

    def set_accept_enabled(self, enabled: bool) -> None:
        """Accept while under the worker's share of the server's connections (and gunicorn's own limit)."""
        if enabled and self.share is not None and self.share.over(self.counted, self.cfg.workers):
            enabled = False
        super().set_accept_enabled(enabled)

    def notify(self) -> None:
        """Tell the arbiter the worker is alive, at most once every ``NOTIFY_SECONDS`` (a syscall each time)."""
        now = time.monotonic()
        if now >= self.next_notify:
            self.next_notify = now + NOTIFY_SECONDS
            super().notify()

    # -- the loop's thread answers a request when no other thread is answering one --------------------

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        with self.loop_lock:
            super().wait_for_and_dispatch_events(timeout)
        while self.inline is not None:
            conn, self.inline = self.inline, None
            self.inline_started = time.monotonic()
            keep = False
            try:
                keep = self.handle(conn)
            finally:
                self.inline_started = None
                if self.standby_active:
                    self.method_queue.defer(_nothing)  # wake the standby's select: the loop is ours again
            with self.loop_lock:
                self._after_request(conn, keep)

    def _standby(self) -> None:
        """Run the event loop while a request answered by the loop's thread takes longer than ``INLINE_SECONDS``."""
        while True:
            time.sleep(INLINE_SECONDS)  # a look every 20 ms: each takes the GIL from a request that holds it
            started = self.inline_started
            if started is None or time.monotonic() - started < INLINE_SECONDS:
                continue
            with self.loop_lock:
                self.standby_active = True
                try:
                    while self.inline_started is not None:
                        ThreadWorker.wait_for_and_dispatch_events(self, 0.1)
                        self.murder_keepalived()
                        self.murder_pending()
                        self.notify()
                except Exception:
                    self.log.exception("the standby event loop failed")
                finally:
                    self.standby_active = False

    def enqueue_req(self, conn: TConn) -> None:
        """Answer in the loop's own thread when no request is being answered, else hand to the pool."""
        if (
            self.inline is None
            and self.in_pool == 0
            and self.inline_started is None
            and threading.get_ident() == self.loop_thread
        ):
            self.inline = conn
            return
        self.in_pool += 1
        super().enqueue_req(conn)

    # -- the event loop: accept, read, hand over, close -------------------------------------------

    def accept(self, listener: socket.socket) -> None:
        try:
            client, address = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        self._count(1)
        if self._accepting:
            self.set_accept_enabled(True)  # stops accepting if this connection put the worker over its share
        conn = TConn(self.cfg, client, address, listener.getsockname())  # non-blocking from here
        conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
        conn.parser.unreader = BufferUnreader()
        conn.initialized = conn.data_ready = True  # the thread must neither wait for data nor sniff for h2
        self._start_reading(conn, bytearray(), idle=False)

    def _start_reading(self, conn: TConn, leftover: bytearray, idle: bool) -> None:
        """Read the connection's next request in the event loop (``leftover``: bytes already read)."""
        idle = idle and not leftover
        wait = self.cfg.keepalive if idle else self.read_timeout
        if idle and not self.alive:
            wait = min(wait, STOP_LINGER_SECONDS)
        state = Reading(conn, time.monotonic() + wait, idle, Framing(self.max_body))
        state.buffer = leftover
        if leftover and self._dispatch(state):
            return
        conn.sock.setblocking(False)
        self.reading[conn] = state
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, state))

    def _on_readable(self, state: Reading, _sock: socket.socket) -> None:
        try:
            data = state.conn.sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self._stop_reading(state)
            self._close(state.conn)
            return
        if state.idle:
            state.idle = False
            state.deadline = time.monotonic() + self.read_timeout
        state.buffer += data
        self._dispatch(state)

    def _dispatch(self, state: Reading) -> bool:
        """Give a complete request to a thread, or refuse it; False while it is incomplete."""
        try:
            end = state.framing.end(state.buffer)
        except Incomplete:
            if not state.continued and state.framing.body_start is not None:
                state.continued = True  # looked for once, when the headers are in
                if expects_continue(state.buffer):
                    # The client waits for this before it sends the body (RFC 9110 10.1.1).
                    with contextlib.suppress(OSError):
                        state.conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            return False
        except Refused as refused:
            self._stop_reading(state)
            self._refuse(state.conn, refused.status, refused.message)
            return True
        self._stop_reading(state)
        conn = state.conn
        conn.parser.unreader.ready = bytes(state.buffer[:end])
        conn.pending_bytes = state.buffer[end:]
        self.enqueue_req(conn)
        return True

    def _stop_reading(self, state: Reading) -> None:
        if self.reading.pop(state.conn, None) is not None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.poller.unregister(state.conn.sock)

    def _refuse(self, conn: TConn, status: int, message: str | None = None) -> None:
        """Answer from the loop (a small response fits in the socket's buffer) and close."""
        self.log.info("refused a request from %s: %s", conn.client[0] if conn.client else "-", status)
        with contextlib.suppress(OSError):
            conn.sock.send(error_bytes(status, message))
        self._close(conn)

    def _close(self, conn: TConn) -> None:
        """Close a connection without blocking the loop: send FIN, then read until the peer closes too."""
        self.nr_conns -= 1
        self._count(-1)
        sock = conn.sock
        try:
            sock.setblocking(False)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            sock.close()
            return
        self.lingering[sock] = time.monotonic() + LINGER_SECONDS
        self.poller.register(sock, selectors.EVENT_READ, self._on_linger_readable)

    def _on_linger_readable(self, sock: socket.socket) -> None:
        try:
            if sock.recv(RECV_BYTES):
                return
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            pass
        self._drop_lingering(sock)

    def _drop_lingering(self, sock: socket.socket) -> None:
        self.lingering.pop(sock, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(sock)
        sock.close()

    def murder_pending(self) -> None:
        """Time out connections past their reading deadline (408 when a request had begun) and lingering
        closes; called by gunicorn's loop after each batch of events and at least once a second."""
        super().murder_pending()
        now = time.monotonic()
        if now < self.next_sweep:  # the loop comes here after every batch of events: sweep 5 times a second
            return
        self.next_sweep = now + SWEEP_SECONDS
        for state in list(self.reading.values()):
            if not self.alive and state.idle:
                state.deadline = min(state.deadline, now + STOP_LINGER_SECONDS)
            if state.deadline <= now:
                self._stop_reading(state)
                if state.idle:
                    self._close(state.conn)
                else:
                    self._refuse(state.conn, 408)
        for sock, deadline in list(self.lingering.items()):
            if deadline <= now:
                self._drop_lingering(sock)

    def finish_request(self, conn: TConn, fs: Any) -> None:
        """A thread answered: read the connection's next request in the loop, or close it."""
        self.in_pool -= 1
        try:
            keep = bool(fs.result()) if not fs.cancelled() else False
        except Exception:
            keep = False
        self._after_request(conn, keep)

    def _after_request(self, conn: TConn, keep: bool) -> None:
        if keep:
            self._start_reading(conn, getattr(conn, "pending_bytes", bytearray()), idle=True)
        else:
            self._close(conn)

    # -- in a thread -----------------------------------------------------------------------------

    def handle_request(self, req: Any, conn: TConn) -> Any:
        # Writes block, bounded like reads: a client that does not read its answer frees the thread.
        conn.sock.settimeout(self.read_timeout)
        req._expected_100_continue = False  # the body is here already (the loop sent any 100 Continue)
        sock = conn.sock
        conn.sock = out = HeadWithBody(sock)
        try:
            return super().handle_request(req, conn)
        finally:
            conn.sock = sock
            with contextlib.suppress(OSError):  # a failed response has closed the connection already
                out.flush()

    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: BaseException) -> None:
        """Answer an error of gunicorn's parser (or a failure outside the app) as JSON, and log it without
        the request line or headers, which may hold credentials."""
        status = parser_error_status(exc)
        ip = addr[0] if addr else "-"
        if status == 500:
            self.log.exception("failed to answer a request from %s", ip)
        else:
            self.log.warning("invalid request from %s: %s (%d)", ip, type(exc).__name__, status)
        try:
            client.sendall(error_bytes(status))
        except OSError:
            self.log.debug("could not send the error response")


def _nothing() -> None:
    """A callback that only wakes the event loop."""


def buffering_worker(read_timeout: float, max_body: int) -> type[BufferingWorker]:
    """The worker class with the service's reading deadline and body limit, and a count of connections its
    workers share (make it in the master, before the workers are forked)."""
    attributes = {"read_timeout": read_timeout, "max_body": max_body, "share": ConnectionShare()}
    return type("QAWorker", (BufferingWorker,), attributes)


__all__ = ["BufferingWorker", "Framing", "buffering_worker", "error_bytes", "request_end"]
