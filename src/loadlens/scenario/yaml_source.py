"""Reads YAML keeping the line of every key, so errors can say file, line and key."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import yaml

__all__ = ["Located", "SourceError", "read_yaml"]

Path_ = tuple[str | int, ...]
MAX_BYTES = 16 * 2**20  # a scenario file; data files are read elsewhere, row by row
MAX_VALUES = 100_000  # values a document may expand to, aliases included
MAX_DEPTH = 64


class SourceError(ValueError):
    """A problem in a scenario file, located: `file:line: key: message`."""

    def __init__(self, file: str, line: int | None, key: str, message: str) -> None:
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")
        self.file = file
        self.line = line
        self.key = key


@dataclass
class Located:
    """Plain data from a YAML file, and the line each key path starts on (1-based)."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    values_left: int = MAX_VALUES  # what the document may still expand to
    loader: Any = field(default=None, repr=False, compare=False)  # yaml's, while reading

    def line_of(self, path: Path_) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None


def _scalar(node: yaml.ScalarNode, located: Located) -> Any:
    import yaml  # (imported by read_yaml already: a lookup)

    try:
        # (The document's one loader resolves the tag each node was given: int, bool, ...)
        return located.loader.construct_object(node, deep=True)
    except yaml.YAMLError as e:
        raise SourceError(located.file, node.start_mark.line + 1, "", str(e)) from None


def _convert(node: yaml.Node, path: Path_, located: Located) -> Any:
    import yaml  # (imported by read_yaml already: a lookup)

    # Aliases (*name) re-use a node wherever they appear, so a few lines can expand to
    # billions of values (the "billion laughs" file) or refer to themselves: bounded.
    located.values_left -= 1
    if located.values_left < 0 or len(path) > MAX_DEPTH:
        what = (f"nests deeper than {MAX_DEPTH} levels" if len(path) > MAX_DEPTH
                else f"expands to more than {MAX_VALUES:,} values")  # fmt: skip
        raise SourceError(located.file, node.start_mark.line + 1, "",
                          f"the document {what} (aliases repeated or referring to "
                          "themselves?); a scenario is far smaller")  # fmt: skip
    located.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, located) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str | int | float | bool):
                raise SourceError(
                    located.file, key_node.start_mark.line + 1, "", "keys must be plain text"
                )
            key = str(key)
            if key in out:
                where = ".".join(str(p) for p in (*path, key))
                raise SourceError(located.file, key_node.start_mark.line + 1, where,
                                  "this key appears twice")  # fmt: skip
            located.lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _convert(value_node, (*path, key), located)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), located) for i, item in enumerate(node.value)]
    return _scalar(node, located)  # type: ignore[arg-type]


def read_yaml(file: Path) -> Located:
    """Parse `file` (one YAML document) into plain data with a line for every key path."""
    # Imported here: a run from a URL reads no YAML and skips its ~25 ms of start-up.
    import yaml

    name = str(file)
    try:
        if file.stat().st_size > MAX_BYTES:
            raise SourceError(name, None, "", f"larger than {MAX_BYTES // 2**20} MiB: "
                              "not a scenario (data belongs in a data file)")  # fmt: skip
        text = file.read_text(encoding="utf-8")
    except OSError as e:
        raise SourceError(name, None, "", f"cannot read the file ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise SourceError(name, None, "", f"not UTF-8 text ({e.reason})") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        raise SourceError(name, line, "", f"YAML syntax: {e.problem or e}") from None
    except yaml.YAMLError as e:
        raise SourceError(name, None, "", f"YAML: {e}") from None
    located = Located(name, None, loader=yaml.SafeLoader(""))
    if root is None:
        raise SourceError(name, None, "", "the file is empty")
    located.data = _convert(root, (), located)
    located.loader = None
    return located
