"""A click group that imports a command's module only when that command is looked up."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Any

import click

__all__ = ["LazyCommands", "LazyGroup"]


class LazyCommands(MutableMapping[str, click.Command]):
    """Commands by name, each given as "module:attribute" and imported when first read.

    Iterating (the names) imports nothing; reading one imports its module once.
    """

    def __init__(self, targets: dict[str, str]) -> None:
        self._targets = dict(targets)
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        command = self._loaded.get(name)
        if command is None:
            module_name, _, attribute = self._targets[name].partition(":")
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self._targets[name]} is not a click command")
            self._loaded[name] = command
        return command

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command
        self._targets.setdefault(name, "")

    def __delitem__(self, name: str) -> None:
        del self._targets[name]
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets)

    def __len__(self) -> int:
        return len(self._targets)


class LazyGroup(click.Group):
    """A group whose subcommands are imported on use: `--version`, or one command's run,
    imports no other command.

    Click reads a group's commands only through `self.commands` (to list them, to get one,
    to suggest a name for a mistyped one), so a lazy mapping there is the whole change.
    `loadlens --help` shows every command's short help and so imports every command module:
    keep those to click declarations at module level, with heavy imports in the functions.
    """

    def __init__(self, *args: Any, lazy_commands: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands(lazy_commands)
