"""rich's Text for what a run says: its control characters shown, never obeyed.

rich drops a few control codes (bell, backspace, CR) but passes ESC through, so a name
with an escape sequence would drive the terminal. The views build every piece of text from
this class instead of rich's own, so no call site can forget.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text as RichText

from loadlens.printable import printable

__all__ = ["Text"]


class Text(RichText):
    """rich.text.Text, with control characters in its content made visible."""

    def __init__(self, text: str = "", *args: Any, **kwargs: Any) -> None:
        super().__init__(printable(text), *args, **kwargs)

    @classmethod
    def assemble(cls, *parts: str | RichText | tuple[str, Any], **kwargs: Any) -> Text:
        """Join strings, Texts and (string, style) pairs (rich's, typed as this class)."""
        text = super().assemble(*parts, **kwargs)  # (built with cls(), filled by append)
        assert isinstance(text, Text)
        return text

    def append(self, text: str | RichText, style: Any = None) -> Text:
        """Append a string (made printable) or another Text."""
        if isinstance(text, str):
            text = printable(text)
        super().append(text, style)
        return self
