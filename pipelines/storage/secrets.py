"""Keep database passwords out of logs, exception messages and reports."""

from __future__ import annotations

import logging
import re
import traceback
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, quote_plus, unquote, unquote_plus

if TYPE_CHECKING:
    from collections.abc import Iterable

MASK = "***"

# Query parameters that carry credentials in database URLs (libpq conninfo names included).
SECRET_QUERY_KEYS = frozenset(
    {"password", "passwd", "pwd", "pass", "sslpassword", "secret", "token", "api_key", "apikey"}
)
_QUERY_PAIR = re.compile(r"(?P<key>[^&=;]+)=(?P<value>[^&;]*)")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def _split_password(base: str) -> tuple[str, str, str] | None:
    """(text before the password, password, text after it) of ``scheme://user:pw@host/...``."""
    scheme = _SCHEME.match(base)
    if scheme is None:
        return None
    slash = base.find("/", scheme.end())
    authority_end = slash if slash != -1 else len(base)
    # The LAST "@" of the authority: a raw "@" may sit in a password.
    at = base.rfind("@", scheme.end(), authority_end)
    colon = base.find(":", scheme.end(), at)
    if at == -1 or colon == -1:
        return None
    return base[: colon + 1], base[colon + 1 : at], base[at:]


def redact_url(url: str) -> str:
    """``scheme://user:***@host/db?password=***``; anything else in the URL is kept as written."""
    base, sep, query = url.partition("?")
    parts = _split_password(base)
    if parts is not None:
        base = f"{parts[0]}{MASK}{parts[2]}"
    if sep:
        query = _QUERY_PAIR.sub(_mask_pair, query)
    return f"{base}{sep}{query}"


def _mask_pair(match: re.Match[str]) -> str:
    if unquote_plus(match["key"]).strip().lower() in SECRET_QUERY_KEYS:
        return f"{match['key']}={MASK}"
    return match.group(0)


def url_secrets(url: str) -> set[str]:
    """Every spelling of the URL's password(s) that could show up in a message."""
    found: set[str] = set()
    base, _, query = url.partition("?")
    parts = _split_password(base)
    if parts is not None:
        found.add(parts[1])
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key.strip().lower() in SECRET_QUERY_KEYS:
            found.add(value)
    spellings: set[str] = set()
    for secret in found:
        spellings |= {secret, unquote(secret), unquote_plus(secret)}
        spellings |= {quote(unquote(secret), safe=""), quote_plus(unquote(secret))}
    # A one-character password would turn every log line into asterisks and protect nothing.
    return {s for s in spellings if len(s) >= 3}


class RedactSecretsFilter(logging.Filter):
    """Replaces known secrets in a record's message, args, exception and stack text.

    A filter on a logger only sees records logged through that very logger, not those propagated
    from its children: use :func:`install_redaction`, which also puts it on the root handlers.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add_secrets(secrets)

    @classmethod
    def from_url(cls, url: str) -> RedactSecretsFilter:
        return cls(url_secrets(url))

    def add_secrets(self, secrets: Iterable[str]) -> None:
        self._secrets |= {s for s in secrets if s}
        if self._secrets:
            # Longest first so that a secret containing another one is masked whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def scrub(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(MASK, text)

    def _scrub_arg(self, arg: object) -> object:
        if isinstance(arg, str):
            return self.scrub(arg)
        if isinstance(arg, (int, float, bool)) or arg is None:
            return arg
        text = str(arg)
        scrubbed = self.scrub(text)
        return arg if scrubbed == text else scrubbed

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is None:
            return True
        if isinstance(record.msg, str):
            record.msg = self.scrub(record.msg)
        elif record.msg is not None:
            record.msg = self._scrub_arg(record.msg)
        if isinstance(record.args, dict):
            record.args = {key: self._scrub_arg(value) for key, value in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(self._scrub_arg(value) for value in record.args)
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            # Formatters reuse a cached exc_text: fill it, scrubbed, before any handler formats.
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        return True


_installed: RedactSecretsFilter | None = None


def install_redaction(
    secrets: Iterable[str] = (), *, url: str | None = None
) -> RedactSecretsFilter:
    """Install (once per process) the filter on the root logger and on every root handler."""
    global _installed  # noqa: PLW0603
    if _installed is None:
        _installed = RedactSecretsFilter()
    _installed.add_secrets(secrets)
    if url:
        _installed.add_secrets(url_secrets(url))
    root = logging.getLogger()
    if _installed not in root.filters:
        root.addFilter(_installed)
    for handler in root.handlers:
        if _installed not in handler.filters:
            handler.addFilter(_installed)
    return _installed
