"""`loadlens agent`: serve this host's samples to loadlens running on another machine."""

from __future__ import annotations

import click

from loadlens.cli.exits import fail_input

__all__ = ["agent"]

_FILE = click.Path(exists=True, dir_okay=False)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to bind.")
@click.option("--port", type=int, default=9400, show_default=True)
@click.option("--token", envvar="LOADLENS_AGENT_TOKEN",
              help="Required of every request, 16 characters or more. "
                   "[LOADLENS_AGENT_TOKEN, else a new one]")  # fmt: skip
@click.option("--pid", "pids", type=int, multiple=True, help="Also report this process tree.")
@click.option("--process", "process_name", help="Also report the processes matching this.")
@click.option(
    "--tls-cert",
    type=_FILE,
    help="Serve HTTPS with this certificate (PEM, its key in it or in --tls-key).",
)
@click.option("--tls-key", type=_FILE, help="The certificate's private key (PEM).")
@click.option("--max-connections", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Connections kept at once; more are closed as they open.")  # fmt: skip
@click.option("--request-timeout", type=click.IntRange(min=1), default=10, show_default=True,
              help="Seconds a connection has to send each request, from its opening or "
                   "its last answer; then it is closed.")  # fmt: skip
def agent(
    host: str,
    port: int,
    token: str | None,
    pids: tuple[int, ...],
    process_name: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    max_connections: int,
    request_timeout: int,
) -> None:
    """Serve this host's samples (and a process's) to loadlens on another machine."""
    import secrets

    from loadlens.monitoring.agent_server import (
        AgentServer,
        AgentSetupError,
        clear_text_warning,
        token_problem,
    )
    from loadlens.monitoring.process_probe import ProcessTreeProbe, find_processes

    generated = token is None
    token = secrets.token_urlsafe(24) if token is None else token
    problem = token_problem(token)  # before anything else: a weak token starts nothing
    if problem:
        fail_input(f"--token (or LOADLENS_AGENT_TOKEN): {problem}")
    roots = list(pids) + (find_processes(process_name) if process_name else [])
    if process_name and len(roots) == len(pids):
        fail_input(f"--process {process_name!r}: no running process matches it")
    try:
        server = AgentServer(host, port, token, ProcessTreeProbe(roots) if roots else None,
                             tls_cert=tls_cert, tls_key=tls_key,
                             max_connections=max_connections,
                             request_timeout=request_timeout)  # fmt: skip
    except AgentSetupError as e:
        fail_input(str(e))
    except OSError as e:
        fail_input(f"cannot listen on {host}:{port} ({e.strerror or e})")
    warning = clear_text_warning(host, tls=tls_cert is not None)
    if warning:
        click.echo(warning, err=True)
    spec = f"agent://HOST:{server.port}" + ("?tls=1" if tls_cert else "")
    shown = token if generated else "the one given"  # never echo a secret the user chose
    click.echo(f"token: {shown}   (loadlens run ... --monitor '{spec}' --agent-token TOKEN)",
               err=True)  # fmt: skip
    # Last: a script (or a test) may take this line to mean the agent is listening.
    click.echo(f"loadlens agent on {server.scheme}://{host}:{server.port}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
