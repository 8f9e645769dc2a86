"""A virtual user's cookies: kept from Set-Cookie, sent back to the origin that set them.

Deliberately small (no Domain/Path matching, no public-suffix rules): a load test talks to
a few origins it names itself, and a full RFC 6265 jar (http.cookiejar) wants urllib
request and response objects built for every exchange. Expiry is honoured, so a
logout that expires the session cookie logs the user out.
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

__all__ = ["CookieJar"]


def _expired(attributes: list[str]) -> bool:
    """Max-Age wins over Expires (RFC 6265 5.3); an unreadable one is ignored, as browsers do."""
    max_age = expires = None
    for attribute in attributes:
        key, _, value = attribute.strip().partition("=")
        key = key.lower()
        if key == "max-age":
            max_age = value
        elif key == "expires":
            expires = value
    try:
        if max_age is not None:
            return int(max_age) <= 0
        if expires is not None:
            return parsedate_to_datetime(expires).timestamp() <= time.time()
    except (ValueError, TypeError, OverflowError):
        pass
    return False


class CookieJar:
    """Cookies by origin; `header(origin)` is the Cookie line to send there."""

    __slots__ = ("_cookies", "_lines")

    def __init__(self) -> None:
        self._cookies: dict[int, dict[str, str]] = {}
        self._lines: dict[int, bytes] = {}  # the encoded Cookie header, rebuilt on change

    def update(self, origin: int, set_cookie_values: list[bytes]) -> None:
        """Apply a response's Set-Cookie headers."""
        if not set_cookie_values:
            return
        cookies = self._cookies.setdefault(origin, {})
        for raw in set_cookie_values:
            pair, *attributes = raw.decode("latin-1").split(";")
            name, sep, value = pair.partition("=")
            name = name.strip()
            if not sep or not name:
                continue
            if _expired(attributes):
                cookies.pop(name, None)
            else:
                cookies[name] = value.strip()
        self._lines[origin] = (
            ("Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items()) + "\r\n").encode(
                "latin-1"
            )
            if cookies
            else b""
        )

    def header(self, origin: int) -> bytes:
        """`Cookie: a=1; b=2\\r\\n` for `origin`, or b"" when it has set none."""
        return self._lines.get(origin, b"")

    def get(self, origin: int, name: str) -> str | None:
        """One cookie's value."""
        return self._cookies.get(origin, {}).get(name)

    def clear(self) -> None:
        """Forget every cookie."""
        self._cookies.clear()
        self._lines.clear()
