"""What `loadlens run` is asked to watch (--server, --monitor-pid, --monitor-process,
--monitor SPEC), read into one record, and the probes that record asks for, built."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from loadlens.monitoring.probe import Probe, ProbeGone

if TYPE_CHECKING:
    from loadlens.monitoring.monitor_set import MonitorSet

__all__ = [
    "MonitorSpecError",
    "MonitorStartError",
    "Monitoring",
    "build_monitors",
    "parse_monitoring",
]

_DATABASE_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")
_SCRAPE_SCHEMES = ("prometheus://", "dbstats+http://", "dbstats+https://")


class MonitorSpecError(ValueError):
    """A monitor option that cannot mean anything (a usage error); the message says why."""


class MonitorStartError(Exception):
    """A monitor that was asked for cannot start (no such process, an agent unreachable)."""


@dataclass(frozen=True)
class Monitoring:
    """What to watch on the target side while the load runs."""

    server: str | None = None
    pids: tuple[int, ...] = ()
    names: tuple[str, ...] = ()
    host: bool = False
    agents: tuple[str, ...] = ()  # HOST:PORT of `loadlens agent`s
    agent_token: str = ""
    databases: tuple[str, ...] = ()  # PostgreSQL URLs
    scrapes: tuple[str, ...] = ()  # prometheus://HOST:PORT/PATH?series=..., dbstats+http://


def parse_monitoring(
    specs: Iterable[str],
    *,
    server: str | None = None,
    pids: tuple[int, ...] = (),
    names: tuple[str, ...] = (),
    agent_token: str | None = None,
) -> Monitoring:
    """The monitor options as one record; raises MonitorSpecError for a spec it cannot read."""
    specs = tuple(specs)
    agents, databases, scrapes = [], [], []
    for spec in specs:
        if spec.startswith("agent://"):
            agents.append(spec.removeprefix("agent://").rstrip("/"))
        elif spec.startswith(_DATABASE_SCHEMES):
            databases.append(spec)
        elif spec.startswith(_SCRAPE_SCHEMES):
            scrapes.append(spec)
        elif spec != "host":
            raise MonitorSpecError(
                f"--monitor {spec!r}: expected host, agent://HOST:PORT, postgresql://..., "
                "prometheus://HOST:PORT/metrics or dbstats+http://HOST:PORT/PATH"
            )
    if agents and not agent_token:
        raise MonitorSpecError(
            "--monitor agent://...: give --agent-token (or LOADLENS_AGENT_TOKEN)"
        )
    return Monitoring(server=server, pids=pids, names=names, host="host" in specs,
                      agents=tuple(agents), agent_token=agent_token or "",
                      databases=tuple(databases), scrapes=tuple(scrapes))  # fmt: skip


def build_monitors(watch: Monitoring, target_url: str, stack: contextlib.ExitStack) -> MonitorSet:
    """The probes asked for, the --server target started first (`stack` stops it);
    raises MonitorStartError for one that cannot start."""
    # Imported here: bad input is refused before any probe's machinery loads.
    from loadlens.monitoring.host_probe import HostProbe
    from loadlens.monitoring.managed_server import ManagedServer, ServerError
    from loadlens.monitoring.monitor_set import MonitorSet
    from loadlens.monitoring.process_probe import ProcessTreeProbe, find_processes

    probes: list[Probe] = []
    if watch.server:
        server = ManagedServer(watch.server, target_url)
        stack.callback(server.stop)  # before start: a Ctrl-C while it boots stops it too
        try:
            server.start()
        except ServerError as e:
            raise MonitorStartError(str(e)) from None
        probes.append(ProcessTreeProbe([server.pid], label=f"--server, pid {server.pid}"))
    if watch.pids:
        import psutil

        missing = [pid for pid in watch.pids if not psutil.pid_exists(pid)]
        if missing:
            raise MonitorStartError(f"--monitor-pid {missing[0]}: no such process")
        probes.append(ProcessTreeProbe(list(watch.pids)))
    for name in watch.names:
        pids = find_processes(name)
        if not pids:
            raise MonitorStartError(f"--monitor-process {name!r}: no running process matches it")
        probes.append(ProcessTreeProbe(pids, label=f"--monitor-process {name}"))
    remote = _agents(watch, probes)
    for probe in probes:
        probe.name = "target" if len(probes) == 1 else f"target {probes.index(probe) + 1}"
    if (probes and len(remote) < len(probes)) or watch.host:
        probes.append(HostProbe())
    return MonitorSet(probes + remote + _databases(watch) + _scrapes(watch))


def _agents(watch: Monitoring, probes: list[Probe]) -> list[Probe]:
    """Each agent's host section; its process section joins the local target `probes`."""
    if not watch.agents:
        return []
    from loadlens.monitoring.agent_probe import AgentClient, AgentSection

    remote: list[Probe] = []
    for address in watch.agents:
        try:
            client = AgentClient(address, watch.agent_token)
            info = client.get("/v1/info")
        except ProbeGone as e:
            raise MonitorStartError(f"--monitor agent://{address}: {e}") from None
        if "process" in info:
            probes.append(AgentSection(client, "process", str(info["process"])))
        remote.append(AgentSection(client, "host", str(info.get("host", address))))
    return remote


def _databases(watch: Monitoring) -> list[Probe]:
    if not watch.databases:
        return []
    try:
        from loadlens.monitoring.postgres_probe import PostgresProbe
    except ImportError:
        raise MonitorStartError(
            "--monitor postgresql://...: pip install 'loadlens[postgres]'"
        ) from None
    return [PostgresProbe(url) for url in watch.databases]


def _scrapes(watch: Monitoring) -> list[Probe]:
    """Prometheus and dbstats endpoints, each read once now: reachable and readable, or
    MonitorStartError before the load starts."""
    if not watch.scrapes:
        return []  # (prometheus_client is a heavy import)
    from loadlens.monitoring.db_stats_probe import DbStatsProbe
    from loadlens.monitoring.prometheus_probe import PrometheusProbe

    scrapes: list[Probe] = []
    for spec in watch.scrapes:
        scrape: PrometheusProbe | DbStatsProbe = (
            DbStatsProbe(spec) if spec.startswith("dbstats+") else PrometheusProbe(spec)
        )
        try:
            scrape.start()
        except ProbeGone as e:
            raise MonitorStartError(f"--monitor {spec}: {e}") from None
        scrapes.append(scrape)
    return scrapes
