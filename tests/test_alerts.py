"""Alerts (crawler/ledger/alerts.py): the settings, the reasons, and the two senders against a local
SMTP sink and a local webhook receiver."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from scrapy.settings import Settings

from crawler.ledger.alerts import (
    Alert,
    AlertConfig,
    AlertError,
    build_alert,
    coverage_drops,
    no_new_articles,
    parse_alert_config,
    post_webhook,
    previous_good_run,
    send_email,
)
from crawler.setup.config import ConfigError
from pipelines.storage.store import ArticleStore
from tests.alert_receivers import SmtpSink, WebhookReceiver, free_port

if TYPE_CHECKING:
    pass

ALERT = Alert(
    subject="[hepza-crawler] hepza: run FAILED",
    text="- the site could not be reached\n- coverage of category (Tin tức đầu tư) fell",
)


def config(**values: str) -> AlertConfig:
    return parse_alert_config(Settings(values), {})


def sink_config(sink: SmtpSink) -> AlertConfig:
    return config(
        ALERT_EMAIL_TO="ops@example.org, data@example.org",
        ALERT_EMAIL_FROM="crawler@example.org",
        ALERT_SMTP_HOST="127.0.0.1",
        ALERT_SMTP_PORT=str(sink.port),
    )


# --- settings -------------------------------------------------------------------------------


def test_no_recipient_and_no_webhook_means_alerts_are_off() -> None:
    assert not config().enabled


def test_default_smtp_port_follows_the_security_mode() -> None:
    assert config(ALERT_SMTP_SECURITY="none").smtp_port == 25
    assert config(ALERT_SMTP_SECURITY="starttls").smtp_port == 587
    assert config(ALERT_SMTP_SECURITY="SSL").smtp_port == 465
    assert config(ALERT_SMTP_SECURITY="ssl", ALERT_SMTP_PORT="2465").smtp_port == 2465


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"ALERT_EMAIL_TO": "ops"}, "ALERT_EMAIL_TO: 'ops' is not an e-mail address"),
        ({"ALERT_EMAIL_FROM": "crawler"}, "ALERT_EMAIL_FROM='crawler' is not an e-mail address"),
        ({"ALERT_SMTP_SECURITY": "tls"}, "ALERT_SMTP_SECURITY='tls' is not known"),
        ({"ALERT_SMTP_PORT": "70000"}, "ALERT_SMTP_PORT='70000' is out of range"),
        ({"ALERT_TIMEOUT": "soon"}, "ALERT_TIMEOUT='soon' is not a number"),
        ({"ALERT_COVERAGE_DROP": "20"}, "ALERT_COVERAGE_DROP='20' is out of range"),
        ({"ALERT_NO_NEW_DAYS": "-1"}, "ALERT_NO_NEW_DAYS='-1' is out of range"),
        ({"ALERT_WEBHOOK_URL": "hooks.example.org/x"}, "ALERT_WEBHOOK_URL"),
        ({"ALERT_SMTP_USER": "ops"}, "HEPZA_ALERT_SMTP_PASSWORD is not"),
    ],
)
def test_a_bad_alert_setting_is_one_line_naming_it(values: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config(**values)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_bad_webhook_url_is_refused_without_echoing_its_path() -> None:
    with pytest.raises(ConfigError) as caught:
        config(ALERT_WEBHOOK_URL="ftp://hooks.example.org/services/SECRETPATH")
    assert "SECRETPATH" not in str(caught.value)


def test_the_smtp_password_is_read_from_the_environment_only() -> None:
    settings = Settings({"ALERT_SMTP_USER": "ops", "ALERT_SMTP_PASSWORD": "from-a-setting"})
    with pytest.raises(ConfigError):
        parse_alert_config(settings, {})
    parsed = parse_alert_config(settings, {"HEPZA_ALERT_SMTP_PASSWORD": "pw"})
    assert parsed.smtp_password == "pw"


# --- reasons --------------------------------------------------------------------------------


def test_coverage_drop_beyond_the_threshold_is_a_reason_naming_field_and_shares() -> None:
    reasons = coverage_drops(
        {"title": 1.0, "author": 0.40, "body_text": 0.93},
        {"title": 1.0, "author": 0.92, "body_text": 0.97},
        0.1,
        "run1",
    )
    assert reasons == ["coverage of author fell from 92.0% to 40.0% since run run1"]


def test_coverage_without_a_previous_value_gives_no_reason() -> None:
    assert coverage_drops({"author": 0.1, "title": None}, {"title": 1.0}, 0.05, "r") == []


def _store_runs(url: str, runs: list[tuple[str, datetime, str, int]]) -> ArticleStore:
    store = ArticleStore(url)
    for run_id, started, outcome, new in runs:
        store.start_run(run_id, started, {}, site="hepza")
        report = {"counts": {"stored_new": new}, "coverage": {"author": 0.9}}
        store.finish_run(run_id, started, outcome, {}, report, site="hepza")
    return store


def test_previous_good_run_is_the_newest_succeeded_run_of_the_site(database_url: str) -> None:
    now = datetime(2026, 11, 30, tzinfo=UTC)
    store = _store_runs(
        database_url,
        [
            ("old", now - timedelta(days=3), "succeeded", 5),
            ("good", now - timedelta(days=2), "succeeded", 0),
            ("bad", now - timedelta(days=1), "failed", 0),
            ("this", now, "succeeded", 0),
        ],
    )
    found = previous_good_run(store.engine, "hepza", "this")
    assert found is not None
    assert found[0] == "good"
    assert previous_good_run(store.engine, "other-site", "this") is None
    store.close()


def test_no_new_article_for_n_days_is_a_reason_only_when_the_history_covers_them(
    database_url: str,
) -> None:
    now = datetime(2026, 11, 30, tzinfo=UTC)
    store = _store_runs(
        database_url,
        [
            ("first", now - timedelta(days=10), "succeeded", 50),
            ("quiet", now - timedelta(days=2), "succeeded", 0),
            ("this", now, "succeeded", 0),
        ],
    )
    reason = no_new_articles(store.engine, "hepza", "this", 3, now)
    assert reason == "no new article stored in the last 3 day(s) (2 run(s) since then)"
    # ten days back the first run stored 50: not quiet for 11 days (the history is shorter)
    assert no_new_articles(store.engine, "hepza", "this", 11, now) is None
    store.close()


def test_a_new_article_within_the_days_gives_no_reason(database_url: str) -> None:
    now = datetime(2026, 11, 30, tzinfo=UTC)
    store = _store_runs(
        database_url,
        [("first", now - timedelta(days=10), "succeeded", 50), ("this", now, "succeeded", 1)],
    )
    assert no_new_articles(store.engine, "hepza", "this", 3, now) is None
    store.close()


def test_the_alert_names_site_outcome_reasons_and_counts() -> None:
    report = {
        "run_id": "abc",
        "site": "hepza",
        "base_url": "https://hepza.example",
        "counts": {"stored_new": 3, "requests": 40},
    }
    alert = build_alert(report, "failed", ["the site could not be reached"])
    assert alert.subject == "[hepza-crawler] hepza: run FAILED"
    assert "Run abc of hepza (https://hepza.example): failed." in alert.text
    assert "- the site could not be reached" in alert.text
    assert "New 3, changed 0" in alert.text


# --- senders --------------------------------------------------------------------------------


def test_send_email_delivers_one_message_to_every_recipient() -> None:
    with SmtpSink() as sink:
        send_email(ALERT, sink_config(sink))
    assert len(sink.messages) == 1
    message = sink.messages[0]
    assert message["Subject"] == ALERT.subject
    assert message["From"] == "crawler@example.org"
    assert sink.envelopes[0][1] == ["ops@example.org", "data@example.org"]
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    assert "the site could not be reached" in body.get_content()
    assert "Tin tức đầu tư" in body.get_content()


# The sink takes AUTH over plain text (it has no certificate), which aiosmtpd warns about.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")
def test_send_email_logs_in_with_the_user_and_the_password_from_the_environment() -> None:
    with SmtpSink(credentials=("ops", "s3cret")) as sink:
        settings = Settings(
            {
                "ALERT_EMAIL_TO": "ops@example.org",
                "ALERT_SMTP_HOST": "127.0.0.1",
                "ALERT_SMTP_PORT": str(sink.port),
                "ALERT_SMTP_USER": "ops",
            }
        )
        send_email(ALERT, parse_alert_config(settings, {"HEPZA_ALERT_SMTP_PASSWORD": "s3cret"}))
    assert sink.logins == ["ops"]
    assert len(sink.messages) == 1


def test_send_email_to_a_dead_smtp_server_raises_one_line_naming_it() -> None:
    port = free_port()
    dead = config(ALERT_EMAIL_TO="ops@example.org", ALERT_SMTP_HOST="127.0.0.1",
                  ALERT_SMTP_PORT=str(port))  # fmt: skip
    with pytest.raises(AlertError) as caught:
        send_email(ALERT, dead)
    assert f"e-mail via 127.0.0.1:{port} failed" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_starttls_against_a_server_without_it_is_an_alert_error() -> None:
    with SmtpSink() as sink:
        plain = sink_config(sink)
        starttls = AlertConfig(**{**plain.__dict__, "smtp_security": "starttls"})
        with pytest.raises(AlertError, match="STARTTLS"):
            send_email(ALERT, starttls)
    assert sink.messages == []


def test_post_webhook_sends_slack_compatible_text_json() -> None:
    with WebhookReceiver() as receiver:
        post_webhook(ALERT, receiver.url, 5)
    assert len(receiver.bodies) == 1
    payload = json.loads(receiver.bodies[0])
    assert list(payload) == ["text"]
    assert payload["text"].startswith(ALERT.subject)
    assert "the site could not be reached" in payload["text"]
    assert "Tin tức đầu tư" in payload["text"]
    assert receiver.content_types[0].startswith("application/json")


def test_a_webhook_answering_500_raises_naming_the_status_not_the_secret_path() -> None:
    with WebhookReceiver(status=500) as receiver, pytest.raises(AlertError) as caught:
        post_webhook(ALERT, receiver.url, 5)
    assert "answered HTTP 500" in str(caught.value)
    assert "SECRETPATH" not in str(caught.value)


def test_a_webhook_slower_than_the_timeout_raises() -> None:
    with WebhookReceiver(delay=2) as receiver, pytest.raises(AlertError, match="timed out"):
        post_webhook(ALERT, receiver.url, 0.2)


def test_a_dead_webhook_raises_one_line() -> None:
    with pytest.raises(AlertError) as caught:
        post_webhook(ALERT, f"http://127.0.0.1:{free_port()}/hook", 2)
    assert "refused" in str(caught.value).lower()
