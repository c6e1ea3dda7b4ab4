from __future__ import annotations

import io
import logging
import socket
import traceback
from urllib.parse import quote

import pytest

from pipelines.storage.secrets import (
    RedactSecretsFilter,
    install_redaction,
    redact_url,
    url_secrets,
)
from pipelines.storage.store import ArticleStore, StorageError
from tests.postgres import PASSWORD, PostgresServer

WRONG = "Wr0ng:p@ss/wörd?#&"


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        (
            "postgresql+psycopg://crawler:s3cr%40t@db.internal:5432/hepza",
            "postgresql+psycopg://crawler:***@db.internal:5432/hepza",
        ),
        # A raw "@" inside the password: the host starts after the last one.
        ("postgresql://u:p@ss@host/db", "postgresql://u:***@host/db"),
        (
            "postgresql://u@host/db?sslmode=require&password=hunter2&application_name=x",
            "postgresql://u@host/db?sslmode=require&password=***&application_name=x",
        ),
        ("postgresql://host/db?PASSWORD=a&pwd=b", "postgresql://host/db?PASSWORD=***&pwd=***"),
        ("sqlite:///output/hepza.sqlite3", "sqlite:///output/hepza.sqlite3"),
        ("postgresql://user@host:5432/db", "postgresql://user@host:5432/db"),
        ("postgresql://user:@host/db", "postgresql://user:***@host/db"),
    ],
)
def test_redact_url(url, redacted):
    assert redact_url(url) == redacted


def test_url_secrets_cover_every_spelling():
    secrets = url_secrets("postgresql://u:s3cr%40t%20x@h/db?password=q%2Fw")
    assert {"s3cr%40t%20x", "s3cr@t x", "q/w", "q%2Fw"} <= secrets


def capture(filter_: logging.Filter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(filter_)
    logger = logging.getLogger(f"test_secrets.{id(stream)}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_filter_scrubs_message_args_and_exceptions():
    url = "postgresql://crawler:s3cr%40t-pw@db/hepza"
    logger, stream = capture(RedactSecretsFilter.from_url(url))
    logger.info("connecting to %s", url)
    logger.info("opened %(url)s", {"url": url})
    logger.warning("raw s3cr@t-pw in the message")
    logger.info("object arg %s", ValueError("bad password s3cr@t-pw"))
    try:
        raise RuntimeError(f"driver said: password s3cr@t-pw rejected for {url}")
    except RuntimeError:
        logger.exception("failed")
    logger.info("stack", stack_info=True, extra={})
    output = stream.getvalue()
    assert "s3cr" not in output
    assert output.count("***") >= 6
    assert "RuntimeError: driver said: password *** rejected" in output
    assert "postgresql://crawler:***@db/hepza" in output


def test_short_secrets_are_not_used():
    # A one-letter password would mask every "a" of every line and protect nothing.
    assert url_secrets("postgresql://u:a@h/db") == set()


def test_install_redaction_reaches_root_handlers():
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        installed = install_redaction(url="postgresql://u:install-secret@h/db")
        # A child logger's records reach root handlers but not root's own filters.
        logging.getLogger("some.library").warning("url postgresql://u:install-secret@h/db")
        assert installed in handler.filters
        assert "install-secret" not in stream.getvalue()
        assert "postgresql://u:***@h/db" in stream.getvalue()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def assert_secret_hidden(exc: BaseException, *secrets: str) -> None:
    text = "".join(traceback.format_exception(exc))
    for secret in secrets:
        assert secret not in text
        assert secret not in repr(exc)


@pytest.mark.postgres
def test_wrong_password_never_appears(postgres_server: PostgresServer, postgres_url, caplog):
    caplog.set_level(logging.DEBUG)
    name = postgres_url.rsplit("/", 1)[1]
    url = postgres_server.url(name, password=WRONG)
    with pytest.raises(StorageError) as raised:
        ArticleStore(url)
    message = str(raised.value)
    assert "password authentication failed" in message
    assert "hepza_test:***@127.0.0.1" in message
    assert_secret_hidden(raised.value, WRONG, quote(WRONG, safe=""), PASSWORD)
    assert WRONG not in caplog.text
    assert quote(WRONG, safe="") not in caplog.text


@pytest.mark.postgres
def test_right_password_never_logged(postgres_url, caplog):
    caplog.set_level(logging.DEBUG)
    store = ArticleStore(postgres_url)
    store.known_index("hepza")
    store.close()
    assert repr(store) == f"ArticleStore({store.redacted_url!r})"
    assert PASSWORD not in caplog.text
    assert quote(PASSWORD, safe="") not in caplog.text
    assert "***" in caplog.text


def test_unreachable_host_never_shows_the_password(caplog):
    caplog.set_level(logging.DEBUG)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        url = f"postgresql+psycopg://crawler:{quote(WRONG, safe='')}@127.0.0.1:{port}/hepza"
        with pytest.raises(StorageError) as raised:
            ArticleStore(url)
    assert "crawler:***@127.0.0.1" in str(raised.value)
    assert_secret_hidden(raised.value, WRONG, quote(WRONG, safe=""))
    assert WRONG not in caplog.text
    assert raised.value.__cause__ is None
