"""Prometheus metrics of a server, served over HTTP from the server's own Trio code.

The figures are read when a scrape comes, by a collector registered in a registry of our own
(``prometheus_client``'s ``Collector`` protocol and its text exposition), never pushed into
``prometheus_client`` objects as things happen: the fan-out path pays nothing for them (see
:mod:`triochat.server._counters`). A scrape is one short Trio task, with no thread.

``prometheus_client`` is an optional dependency (``pip install 'triochat[metrics]'``): this
module imports it only when metrics are served.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

import trio

from ..drivers._endpoints import Endpoint
from ..session._reasons import CloseReason
from ._counters import CountingThrottle

if TYPE_CHECKING:
    from ._server import ChatServer

__all__ = ["MetricsUnavailable", "metrics_registry", "serve_metrics"]

log = logging.getLogger("triochat.metrics")

#: A request's head (request line and headers) may be at most this long...
MAX_REQUEST_BYTES: Final = 8192
#: ... and must arrive within this time; the answer gets as long again.
REQUEST_TIMEOUT: Final = 5.0
#: Scrapes answered at once; more wait for the accept loop.
MAX_SCRAPES: Final = 16

# Close reasons that are timeouts, by the kind the metrics name them.
_TIMEOUTS: Final = {
    CloseReason.IDLE_TIMEOUT.name: "idle",
    CloseReason.WRITE_TIMEOUT.name: "write",
    CloseReason.AUTH_TIMEOUT.name: "auth",
}


class MetricsUnavailable(RuntimeError):
    """``prometheus_client`` is not installed."""


def _prometheus() -> Any:
    try:
        import prometheus_client.core
    except ImportError:
        raise MetricsUnavailable(
            "metrics need the prometheus_client package: pip install 'triochat[metrics]'"
        ) from None
    return prometheus_client


class _Collector:
    """Reads a server's figures on each scrape (the ``Collector`` protocol of prometheus_client)."""

    def __init__(self, server: ChatServer) -> None:
        self.server = server

    def collect(self) -> Iterator[Any]:
        core = _prometheus().core
        server = self.server
        statistics = server.statistics()
        counters = server.counters
        lines_in, bytes_out, delivered = counters.lines_in, counters.bytes_out, counters.delivered
        frontends: Counter[str] = Counter()
        for connection in server.connections:
            frontends[connection.codec.name] += 1
            lines_in += connection.lines_in
            bytes_out += connection.bytes_out
            if connection.member is not None:
                delivered += connection.member.statistics().delivered

        connections = core.GaugeMetricFamily(
            "triochat_connections", "Clients connected now, by front end", labels=["frontend"]
        )
        for name, count in sorted(frontends.items()):
            connections.add_metric([name], count)
        yield connections
        yield core.GaugeMetricFamily("triochat_rooms", "Rooms that exist", value=statistics.rooms)
        yield core.GaugeMetricFamily(
            "triochat_members", "Members of the hub", value=statistics.members
        )
        yield core.CounterMetricFamily(
            "triochat_accepted_connections", "Connections accepted", value=statistics.accepted
        )
        yield core.CounterMetricFamily("triochat_lines_in", "Lines read from clients", lines_in)
        yield core.CounterMetricFamily(
            "triochat_deliveries", "Events taken from outboxes to be written", value=delivered
        )
        yield core.CounterMetricFamily("triochat_bytes_out", "Bytes written to clients", bytes_out)
        yield from self._endings(counters.closed_by_reason)
        refused = core.CounterMetricFamily(
            "triochat_refused_connections", "Connections refused, by reason", labels=["reason"]
        )
        refused.add_metric(["server_full"], statistics.refused_full)
        refused.add_metric(["per_ip"], statistics.refused_per_ip)
        refused.add_metric(["tls_handshake"], statistics.handshake_failures)
        yield refused
        yield self._auth_failures()
        yield self._latency()
        yield from self._room_store()

    def _room_store(self) -> Iterator[Any]:
        """The durable rooms' writer (with ``--data-dir``): what waits for the disk, what was
        written, and what the disk lost."""
        store = self.server._room_store
        if store is None:
            return
        core = _prometheus().core
        figures = store.statistics()
        yield core.GaugeMetricFamily(
            "triochat_store_pending", "Events queued for the disk", value=figures.pending
        )
        yield core.CounterMetricFamily(
            "triochat_store_written", "Events written to the disk", value=figures.written
        )
        yield core.CounterMetricFamily(
            "triochat_store_dropped",
            "Events not written because the disk fell behind",
            value=figures.dropped,
        )
        yield core.CounterMetricFamily(
            "triochat_store_failures", "Commits that failed (tried again)", value=figures.failures
        )

    def _endings(self, closed: Counter[str]) -> Iterator[Any]:
        core = _prometheus().core
        yield core.CounterMetricFamily(
            "triochat_slow_consumers_cut",
            "Clients cut off because their outbox overflowed",
            value=closed[CloseReason.SLOW_CONSUMER.name],
        )
        yield core.CounterMetricFamily(
            "triochat_flood_cuts",
            "Clients cut off for flooding",
            value=closed[CloseReason.EXCESS_FLOOD.name],
        )
        timeouts = core.CounterMetricFamily(
            "triochat_timeouts", "Clients cut off by a timeout, by kind", labels=["kind"]
        )
        for reason, kind in _TIMEOUTS.items():
            timeouts.add_metric([kind], closed[reason])
        yield timeouts
        endings = core.CounterMetricFamily(
            "triochat_disconnects", "Connections ended, by reason", labels=["reason"]
        )
        for close_reason in CloseReason:
            endings.add_metric([close_reason.name.lower()], closed[close_reason.name])
        yield endings

    def _auth_failures(self) -> Any:
        core = _prometheus().core
        failures = core.CounterMetricFamily(
            "triochat_auth_failures", "Wrong secrets given, by target", labels=["target"]
        )
        throttle = self.server.guard.throttle
        counts = throttle.failures if isinstance(throttle, CountingThrottle) else Counter()
        for target in ("password", "admin_token", "nick"):
            failures.add_metric([target], counts[target])
        return failures

    def _latency(self) -> Any:
        core = _prometheus().core
        histogram = self.server.flusher.latency
        cumulative, buckets = 0, []
        for bound, count in zip((*histogram.bounds, float("inf")), histogram.buckets, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        return core.HistogramMetricFamily(
            "triochat_line_latency_seconds",
            "From the read that brought a line to the write of it to its last idle member",
            buckets=buckets,
            sum_value=histogram.sum,
        )


def metrics_registry(server: ChatServer) -> Any:
    """A ``prometheus_client`` registry holding *server*'s metrics (and nothing else).

    Error handling: :exc:`MetricsUnavailable` if ``prometheus_client`` is not installed.
    """
    registry = _prometheus().CollectorRegistry(auto_describe=False)
    registry.register(_Collector(server))
    return registry


async def serve_metrics(
    server: ChatServer,
    endpoint: Endpoint,
    *,
    task_status: trio.TaskStatus[list[Any]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``GET /metrics`` (the Prometheus text format) and ``GET /healthz`` on *endpoint*
    (``tcp://HOST:PORT``) until cancelled; reports the bound addresses once listening.

    ``/healthz`` answers 200 ``ok`` while the server listens and accepts, else 503.

    Error handling: :exc:`MetricsUnavailable` before listening if ``prometheus_client`` is
    missing; :exc:`OSError` if the endpoint cannot be opened.
    """
    prometheus = _prometheus()
    registry = metrics_registry(server)
    listeners = await trio.open_tcp_listeners(endpoint.port, host=endpoint.host or None)
    scrapes = trio.CapacityLimiter(MAX_SCRAPES)

    async def answer(stream: trio.SocketStream) -> None:
        async with scrapes, stream:
            await _answer(stream, server, registry, prometheus)

    async with trio.open_nursery() as nursery:
        addresses = [listener.socket.getsockname() for listener in listeners]
        log.info("metrics on %s", ", ".join(f"http://{a[0]}:{a[1]}/metrics" for a in addresses))
        task_status.started(addresses)
        await trio.serve_listeners(answer, listeners, handler_nursery=nursery)


async def _answer(stream: trio.SocketStream, server: ChatServer, registry: Any, prom: Any) -> None:
    head = b""
    with trio.move_on_after(REQUEST_TIMEOUT):
        try:
            while b"\r\n\r\n" not in head and b"\n\n" not in head:
                data = await stream.receive_some(MAX_REQUEST_BYTES)
                if not data or len(head) + len(data) > MAX_REQUEST_BYTES:
                    return
                head += data
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return
    request = head.split(b"\n", 1)[0].split()
    if len(request) < 2:
        return
    method, path = request[0], request[1].split(b"?", 1)[0]
    if method not in (b"GET", b"HEAD"):
        status, kind, body = "405 Method Not Allowed", "text/plain", b"GET only\n"
    elif path == b"/metrics":
        status, kind, body = "200 OK", prom.CONTENT_TYPE_LATEST, prom.generate_latest(registry)
    elif path == b"/healthz":
        healthy = server.accepting
        status = "200 OK" if healthy else "503 Service Unavailable"
        kind, body = "text/plain", b"ok\n" if healthy else b"not accepting\n"
    else:
        status, kind, body = "404 Not Found", "text/plain", b"/metrics or /healthz\n"
    header = (
        f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with trio.move_on_after(REQUEST_TIMEOUT):
        try:
            await stream.send_all(header + (b"" if method == b"HEAD" else body))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return
