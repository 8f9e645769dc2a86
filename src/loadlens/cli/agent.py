"""`loadlens agent`: serve this host's samples to loadlens running on another machine."""

from __future__ import annotations

import click

from loadlens.cli.exits import fail_input

__all__ = ["agent"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to bind.")
@click.option("--port", type=int, default=9400, show_default=True)
@click.option("--token", envvar="LOADLENS_AGENT_TOKEN",
              help="Required of every request. [LOADLENS_AGENT_TOKEN, else a new one]")  # fmt: skip
@click.option("--pid", "pids", type=int, multiple=True, help="Also report this process tree.")
@click.option("--process", "process_name", help="Also report the processes matching this.")
def agent(
    host: str, port: int, token: str | None, pids: tuple[int, ...], process_name: str | None
) -> None:
    """Serve this host's samples (and a process's) to loadlens on another machine."""
    import secrets

    from loadlens.monitoring.agent_server import AgentServer
    from loadlens.monitoring.process_probe import ProcessTreeProbe, find_processes

    roots = list(pids) + (find_processes(process_name) if process_name else [])
    if process_name and len(roots) == len(pids):
        fail_input(f"--process {process_name!r}: no running process matches it")
    generated = token is None
    token = token or secrets.token_urlsafe(24)
    try:
        server = AgentServer(host, port, token, ProcessTreeProbe(roots) if roots else None)
    except OSError as e:
        fail_input(f"cannot listen on {host}:{port} ({e.strerror})")
    click.echo(f"loadlens agent on http://{host}:{server.port}")
    shown = token if generated else "the one given"  # never echo a secret the user chose
    click.echo(f"token: {shown}   (loadlens run ... --monitor agent://HOST:{server.port} "
               "--agent-token TOKEN)", err=True)  # fmt: skip
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
