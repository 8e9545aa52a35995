"""Shared rooms through Redis: one order per room for every process (``--engine redis://``).

Design (docs/scaling.md tells it for operators):

- **One order per room, made in Redis.** A Lua script (``_redis_scripts.APPEND``) takes the
  room's next ``seq`` with ``INCR`` and adds the event to two streams in the same atomic step:
  the room's own stream (its kept history, trimmed with ``MAXLEN ~``) and one stream of all
  rooms (``P:all``). Each append carries a mark (this process, a local count) that the script
  sets with ``SET NX``: a batch sent again after a lost connection is applied once.
- **One reader per process.** A task reads ``P:all`` with ``XREAD BLOCK`` from the last
  position it delivered and hands each entry of a room this process has open to that room's
  :class:`~triochat.engines._redis_log.RedisLog`, which delivers it to the room's fan-out: every
  process delivers every room's events in the one order Redis made. One stream of all rooms
  (rather than ``XREAD`` over each room's stream) keeps one position to resume from and needs
  no wake-up when a room opens; the price is that every process reads every room's events,
  fine for the workers of one machine (docs/scaling.md has the plan beyond that).
- **One writer per process.** ``append`` never waits: the event goes on a queue that a task
  sends in pipelined batches. Opening a room goes through the same queue (``LOAD``), so the
  load sees exactly the appends sent before it.
- **Outages.** A failed command marks the link down: members of this process's rooms get a
  notice, sending a message is refused with a clear error (joins, parts and nick changes wait
  on the queue), and both tasks retry with a growing delay. Once Redis answers again the writer
  sends what waited and the reader resumes from its position: nothing delivered twice, nothing
  skipped that Redis still has. A Redis that lost its data gives each room a new epoch.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import secrets
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import attrs
import coredis
import coredis.exceptions
import trio

from ..core._errors import ChatError, ErrorCode
from ..core._events import Event, Joined, Kicked, Left, NickChanged, Private
from ..core._nicks import fold_case, nick_key
from ._redis_log import KEPT, RedisLog, event_fields
from ._redis_presence import HEARTBEAT, RedisDirectory
from ._redis_scripts import APPEND, LOAD, NICK, PRESENCE_SECONDS, STATE, room_keys

if TYPE_CHECKING:
    from ..core._hub import Hub

__all__ = ["DEFAULT_PREFIX", "RedisEngine", "RedisUnavailable", "check_redis_url"]

_log = logging.getLogger("triochat.engines.redis")

#: The prefix of every key the engine uses.
DEFAULT_PREFIX: Final = "triochat"
#: Entries the stream of all rooms keeps (``MAXLEN ~``): how far behind a process may fall (a
#: reconnect after an outage included) and still miss nothing.
ALL_STREAM_ENTRIES: Final = 100_000
#: Commands sent in one pipelined batch, at most.
BATCH: Final = 1024
#: Appends waiting to be sent, at most; past that, messages are refused as if Redis were down.
MAX_PENDING: Final = 20_000
#: How long the reader's ``XREAD`` blocks before it asks again, in milliseconds.
READ_BLOCK_MS: Final = 1000
#: The delays between attempts to reach Redis again: doubled from the first to the last.
RETRY_FIRST: Final = 0.05
RETRY_LAST: Final = 2.0
#: How long connecting may take at start, and each command after, in seconds.
CONNECT_TIMEOUT: Final = 5.0

# What a lost or refused link looks like, from coredis over trio (anyio) sockets.
LINK_ERRORS: Final = (coredis.exceptions.ConnectionError, OSError, TimeoutError, EOFError)


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__


class RedisUnavailable(Exception):
    """Redis could not be reached (or the URL is wrong) when the engine started."""


def check_redis_url(url: str) -> str:
    """*url* if it names a Redis server (``redis://HOST:PORT/DB`` or ``rediss://``); else
    :exc:`ValueError` with a one-line reason."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError(f"{url!r} is not a redis:// or rediss:// URL")
    if not parts.hostname:
        raise ValueError(f"{url!r} names no host")
    try:
        parts.port  # noqa: B018  (a bad port raises here)
    except ValueError:
        raise ValueError(f"{url!r} has a bad port") from None
    database = parts.path.strip("/")
    if database and not database.isdigit():
        raise ValueError(f"{url!r}: the database is a number (redis://HOST:PORT/0)")
    return url


@attrs.frozen
class _Job:
    """One command for the writer: open a room, append an event, or change a room's state."""

    what: str  # "load", "event", "state" (a room's), "nick" or "private"
    log: RedisLog | None
    keys: list[str]
    args: list[str | int]


@attrs.define(eq=False)
class RedisEngine:
    """The Redis engine of one process: its connection, writer and reader.

    ``engine.attach(hub)`` makes the hub open every room through it and know the members of
    other processes; :meth:`serve` runs it.
    """

    url: str
    prefix: str = DEFAULT_PREFIX
    #: Names this process in the marks of its appends (and its presence, see _presence).
    process: str = attrs.field(factory=lambda: secrets.token_hex(6))
    #: How long this process's liveness and nick keys live without a heartbeat, and how often
    #: the heartbeat renews them, in seconds.
    presence_seconds: float = PRESENCE_SECONDS
    heartbeat: float = HEARTBEAT
    #: Whether Redis answers (as last seen); messages are refused while it does not.
    up: bool = attrs.field(default=False, init=False)
    _client: Any = attrs.field(default=None, init=False)
    _hub: Hub | None = attrs.field(default=None, init=False)
    _logs: dict[str, RedisLog] = attrs.field(factory=dict, init=False)
    _jobs: deque[_Job] = attrs.field(factory=deque, init=False)
    _job_ready: trio.Event = attrs.field(factory=trio.Event, init=False)
    # Set while nothing waits to be sent (see drain).
    _all_sent: trio.Event = attrs.field(factory=trio.Event, init=False)
    _marks: itertools.count[int] = attrs.field(factory=lambda: itertools.count(1), init=False)
    _position: str = attrs.field(default="0-0", init=False)
    _scripts: dict[str, str] = attrs.field(factory=dict, init=False)
    #: The other processes' nicks and which processes are alive (the hub's ``directory``).
    directory: RedisDirectory = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.directory = RedisDirectory(self)
        self._all_sent.set()

    def attach(self, hub: Hub) -> Hub:
        """Make *hub* open its rooms through this engine and know the other processes'
        members (its ``room_log`` and ``directory``); return it."""
        self._hub = hub
        hub.room_log = self.room_log
        hub.directory = self.directory
        return hub

    @property
    def all_key(self) -> str:
        return f"{self.prefix}:all"

    # ------------------------------------------------------------------ the room-log factory

    def room_log(self, hub: Hub, room: str, deliver: Callable[[Event], None], /) -> RedisLog:
        """Open *room*'s log (the hub's ``room_log`` factory)."""
        self._hub = hub
        return RedisLog(hub, room, deliver, self)

    def _open(self, log: RedisLog) -> None:
        self._logs[log.key] = log
        keys = room_keys(self.prefix, log.key)
        self._queue(
            _Job(
                "load",
                log,
                [
                    *(keys[n] for n in ("seq", "epoch", "log", "topic", "ops", "bans")),
                    self.all_key,
                    keys["members"],
                ],
                [self._new_epoch(), max(log.max_events, 1)],
            )
        )

    def _close(self, log: RedisLog) -> None:
        if self._logs.get(log.key) is log:
            del self._logs[log.key]

    def _send_event(
        self,
        log: RedisLog,
        kind: type[Event],
        sender: str,
        time: dt.datetime,
        fields: Mapping[str, Any],
    ) -> None:
        kept = kind in KEPT
        if kept and (not self.up or len(self._jobs) >= MAX_PENDING):
            raise ChatError(
                "the shared room store is unreachable: nothing can be said until it is back",
                code=ErrorCode.STORE_UNAVAILABLE,
                store="rooms",
            )
        if len(self._jobs) >= MAX_PENDING:
            _log.warning(
                "room %s: %s from %s dropped (queue full)", log.room, kind.__name__, sender
            )
            return
        keys = room_keys(self.prefix, log.key)
        self._queue(
            _Job(
                "event",
                log,
                [
                    keys["seq"],
                    keys["epoch"],
                    keys["log"],
                    self.all_key,
                    self._mark(),
                    keys["members"],
                ],
                [
                    self._new_epoch(),
                    log.room,
                    kind.__name__,
                    sender,
                    time.isoformat(),
                    event_fields(fields),
                    self.process,
                    max(log.max_events, 1),
                    ALL_STREAM_ENTRIES,
                    "1" if kept else "0",
                    *self._presence_change(kind, sender, fields),
                ],
            )
        )

    def _presence_change(
        self, kind: type[Event], sender: str, fields: Mapping[str, Any]
    ) -> list[str]:
        """What *kind* does to the room's members in Redis (see the APPEND script)."""
        if kind is Joined:
            return ["+", nick_key(sender), f"{self.process} {sender}"]
        if kind is Left:
            return ["-", nick_key(sender)]
        if kind is Kicked:
            return ["-", nick_key(fields["target"])]
        if kind is NickChanged:
            new = fields["new"]
            return ["~", nick_key(sender), nick_key(new), f"{self.process} {new}"]
        return [""]

    def _send_nick(self, nick: str, op: str) -> None:
        key = f"{self.prefix}:nick:{nick_key(nick)}"
        args: list[str | int] = [f"{self.process} {nick}", op, nick, self.process]
        ttl = int(self.presence_seconds * 1000)
        self._queue(_Job("nick", None, [key, self.all_key], [*args, ALL_STREAM_ENTRIES, ttl]))

    def _send_private(self, process: str, event: Private) -> None:
        fields = ["t", "p", "to", process, "sender", event.sender, "target", event.target]
        self._queue(_Job("private", None, [], [*fields, "text", event.text]))

    def _send_state(self, log: RedisLog, change: dict[str, Any]) -> None:
        keys = room_keys(self.prefix, log.key)
        self._queue(
            _Job(
                "state",
                log,
                [keys["topic"], keys["ops"], keys["bans"], self.all_key, keys["seq"], self._mark()],
                [log.room, self.process, ALL_STREAM_ENTRIES, json.dumps(change)],
            )
        )

    def _new_epoch(self) -> str:
        """An epoch for a room that has none in Redis (used only then): this process and a
        count make it unique without drawing random bytes for every line."""
        return f"{self.process}{next(self._marks):x}"

    def _mark(self) -> str:
        return f"{self.prefix}:done:{self.process}:{next(self._marks)}"

    def _queue(self, job: _Job) -> None:
        self._jobs.append(job)
        self._job_ready.set()
        if self._all_sent.is_set():
            self._all_sent = trio.Event()

    def _tell_room(self, room: str, text: str) -> None:
        """A notice to this process's members of *room*."""
        found = self._hub.find_room(room) if self._hub is not None else None
        for member in found.members if found is not None else ():
            member.notify(text, kind="store")

    # ------------------------------------------------------------------ running

    async def serve(
        self, *, task_status: trio.TaskStatus[RedisEngine] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Connect, then send and read until cancelled. Raises :exc:`RedisUnavailable` (one
        line) if Redis cannot be reached at start; after that, outages are waited out."""
        try:
            client = coredis.Redis.from_url(
                check_redis_url(self.url),
                decode_responses=True,
                client_name=f"triochat-{self.process}",  # who is who in CLIENT LIST
                connect_timeout=CONNECT_TIMEOUT,
                stream_timeout=CONNECT_TIMEOUT + READ_BLOCK_MS / 1000,
            )
        except ValueError as error:
            raise RedisUnavailable(f"bad Redis URL: {error}") from None
        failure: RedisUnavailable | None = None
        async with client:  # coredis wraps what escapes it in a group: fail outside it
            self._client = client
            try:
                with trio.fail_after(CONNECT_TIMEOUT):
                    await self._connect()
                    await self._renew()
                    await self._load_nicks()
            except (*LINK_ERRORS, trio.TooSlowError, coredis.exceptions.RedisError) as error:
                failure = RedisUnavailable(f"cannot reach Redis at {self.url}: {_describe(error)}")
            else:
                self._mark_up()
                _log.info("rooms shared through Redis at %s (process %s)", self.url, self.process)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._write)
                    nursery.start_soon(self._read)
                    nursery.start_soon(self._heartbeat)
                    task_status.started(self)
        if failure is not None:
            raise failure

    async def _connect(self) -> None:
        """Load the scripts and, the first time, take the stream's newest position."""
        client = self._client
        for name, script in (("event", APPEND), ("state", STATE), ("load", LOAD), ("nick", NICK)):
            self._scripts[name] = await client.script_load(script)
        if self._position == "0-0":
            newest = await client.xrevrange(self.all_key, "+", "-", count=1)
            if newest:
                self._position = newest[0].identifier

    def _mark_up(self) -> None:
        if not self.up:
            self.up = True

    def _mark_down(self, error: BaseException) -> None:
        if self.up:
            self.up = False
            _log.warning("lost Redis at %s: %s", self.url, _describe(error))
            for log in list(self._logs.values()):
                self._tell_room(
                    log.room,
                    "the shared room store is unreachable: reconnecting; "
                    "messages cannot be sent until it is back",
                )

    async def _recover(self) -> None:
        """Wait for Redis to answer again, retrying with a growing delay (by whichever task
        noticed first; the other waits for it)."""
        delay = RETRY_FIRST
        while not self.up:
            await trio.sleep(delay)
            delay = min(delay * 2, RETRY_LAST)
            try:
                with trio.fail_after(CONNECT_TIMEOUT):
                    await self._connect()
            except (*LINK_ERRORS, trio.TooSlowError, coredis.exceptions.RedisError) as error:
                _log.debug("Redis still unreachable: %s", error)
                continue
            if not self.up:
                self.up = True
                _log.info("Redis at %s is back", self.url)
                for log in list(self._logs.values()):
                    self._tell_room(log.room, "the shared room store is back")

    async def _write(self) -> None:
        while True:
            if not self._jobs:
                self._job_ready = trio.Event()
                await self._job_ready.wait()
            if not self.up:
                await self._wait_back()
            batch = [self._jobs[i] for i in range(min(BATCH, len(self._jobs)))]
            try:
                replies = await self._send(batch)
            except (*LINK_ERRORS, coredis.exceptions.NoScriptError) as error:
                self._mark_down(error)  # sent again once Redis is back (marks: applied once)
                continue
            except coredis.exceptions.RedisError:
                # Redis refused the batch (out of memory, a read-only replica...): sending it
                # again would fail again. Logged, dropped, and the engine goes on.
                _log.exception("Redis refused %d commands; they are dropped", len(batch))
                replies = [None] * len(batch)
            for _ in batch:
                self._jobs.popleft()
            if not self._jobs:
                self._all_sent.set()
            for job, reply in zip(batch, replies, strict=True):
                log = job.log
                loaded = reply is not None and job.what == "load"
                if loaded and log is not None and self._logs.get(log.key) is log:
                    epoch, seq, kept, state, position, members = reply
                    log.loaded_from(epoch, int(seq), kept, state, position, members)

    async def _send(self, batch: list[_Job]) -> list[Any]:
        async with self._client.pipeline(transaction=False) as pipe:
            pending = [
                pipe.xadd(
                    self.all_key,
                    dict(zip(job.args[::2], job.args[1::2], strict=True)),
                    trim_strategy=coredis.PureToken.MAXLEN,
                    threshold=ALL_STREAM_ENTRIES,
                    trim_operator=coredis.PureToken.APPROXIMATELY,
                )
                if job.what == "private"
                else pipe.evalsha(self._scripts[job.what], job.keys, job.args)
                for job in batch
            ]
        return [await reply for reply in pending]

    async def _wait_back(self) -> None:
        if not self.up:
            await self._recover()

    async def _read(self) -> None:
        while True:
            if not self.up:
                await self._wait_back()
            try:
                answer = await self._client.xread(
                    {self.all_key: self._position}, count=4 * BATCH, block=READ_BLOCK_MS
                )
            except LINK_ERRORS as error:
                self._mark_down(error)
                continue
            for entry in (answer or {}).get(self.all_key, ()):
                self._position = entry.identifier
                try:
                    self._dispatch(entry.identifier, entry.field_values)
                except (KeyError, ValueError, TypeError):
                    # Another writer of the stream (a newer or buggy version): this entry is
                    # lost for this process, the others are not.
                    _log.exception("a malformed entry %s in the stream, skipped", entry.identifier)
            await trio.lowlevel.checkpoint()

    async def drain(self, timeout: float = CONNECT_TIMEOUT) -> bool:
        """Wait until what is queued has been sent (the departures of a server that stops, so
        that the other processes see them at once), for at most *timeout* seconds; whether it
        all went."""
        if self.up:  # else nothing can be sent: no wait
            with trio.move_on_after(timeout):
                await self._all_sent.wait()
        return not self._jobs

    def _dispatch(self, identifier: str, fields: Mapping[str, str]) -> None:
        """One entry of the stream of all rooms, to whom it concerns in this process."""
        what = fields.get("t")
        if what in ("e", "s"):
            log = self._logs.get(fold_case(fields.get("room", "")))
            if log is not None:
                log.receive(identifier, fields)
        elif what == "n":
            self.directory.take(fields["nick"], fields["proc"], fields["op"])
        elif what == "p" and fields.get("to") == self.process:
            self.directory.deliver_private(fields)

    async def _heartbeat(self) -> None:
        """Renew this process's liveness and nicks; learn which processes are alive."""
        while True:
            await trio.sleep(self.heartbeat)
            if not self.up:
                continue
            try:
                await self._renew()
            except LINK_ERRORS as error:
                self._mark_down(error)

    async def _renew(self) -> None:
        client = self._client
        async with client.pipeline(transaction=False) as pipe:
            ttl = int(self.presence_seconds * 1000)
            pipe.set(f"{self.prefix}:proc:{self.process}", "1", px=ttl)
            for nick in self.directory.mine:
                pipe.pexpire(f"{self.prefix}:nick:{nick_key(nick)}", ttl)
        prefix = f"{self.prefix}:proc:"
        self.directory.alive = {
            key.removeprefix(prefix) async for key in client.scan_iter(match=prefix + "*")
        }

    async def _load_nicks(self) -> None:
        """The other processes' nicks as Redis has them now (at start)."""
        client = self._client
        keys = [key async for key in client.scan_iter(match=f"{self.prefix}:nick:*")]
        for value in await client.mget(keys) if keys else ():
            if value:
                process, _, nick = value.partition(" ")
                self.directory.take(nick, process, "+")
