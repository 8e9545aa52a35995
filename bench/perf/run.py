"""The benchmark suite: every scenario against triochat and the baselines, in one invocation.

For each scenario, each server runs in a fresh process, one after another on the same machine;
the load generator (``bench/perf/scenarios.py`` on ``bench/perf/loadgen.py``) runs in
processes of its own and measures its CPU and the server's from /proc. Results go to
``bench/perf/results/latest.json`` and ``docs/performance.md`` is regenerated from them
(``bench/perf/report.py``). Loopback only; every process this starts is
killed by its PID when its scenario ends, whatever happens.

    python -m bench.perf.run                # the whole suite (what `nox -s bench` runs)
    python -m bench.perf.run --quick        # shorter scenarios, for trying things out
    python -m bench.perf.run --only fanout --servers triochat asyncio
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import json
import os
import platform
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

import attrs

from .loadgen import build_rx
from .variants import (
    ENDPOINTS,
    PYTHON,
    SERVERS,
    TRIOCHAT_LIMITS_OFF,
    UNAVAILABLE,
    Variant,
    unavailable,
)

ROOT: Final = Path(__file__).resolve().parent.parent.parent
RESULTS: Final = ROOT / "bench" / "perf" / "results" / "latest.json"
PROFILE: Final = ROOT / "bench" / "perf" / "results" / "profile.json"
#: Seconds a server has to print its address, and to exit after SIGINT.
START_TIMEOUT: Final = 30.0
STOP_TIMEOUT: Final = 3.0
#: Upper bound for one load generator run; it is killed past this.
LOADGEN_TIMEOUT: Final = 240.0
IDLE_CONNECTIONS: Final = 10_000
#: A round whose load generator used more than this share of one core is marked
#: load-generator-bound: it may have measured the load generator, not the server.
LOADGEN_BOUND: Final = 0.70
#: In (d), rooms over this many members do not announce joins (every server does the same).
ANNOUNCE_LIMIT: Final = 100


def raise_fd_limit(wanted: int) -> dict[str, int]:
    """Raise this process's open-file limit (inherited by the servers and the load generator)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard == resource.RLIM_INFINITY else max(soft, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return {"soft": soft, "hard": hard, "wanted": wanted}


class Server:
    """A server process, started on a free port; stopped (and killed if need be) on exit."""

    def __init__(self, name: str, command: list[str], tree: str | None = None) -> None:
        self.name = name
        self.command = command
        #: Run the server's code from this source tree (its PYTHONPATH) instead of ours.
        self.tree = tree
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        #: Every endpoint's port ("tcp", and "irc"/"ws" when it listens there).
        self.ports: dict[str, int] = {}

    def __enter__(self) -> Server:
        self.process = subprocess.Popen(
            self.command,
            # In the tree: `python -m` puts the working directory first on sys.path, ahead of
            # PYTHONPATH, so from ROOT a --before server would run this tree's code, not its own.
            cwd=ROOT if self.tree is None else self.tree,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            env=None if self.tree is None else {**os.environ, "PYTHONPATH": self.tree},
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            self.log.seek(0)
            output = self.log.read()
            line = re.search(rb"serving on [^\n]*\n", output)
            if line:
                for endpoint, pattern in ENDPOINTS.items():
                    match = pattern.search(line[0])
                    if match:
                        self.ports[endpoint] = int(match[1])
                self.port = self.ports["tcp"]
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        said = self.output()  # before stop(), which closes the log
        self.stop()
        raise RuntimeError(f"{self.name} did not start: {said}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-2000:]

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.log.close()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_loadgen(
    server: Server, arguments: list[str], variant: Variant | None = None
) -> dict[str, Any]:
    """Run the load generator against *server*; kill it by its PID if it overruns."""
    speaks: list[str] = []
    if variant is not None:
        speaks = ["--dialect", variant.dialect, "--rx-port", str(server.ports[variant.endpoint])]
    command = [
        PYTHON, "-m", "bench.perf.scenarios", "--port", str(server.port),
        "--server-pid", str(server.pid), *speaks, *arguments,
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = process.communicate(timeout=LOADGEN_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if process.returncode != 0:
        return {"error": err.decode(errors="replace")[-1500:], "server_log": server.output()}
    result: dict[str, Any] = json.loads(out)
    return result


def scenarios(quick: bool) -> dict[str, dict[str, Any]]:
    """Each scenario: the load generator's arguments, and what it means."""
    seconds = ["--warmup", "0.5", "--duration", "1.5" if quick else "3"]
    return {
        "fanout": {
            "title": "(a) fan-out throughput: 100 receivers, 10 senders, as fast as possible",
            # Reads every 2 ms: a server that sends each line in a segment of its own (the
            # asyncio baselines) would otherwise cost the load generator a read per line or two.
            "args": [
                *seconds, "--read-pause", "0.002", "fanout", "--receivers", "100", "--senders", "10"
            ],
        },
        "latency": {
            "title": "(b) latency: 100 receivers, 10 senders x 100 msg/s",
            "args": [*seconds, "paced", "--receivers", "100", "--senders", "10", "--rate", "100"],
        },
        "wide": {
            "title": "(c) wide room: 1 000 receivers, 2 senders x 50 msg/s",
            "args": [*seconds, "paced", "--receivers", "1000", "--senders", "2", "--rate", "50"],
        },
        "idle": {
            "title": f"(d) idle scale: {IDLE_CONNECTIONS:,} connections",
            "args": ["idle", "--connections", str(IDLE_CONNECTIONS)],
        },
        "slow": {
            "title": "(e) one never-reading client during (b)",
            "args": [
                *seconds, "paced", "--receivers", "100", "--senders", "10", "--rate", "100",
                "--never-reader",
            ],
        },
    }  # fmt: skip


def machine_note() -> dict[str, Any]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    versions = {}
    for package in ("trio", "uvloop", "attrs"):
        try:
            from importlib.metadata import version

            versions[package] = version(package)
        except Exception:
            versions[package] = "not installed"
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu": model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_at_start": os.getloadavg(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        **versions,
    }


def profile_fanout(quick: bool, scenario: str = "fanout") -> dict[str, Any]:
    """Run triochat under pyinstrument during *scenario* ((a) by default); its top costs."""
    if importlib.util.find_spec("pyinstrument") is None:
        return {"error": "pyinstrument is not installed"}
    command = [
        PYTHON, "-m", "bench.perf.profile_server", "--output", str(PROFILE), "--",
        "serve", "--port", "0", "--log-level", "warning", *TRIOCHAT_LIMITS_OFF,
    ]  # fmt: skip
    if PROFILE.exists():
        PROFILE.unlink()
    with Server("triochat (profiled)", command) as server:
        load = run_loadgen(server, scenarios(quick)[scenario]["args"])
    deadline = time.monotonic() + 10
    while not PROFILE.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    if not PROFILE.exists():
        return {"error": "no profile written", "load": load}
    profile: dict[str, Any] = json.loads(PROFILE.read_text())
    profile["load"] = load
    return profile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter scenarios")
    parser.add_argument("--rounds", type=int, default=2, help="runs per server; the best counts")
    parser.add_argument("--only", nargs="*", help="scenario names to run")
    parser.add_argument("--servers", nargs="*", help="server names to run")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--profile", default="fanout", help="the scenario to profile")
    parser.add_argument("--no-report", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--idle-connections", type=int, default=IDLE_CONNECTIONS)
    parser.add_argument(
        "--loadgen",
        action="append",
        default=[],
        metavar="OPTION",
        help="an option for every load generator run, e.g. --loadgen=--arrival=read "
        "--loadgen=--read-pause=0 (the old way of timing lines, to compare)",
    )
    parser.add_argument(
        "--before",
        metavar="TREE",
        help="also run triochat (text) from this source tree, as 'triochat-before', "
        "alternating with ours: a before/after comparison within one run",
    )
    args = parser.parse_args()

    started = time.monotonic()
    limits = raise_fd_limit(IDLE_CONNECTIONS * 2 + 100)
    servers = dict(SERVERS)
    if args.before:
        before = attrs.evolve(SERVERS["triochat"], tree=str(Path(args.before).resolve()))
        servers = {"triochat-before": before, **servers}
    if importlib.util.find_spec("uvloop") is None:
        del servers["uvloop"]
    if args.servers:
        servers = {name: variant for name, variant in servers.items() if name in args.servers}
    missing = unavailable(servers)
    chosen = scenarios(args.quick)
    if args.only:
        chosen = {name: spec for name, spec in chosen.items() if name in args.only}

    results: dict[str, Any] = {
        "machine": machine_note(),
        "fd_limit": limits,
        "quick": args.quick,
        "rounds": args.rounds,
        "scenarios": {},
        "unavailable": sorted(missing),
        # Built once here; every scenario process finds it built (or falls back, and says so).
        "loadgen_worker": build_rx()[1],
    }
    connections = args.idle_connections
    # Each idle connection costs one descriptor in the server and one in the load generator.
    if limits["soft"] < connections + 200:
        connections = max(100, limits["soft"] - 200)
        results["idle_scaled_down"] = (
            f"the open-file hard limit is {limits['hard']}: idle scale runs with "
            f"{connections} connections instead of {IDLE_CONNECTIONS}"
        )
    print(f"load generator: {results['loadgen_worker']}", file=sys.stderr)
    for name in sorted(missing):
        print(f"{name}: {UNAVAILABLE} (no {servers[name].needs} flag)", file=sys.stderr)
    for name, spec in chosen.items():
        print(f"== {spec['title']}", file=sys.stderr, flush=True)
        results["scenarios"][name] = run_scenario(name, spec, servers, missing, connections, args)
    if not args.no_profile:
        print("== profile of the fan-out path (triochat under pyinstrument)", file=sys.stderr)
        results["profile"] = profile_fanout(args.quick, args.profile)
        results["profile"]["scenario"] = args.profile
    results["suite_seconds"] = time.monotonic() - started
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1) + "\n")
    print(f"results in {args.output} ({results['suite_seconds']:.0f} s)", file=sys.stderr)
    if not args.no_report:
        from .report import write_report

        write_report(results)


def run_scenario(
    name: str,
    spec: dict[str, Any],
    servers: dict[str, Variant],
    missing: set[str],
    connections: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Every variant that runs *name*, round after round, alternating (the same conditions for
    all of them); each variant's best round counts."""
    entry: dict[str, Any] = {"title": spec["title"], "servers": {}, "rounds": {}}
    variants = {
        server: variant
        for server, variant in servers.items()
        if variant.scenarios is None or name in variant.scenarios
    }
    for server in sorted(missing & variants.keys()):
        entry["servers"][server] = {"error": UNAVAILABLE, "unavailable": True}
    runs = [(r, n, v) for r in range(args.rounds) for n, v in variants.items() if n not in missing]
    for round_number, server_name, variant in runs:
        arguments = list(spec["args"])
        # The load generator's own options go before the scenario's name (and win over the
        # spec's).
        at = next(i for i, word in enumerate(arguments) if word in ("fanout", "paced", "idle"))
        arguments[at:at] = args.loadgen
        command = list(variant.command)
        if name == "idle":
            count = connections
            if variant.idle_connections is not None:
                count = min(count, variant.idle_connections)
            arguments[arguments.index("--connections") + 1] = str(count)
            command += ["--announce-limit", str(ANNOUNCE_LIMIT)]
        t0 = time.monotonic()
        try:
            with contextlib.ExitStack() as stack:
                if variant.setup is not None:
                    command += stack.enter_context(variant.setup())
                process = stack.enter_context(Server(server_name, command, variant.tree))
                result = run_loadgen(process, arguments, variant)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            result = {"error": str(exc)}
        if "loadgen_cpu" in result:
            # A load generator over LOADGEN_BOUND of a core measured itself, not the server.
            result["loadgen_bound"] = result["loadgen_cpu"] > LOADGEN_BOUND
        entry["rounds"].setdefault(server_name, []).append(result)
        print(
            f"   {round_number + 1} {server_name:15} {time.monotonic() - t0:5.1f} s  "
            f"{_summary(name, result)}",
            file=sys.stderr,
            flush=True,
        )
    for server_name, tries in entry["rounds"].items():
        entry["servers"][server_name] = best(name, tries)
    return entry


def best(name: str, tries: list[dict[str, Any]]) -> dict[str, Any]:
    """The best of a server's rounds in a scenario: this machine is shared, and another
    process's burst of work shows up as a slow round; every server gets the same rounds."""
    good = [t for t in tries if "error" not in t]
    if not good:
        return tries[-1]
    if name == "fanout":
        return max(good, key=lambda t: float(t["deliveries_per_second"]))
    if name == "idle":
        return min(good, key=lambda t: float(max(t["reach_all_ms"])))
    # A round in which healthy clients were cut off or lines went missing is never the best.
    return min(
        good,
        key=lambda t: (t["delivered_fraction"] < 0.99, float(t["latency"]["p99_ms"])),
    )


def _summary(name: str, result: dict[str, Any]) -> str:
    if "error" in result:
        return "error: " + str(result["error"]).strip().splitlines()[-1][:100]
    cpu = (
        f"server cpu {result.get('server_cpu', 0):.0%}, load gen {result.get('loadgen_cpu', 0):.0%}"
        + (" LOAD-GENERATOR-BOUND" if result.get("loadgen_bound") else "")
    )
    if name == "fanout":
        return f"{result['deliveries_per_second']:,.0f} deliveries/s, {cpu}"
    if name == "idle":
        reach = min(result["reach_all_ms"])
        return (
            f"{result['connections']} conns, {result['rss_per_connection_bytes'] / 1024:.1f} KiB "
            f"each, reach all {reach:.1f} ms, connect {result['connect_seconds']:.1f} s"
        )
    latency = result["latency"]
    return (
        f"p50 {latency['p50_ms']:.2f} p99 {latency['p99_ms']:.2f} max {latency['max_ms']:.1f} ms, "
        f"delivered {result['delivered_fraction']:.1%}, cut off {result['disconnected']}, {cpu}"
    )


if __name__ == "__main__":
    main()
