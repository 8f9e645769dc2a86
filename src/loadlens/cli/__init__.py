"""The `loadlens` command: a group of thin commands, one module each, imported on use.

Each command module wires the layers below (scenario, engine, monitoring, reporting,
storage) and imports them inside its function, so `loadlens --version` loads click and
this package only, and `loadlens --help` adds nothing heavier than the demo's stage names.
"""

from __future__ import annotations

import gc
import sys

import click

from loadlens import __version__
from loadlens.cli.exits import ExitCode, exit_code_for
from loadlens.cli.lazy_group import LazyGroup

__all__ = ["ExitCode", "cli", "exit_code_for", "main"]

# Each command's name and where it is: one line per command.
_COMMANDS = {
    "agent": "loadlens.cli.agent:agent",
    "compare": "loadlens.cli.compare:compare",
    "demo": "loadlens.cli.demo:demo",
    "history": "loadlens.cli.history:history",
    "init": "loadlens.cli.init:init",
    "report": "loadlens.cli.report:report",
    "run": "loadlens.cli.run:run",
    "validate": "loadlens.cli.validate:validate",
}


@click.group(cls=LazyGroup, lazy_commands=_COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})  # fmt: skip
@click.version_option(__version__, prog_name="loadlens")
def cli() -> None:
    """Load testing and performance diagnosis for HTTP APIs."""


def main() -> None:
    """Console-script entry point."""
    try:
        cli(standalone_mode=True)
    except SystemExit:
        # The process ends here and the OS frees its memory at once: a last collection
        # over every object left (~0.3 s of exit after a run, measured) would only delay
        # the shell's prompt. Frozen objects are not collected at shutdown.
        gc.freeze()
        raise
    except ModuleNotFoundError as e:  # an optional part that is not installed
        from loadlens.extras import install_hint

        hint = install_hint(e.name or "")
        if hint is None:
            print(f"loadlens: internal error: {type(e).__name__}: {e}", file=sys.stderr)
            sys.exit(ExitCode.INTERNAL)
        print(f"loadlens: this needs {e.name!r}, which is not installed: {hint}", file=sys.stderr)
        sys.exit(ExitCode.BAD_INPUT)
    except Exception as e:  # the last line of defence: a clear message, exit 1
        print(f"loadlens: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(ExitCode.INTERNAL)
