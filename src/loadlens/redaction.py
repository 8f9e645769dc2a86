"""Secrets kept out of what loadlens prints, writes and stores.

Three kinds are masked wherever they appear in text: a URL's userinfo (`https://u:p@h`),
the values of secret query keys (`?token=...`, a configurable list) and the values of the
auth and cookie headers (`Authorization: ...`). The request itself still sends the real
values: only what is shown or kept is masked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

__all__ = ["MASK", "SECRET_HEADERS", "SECRET_PARAMS", "Redactor", "check_param_name", "safe_url"]

MASK = "***"

# Query (and fragment) keys whose values are credentials, compared ignoring case.
SECRET_PARAMS = frozenset({
    "token", "access_token", "refresh_token", "id_token", "password", "passwd", "pwd",
    "key", "api_key", "apikey", "api-key", "secret", "client_secret", "signature", "sig",
    "auth", "x-amz-signature", "x-amz-credential", "x-amz-security-token",
})  # fmt: skip

SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)

# scheme://authority: the authority ends at the path, query or fragment (RFC 3986), or
# where the text around the URL does (a quote, a space, an angle bracket).
_URL = re.compile(r"\b([A-Za-z][A-Za-z0-9+.\-]*://)([^/?#\s\"'<>]*)")
# key=value after ?, & or ; (a query) or # (OAuth puts tokens in the fragment). A value
# may hold {{ templates }}, spaces and all: a template names where the value comes from.
_PARAM = re.compile(r"([?&;#])([^=&;#?\s\"'<>/]+)=((?:\{\{.*?\}\}|[^&;#\s\"'<>])*)")
_TEMPLATE = re.compile(r"\{\{.*?\}\}")
# `Name: value`, `Name=value`, `"Name": "value"` and `'Name': 'value'` (a dict's repr).
_HEADER = re.compile(
    r"(?i)(?<![\w-])(" + "|".join(sorted(map(re.escape, SECRET_HEADERS), key=len, reverse=True))
    + r")([\"']?[ \t]*[:=][ \t]*[\"']?)([^\r\n\"']+)"
)  # fmt: skip


def check_param_name(name: str) -> str:
    """A query key to keep secret, as given; raises ValueError for one that cannot be a key."""
    if not name.strip() or any(c in name for c in "=&;#? \t\r\n"):
        raise ValueError(f"{name!r} is not a query parameter name")
    return name.strip()


@dataclass(frozen=True, slots=True)
class Redactor:
    """Masks the secrets in text: URL userinfo, secret query values, auth header values."""

    params: frozenset[str] = SECRET_PARAMS

    @classmethod
    def with_params(cls, extra: Iterable[str]) -> Redactor:
        """The default secret query keys and these."""
        return cls(SECRET_PARAMS | {check_param_name(p).lower() for p in extra})

    def text(self, text: str) -> str:
        """The text with every secret in it replaced by ***."""
        if "://" in text:
            text = _URL.sub(_without_userinfo, text)
        if "=" in text:
            text = _PARAM.sub(self._param, text)
        if ":" in text or "=" in text:
            text = _HEADER.sub(_header, text)
        return text

    def headers(self, headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """The headers, with the values of auth and cookie headers masked."""
        return [(n, MASK if n.lower() in SECRET_HEADERS else v) for n, v in headers]

    def document(self, value: Any) -> Any:
        """A JSON-like value (dicts, lists, strings) with every string, keys too, redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.document(k): self.document(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.document(v) for v in value]
        return value

    def _param(self, match: re.Match[str]) -> str:
        lead, key, value = match.groups()
        if unquote_plus(key).lower() not in self.params or not value or value == MASK:
            return match.group(0)
        if not _TEMPLATE.sub("", value):
            return match.group(0)  # only templates: the name of a variable, not a value
        return f"{lead}{key}={MASK}"


def _without_userinfo(match: re.Match[str]) -> str:
    scheme, authority = match.groups()
    if "@" not in authority:
        return match.group(0)
    # The last @ ends the userinfo: an unencoded @ in a password is still the password's.
    userinfo, host = authority.rsplit("@", 1)
    user, colon, _password = userinfo.partition(":")
    if userinfo in (MASK, f"{user}:{MASK}"):
        return match.group(0)
    # A user without a password is often a token (`https://TOKEN@host`), as pip assumes.
    return f"{scheme}{user}:{MASK}@{host}" if colon and user else f"{scheme}{MASK}@{host}"


def _header(match: re.Match[str]) -> str:
    name, separator, value = match.groups()
    if not value.strip() or value == MASK:
        return match.group(0)
    return f"{name}{separator}{MASK}"


_DEFAULT = Redactor()


def safe_url(url: str) -> str:
    """The URL without its credentials (userinfo, secret query values), for messages."""
    return _DEFAULT.text(url)
