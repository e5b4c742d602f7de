"""Streamed output of a job: ``ctx.stream(key)``'s writer, its store in Redis, and its reader.

A job's output stream is a text, named by the job and a key (``text``, ``log``, ...), kept in
one Redis string per (job, key): not in the owner's numbered event history, which it would
flood. Writes are batched (every ``JOBS_OUTPUT_BATCH_MS`` or ``JOBS_OUTPUT_BATCH_BYTES``,
whichever comes first, and on close) and each batch is APPENDed, then relayed live to the
owner's sockets as ``{"type": "output", "job", "key", "offset", "text", "closed"}`` frames
(``realtime.send_transient``: not numbered, at most once). Offsets count UTF-8 bytes; every
batch, frame and REST page starts and ends on a character boundary, so a client that keeps
the offset it has seen can fill any hole over REST (``read_output``) and trim duplicates.

Retention: ``JOBS_OUTPUT_TTL_S`` after the last write. Size: a write that would take the
stream past ``JOBS_OUTPUT_MAX_BYTES`` raises ``OutputTooLarge`` in the body, and nothing of
that write is kept (what came before it is).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType

from redis.exceptions import RedisError

from jobs import conf
from jobs.exceptions import InvalidOutputOffset, OutputNotFound, OutputTooLarge
from realtime import send_transient
from realtime.redis import script, sync_client

logger = logging.getLogger(__name__)

KEY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
PAGE_BYTES = 1024 * 1024  # the most text one REST answer carries
FRAME_BYTES = 64 * 1024  # the most text one socket frame carries (a bigger batch is split)
FRAME_TYPE = "output"

# KEYS: the data, the job's hash of keys (key -> "1" closed, "0" open). ARGV: key, text,
# ttl (ms), max bytes, closed. Returns {start offset, new size}, or {-1, size} when refused.
_APPEND_LUA = """
local size = redis.call('STRLEN', KEYS[1])
if size + #ARGV[2] > tonumber(ARGV[4]) then return {-1, size} end
if #ARGV[2] > 0 then
  size = redis.call('APPEND', KEYS[1], ARGV[2])
elseif redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], '')
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return {size - #ARGV[2], size}
"""

# KEYS: the data, the job's hash of keys. ARGV: key, offset, bytes. {size, closed, text} or nil.
_READ_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local size = redis.call('STRLEN', KEYS[1])
local offset = tonumber(ARGV[2])
local text = ''
if offset < size then text = redis.call('GETRANGE', KEYS[1], offset, offset + tonumber(ARGV[3]) - 1) end
return {size, redis.call('HGET', KEYS[2], ARGV[1]) or '0', text}
"""


def data_key(job_id: str, key: str) -> str:
    return f"coucou:output:{{{job_id}}}:{key}"


def keys_key(job_id: str) -> str:
    return f"coucou:output:{{{job_id}}}"


def check_key(key: object) -> str:
    """``key`` if it is a valid output key; ValueError otherwise."""
    if not isinstance(key, str) or KEY.fullmatch(key) is None:
        raise ValueError(f"an output key matches {KEY.pattern}, not {key!r}")
    return key


def _boundary(data: bytes, cut: int) -> int:
    """The last character boundary at or before ``cut`` (never 0 if data is not empty)."""
    if cut >= len(data):
        return len(data)
    while cut > 0 and data[cut] & 0xC0 == 0x80:  # a UTF-8 continuation byte
        cut -= 1
    if cut == 0:  # one character longer than the limit: take it whole
        cut = 1
        while cut < len(data) and data[cut] & 0xC0 == 0x80:
            cut += 1
    return cut


def _pieces(data: bytes, limit: int) -> Iterator[tuple[int, bytes]]:
    start = 0
    while start < len(data):
        end = start + _boundary(data[start:], limit)
        yield start, data[start:end]
        start = end


class OutputWriter:
    """The writer ``ctx.stream(key)`` returns: ``write(text)``, ``close()``, or ``with``.

    ``write()`` is cheap (it buffers) and raises ``JobCancelled`` once the job is cancelled,
    ``OutputTooLarge`` past ``JOBS_OUTPUT_MAX_BYTES``, ``ValueError`` once closed. Buffered
    text is sent every ``JOBS_OUTPUT_BATCH_MS`` (by a background thread if the body goes
    quiet) or ``JOBS_OUTPUT_BATCH_BYTES``, on ``close()``, and when the attempt ends. A key
    written by an earlier attempt (a retry) is carried on, after what is there.
    """

    def __init__(
        self,
        *,
        job_id: str,
        owner_id: int,
        key: str,
        check_cancelled: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
        background: bool = True,
    ) -> None:
        self.job_id = job_id
        self.owner_id = owner_id
        self.key = check_key(key)
        settings = conf.get()
        self._ttl_ms = settings.output_ttl_s * 1000
        self._max_bytes = settings.output_max_bytes
        self._batch_s = settings.output_batch_s
        self._batch_bytes = settings.output_batch_bytes
        self._check_cancelled = check_cancelled
        self._clock = clock
        self._lock = threading.Lock()  # the buffer
        self._sending = threading.Lock()  # one batch at a time, in order
        self._buffer: list[bytes] = []
        self._pending = 0
        self._since: float | None = None  # when the oldest buffered write came
        self._closed = False
        self._refused: OutputTooLarge | None = None
        _, self._accepted = self._append(b"", closed=False)  # opens it, after earlier attempts' text
        if background:
            _flusher().watch(self)

    @property
    def size(self) -> int:
        """Bytes in the stream once what this writer holds is sent (UTF-8)."""
        return self._accepted

    @property
    def closed(self) -> bool:
        return self._closed

    def write(self, text: str) -> None:
        """Append ``text`` to the stream (sent within a batch)."""
        if not isinstance(text, str):
            raise TypeError(f"write() takes a str, not {type(text).__name__}")
        if self._closed:
            raise ValueError(f"the output stream {self.key!r} is closed")
        self._check_cancelled()
        if self._refused is not None:
            raise self._refused
        data = text.encode()
        with self._lock:
            if self._accepted + len(data) > self._max_bytes:
                raise OutputTooLarge(
                    f"the output {self.key!r} would pass JOBS_OUTPUT_MAX_BYTES ({self._max_bytes} bytes)"
                )
            self._accepted += len(data)
            if not data:
                return
            self._buffer.append(data)
            self._pending += len(data)
            now = self._clock()
            if self._since is None:
                self._since = now
            due = self._pending >= self._batch_bytes or now - self._since >= self._batch_s - 1e-9
        if due:
            self.flush()

    def flush(self) -> None:
        """Send what is buffered now; on a Redis error it stays buffered for the next batch."""
        self._send(closed=False)

    def close(self) -> None:
        """Send what is left and mark the stream closed; later calls do nothing."""
        if self._closed:
            return
        self._closed = True
        _flusher().forget(self)
        self._send(closed=True)

    def __enter__(self) -> OutputWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _flush_if_due(self) -> None:
        # From the flusher thread: a batch whose body went quiet.
        since = self._since
        if since is not None and self._clock() - since >= self._batch_s - 1e-9:
            self.flush()

    def _send(self, *, closed: bool) -> None:
        with self._sending:
            with self._lock:
                data = b"".join(self._buffer)
                self._buffer, self._pending, self._since = [], 0, None
            if not data and not closed:
                return
            try:
                start, _ = self._append(data, closed=closed)
            except (RedisError, OSError) as exc:
                logger.warning("output %s of job %s not sent, retrying: %s", self.key, self.job_id, exc)
                with self._lock:
                    self._buffer.insert(0, data)
                    self._pending += len(data)
                    self._since = self._since or self._clock()
                return
            if start < 0:
                # Another writer of the same key filled it meanwhile: this batch is dropped.
                self._refused = OutputTooLarge(
                    f"the output {self.key!r} passed JOBS_OUTPUT_MAX_BYTES ({self._max_bytes} bytes)"
                )
                logger.error("output %s of job %s: %s", self.key, self.job_id, self._refused)
                return
            self._relay(start, data, closed=closed)

    def _append(self, data: bytes, *, closed: bool) -> tuple[int, int]:
        reply = script(sync_client(), _APPEND_LUA)(
            keys=[data_key(self.job_id, self.key), keys_key(self.job_id)],
            args=[self.key, data, self._ttl_ms, self._max_bytes, "1" if closed else "0"],
        )
        return int(reply[0]), int(reply[1])

    def _relay(self, start: int, data: bytes, *, closed: bool) -> None:
        # At most once: a client that misses a frame sees the next one's offset ahead of what
        # it has (or the job end), and reads the hole over REST.
        pieces = list(_pieces(data, FRAME_BYTES)) or [(0, b"")]
        try:
            for i, (at, piece) in enumerate(pieces):
                frame = {
                    "job": self.job_id,
                    "key": self.key,
                    "offset": start + at,
                    "text": piece.decode(),
                    "closed": closed and i == len(pieces) - 1,
                }
                send_transient(self.owner_id, FRAME_TYPE, frame)
        except (RedisError, OSError) as exc:
            logger.warning("output %s of job %s stored but not relayed: %s", self.key, self.job_id, exc)


@dataclass(frozen=True)
class OutputPage:
    """Part of an output stream, from ``offset`` (bytes) to ``next_offset``."""

    key: str
    offset: int
    text: str
    next_offset: int
    closed: bool  # no writer has it open: once next_offset == size, that is all
    size: int


def read_output(*, job_id: str, key: str, offset: int = 0, limit: int = PAGE_BYTES) -> OutputPage:
    """At most ``limit`` bytes of the stream from ``offset``, cut on a character boundary.

    Raises OutputNotFound for a key the job never opened (or past retention) and
    InvalidOutputOffset for an offset past the end or inside a character.
    """
    try:
        check_key(key)
    except ValueError:
        raise OutputNotFound(key) from None
    reply = script(sync_client(), _READ_LUA)(
        keys=[data_key(job_id, key), keys_key(job_id)], args=[key, offset, max(4, limit) + 3]
    )
    if reply is None:
        raise OutputNotFound(key)
    size, closed, data = int(reply[0]), reply[1] == b"1", bytes(reply[2])
    if offset > size:
        raise InvalidOutputOffset(f"offset {offset} is past the end of the output ({size} bytes)")
    if data and data[0] & 0xC0 == 0x80:
        raise InvalidOutputOffset(f"offset {offset} is inside a character: offsets count UTF-8 bytes")
    data = data[: _boundary(data, limit)]
    return OutputPage(
        key=key,
        offset=offset,
        text=data.decode(),
        next_offset=offset + len(data),
        closed=closed,
        size=size,
    )


class _Flusher:
    """One daemon thread per process that sends the batches of writers gone quiet."""

    def __init__(self) -> None:
        self.writers: weakref.WeakSet[OutputWriter] = weakref.WeakSet()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def watch(self, writer: OutputWriter) -> None:
        with self.lock:
            self.writers.add(writer)
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="coucou-output", daemon=True)
                self.thread.start()

    def forget(self, writer: OutputWriter) -> None:
        with self.lock:
            self.writers.discard(writer)

    def _run(self) -> None:
        while True:
            time.sleep(max(0.005, conf.get().output_batch_s / 5))
            with self.lock:
                writers = list(self.writers)
            for writer in writers:
                try:
                    writer._flush_if_due()
                except Exception as exc:  # noqa: BLE001 - the next batch tries again
                    logger.debug("output flush failed, retrying on the next batch: %s", exc)


_flushers: dict[int, _Flusher] = {}


def _flusher() -> _Flusher:
    # Per process: a Celery prefork child does not inherit its parent's thread.
    pid = os.getpid()
    if pid not in _flushers:
        _flushers.clear()
        _flushers[pid] = _Flusher()
    return _flushers[pid]
