"""Text from a run or a file made safe to show on a terminal: control characters visible.

Names, URLs, Server-Timing metrics and error messages can come from a target or a shared
run store, and a terminal obeys escape sequences in them (clear the screen, retitle the
window, hide text, or bidi overrides that reorder what is read). Every such character is
shown as an escape instead (`\\x1b`), the rest is left exactly as it was.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

# C0 controls but tab and newline, DEL, C1 controls, and the bidi embeddings, overrides and
# isolates (U+202A-E, U+2066-9).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, one_line: bool = False) -> str:
    """`text` with its control characters written as escapes; with `one_line`, tabs and
    line breaks too."""
    text = _UNSAFE.sub(_visible, text)
    if one_line:
        text = text.replace("\t", "\\t").replace("\n", "\\n")
    return text
