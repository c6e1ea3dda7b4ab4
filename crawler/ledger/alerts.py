"""Alerts: what to tell the operators about a finished run, and the two ways to tell them.

Plain Python, no Scrapy: the settings (:class:`AlertConfig`), the reasons to alert (a failed
run, and optionally a field-coverage drop against the site's previous good run or no new
article for N days, both read from ``crawl_runs``), the message, and the senders: e-mail over
SMTP (STARTTLS or SSL, login from the environment) and a webhook POST of ``{"text": ...}``,
the JSON Slack incoming webhooks and Teams workflows take. A sender that fails raises
:class:`AlertError` with one line that never carries a password or a webhook's secret path.
The extension that calls them is ``crawler/extensions/alerts.py``.

Why not spidermon (1.27, which installs with Scrapy 2.19): its SMTP action hands the message to
``scrapy.mail.MailSender`` (deprecated in Scrapy 2.19) and drops the Deferred, so against a dead
SMTP server the action reports "OK" while MailSender logs a traceback: the run cannot know its
alert was lost. It also refuses an SMTP relay without a login; its Slack action needs a Slack
API token (no incoming webhooks, no Teams); its monitors would judge coverage a second time
beside the run owner; and its ``monitoring`` extra brings some 30 packages (boto, scrapinghub,
sentry-sdk...).
"""

from __future__ import annotations

import json
import smtplib
import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import select

from crawler.setup.config import ConfigError, parse_number
from pipelines.storage.models import CrawlRun

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from scrapy.settings import BaseSettings
    from sqlalchemy.engine import Engine

SECURITY_MODES = ("none", "starttls", "ssl")
DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
# Environment only: a secret never sits in a settings file or on a command line.
SMTP_PASSWORD_ENV = "HEPZA_ALERT_SMTP_PASSWORD"


class AlertError(Exception):
    """One alert could not be delivered; the message is one line, without secrets."""


@dataclass(frozen=True)
class AlertConfig:
    email_to: tuple[str, ...]
    email_from: str
    smtp_host: str
    smtp_port: int
    smtp_security: str
    smtp_user: str | None
    smtp_password: str | None
    webhook_url: str | None
    timeout: float
    coverage_drop: float
    no_new_days: int

    @property
    def enabled(self) -> bool:
        return bool(self.email_to or self.webhook_url)


def webhook_place(url: str) -> str:
    """The webhook as logs show it: scheme and host only (Slack's path is its secret)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def parse_alert_config(settings: BaseSettings, environ: Mapping[str, str]) -> AlertConfig:
    """The alert settings, checked; a bad one raises ConfigError with one line."""
    email_to = tuple(
        address.strip()
        for address in str(settings.get("ALERT_EMAIL_TO") or "").split(",")
        if address.strip()
    )
    for address in email_to:
        if "@" not in address or any(c.isspace() for c in address):
            raise ConfigError(
                f"ALERT_EMAIL_TO: {address!r} is not an e-mail address: expected "
                "name@host, several separated by commas"
            )
    email_from = str(settings.get("ALERT_EMAIL_FROM") or "").strip()
    if not email_from:
        email_from = f"hepza-crawler@{socket.gethostname()}"
    elif "@" not in email_from:
        raise ConfigError(
            f"ALERT_EMAIL_FROM={email_from!r} is not an e-mail address: expected name@host"
        )
    security = str(settings.get("ALERT_SMTP_SECURITY") or "none").strip().lower()
    if security not in SECURITY_MODES:
        raise ConfigError(
            f"ALERT_SMTP_SECURITY={security!r} is not known: expected one of "
            + ", ".join(SECURITY_MODES)
        )
    port = int(parse_number("ALERT_SMTP_PORT", settings.get("ALERT_SMTP_PORT") or 0))
    webhook = str(settings.get("ALERT_WEBHOOK_URL") or "").strip() or None
    if webhook is not None:
        parts = urlsplit(webhook)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigError(
                f"ALERT_WEBHOOK_URL ({webhook_place(webhook) or 'empty'}…) is not an http(s) "
                "URL: expected e.g. https://hooks.slack.com/services/…"
            )
    user = str(settings.get("ALERT_SMTP_USER") or "").strip() or None
    password = environ.get(SMTP_PASSWORD_ENV) or None
    if user and not password:
        raise ConfigError(
            f"ALERT_SMTP_USER is set but {SMTP_PASSWORD_ENV} is not: the SMTP password comes "
            "from the environment only"
        )
    return AlertConfig(
        email_to=email_to,
        email_from=email_from,
        smtp_host=str(settings.get("ALERT_SMTP_HOST") or "localhost").strip(),
        smtp_port=port or DEFAULT_PORTS[security],
        smtp_security=security,
        smtp_user=user,
        smtp_password=password,
        webhook_url=webhook,
        timeout=parse_number("ALERT_TIMEOUT", settings.get("ALERT_TIMEOUT") or 10),
        coverage_drop=parse_number("ALERT_COVERAGE_DROP", settings.get("ALERT_COVERAGE_DROP") or 0),
        no_new_days=int(parse_number("ALERT_NO_NEW_DAYS", settings.get("ALERT_NO_NEW_DAYS") or 0)),
    )


# --- why alert ------------------------------------------------------------------------------


def coverage_drops(
    current: Mapping[str, float | None], previous: Mapping[str, Any], drop: float, run_id: str
) -> list[str]:
    """One reason per field whose coverage fell by more than ``drop`` (a share: 0.1 is ten
    percentage points) since the run ``run_id`` whose coverage was ``previous``."""
    reasons = []
    for field, share in current.items():
        before = previous.get(field)
        if share is None or not isinstance(before, (int, float)):
            continue
        if before - share > drop:
            reasons.append(
                f"coverage of {field} fell from {before:.1%} to {share:.1%} since run {run_id}"
            )
    return reasons


def previous_good_run(engine: Engine, site: str, run_id: str) -> tuple[str, dict[str, Any]] | None:
    """(run id, report) of the site's newest succeeded run before ``run_id``."""
    with engine.connect() as conn:
        row = conn.execute(
            select(CrawlRun.run_id, CrawlRun.report)
            .where(
                CrawlRun.site == site,
                CrawlRun.outcome == "succeeded",
                CrawlRun.run_id != run_id,
            )
            .order_by(CrawlRun.started_at.desc())
            .limit(1)
        ).first()
    if row is None or not isinstance(row.report, dict):
        return None
    return str(row.run_id), row.report


def no_new_articles(engine: Engine, site: str, run_id: str, days: int, now: datetime) -> str | None:
    """The reason to alert when no run of ``site`` stored a new article in the last ``days``
    days, this one included; None when one did, or when the site's history is shorter."""
    cutoff = now - timedelta(days=days)
    with engine.connect() as conn:
        recent = conn.execute(
            select(CrawlRun.run_id, CrawlRun.report).where(
                CrawlRun.site == site, CrawlRun.started_at >= cutoff
            )
        ).all()
        older = conn.scalar(
            select(CrawlRun.run_id)
            .where(CrawlRun.site == site, CrawlRun.started_at < cutoff)
            .limit(1)
        )
    if older is None:
        return None
    for row in recent:
        counts = row.report.get("counts") if isinstance(row.report, dict) else None
        if isinstance(counts, dict) and int(counts.get("stored_new") or 0) > 0:
            return None
    return f"no new article stored in the last {days} day(s) ({len(recent)} run(s) since then)"


# --- the message ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    subject: str
    text: str


def build_alert(report: Mapping[str, Any], outcome: str, reasons: list[str]) -> Alert:
    site = report.get("site") or report.get("spider") or "?"
    counts = report.get("counts") or {}
    head = "FAILED" if outcome != "succeeded" else "needs attention"
    subject = f"[hepza-crawler] {site}: run {head}"
    lines = [
        f"Run {report.get('run_id')} of {site} ({report.get('base_url') or '?'}): {outcome}.",
        "",
        *(f"- {reason}" for reason in reasons),
        "",
        f"Started {report.get('started_at')}, finished {report.get('finished_at')}, "
        f"{report.get('duration_seconds')} s.",
        f"New {counts.get('stored_new', 0)}, changed {counts.get('stored_changed', 0)}, "
        f"rejected {counts.get('rejected', 0)}, requests {counts.get('requests', 0)}, "
        f"failed requests {counts.get('failed_requests', 0)}.",
    ]
    return Alert(subject=subject, text="\n".join(lines))


# --- the senders ----------------------------------------------------------------------------


def alert_channels(config: AlertConfig) -> list[tuple[str, Callable[[Alert], None]]]:
    """(channel as logs name it, sender) for every channel the settings turn on."""
    channels: list[tuple[str, Callable[[Alert], None]]] = []
    if config.email_to:
        channels.append(
            (f"e-mail to {', '.join(config.email_to)}", lambda a: send_email(a, config))
        )
    if config.webhook_url:
        url = config.webhook_url
        channels.append(
            (f"webhook {webhook_place(url)}", lambda a: post_webhook(a, url, config.timeout))
        )
    return channels


def alert_without_report(
    settings: BaseSettings,
    environ: Mapping[str, str],
    spider_name: str,
    reason: str,
    *,
    headline: str = "could not start",
) -> list[str]:
    """Alert about a crawl that failed with no run report to hold it (its database cannot be
    reached; it was killed). Returns one line per alert that could not be delivered."""
    try:
        config = parse_alert_config(settings, environ)
    except ConfigError:
        return []  # the preflight stops on a bad alert setting before it tries the database
    alert = Alert(
        subject=f"[hepza-crawler] {spider_name}: run FAILED",
        text=f"The crawl of {spider_name} {headline}:\n\n- {reason}",
    )
    errors = []
    for channel, send in alert_channels(config):
        try:
            send(alert)
        except AlertError as exc:
            errors.append(f"{channel}: {exc}")
    return errors


def send_email(alert: Alert, config: AlertConfig) -> None:
    message = EmailMessage()
    message["Subject"] = alert.subject
    message["From"] = config.email_from
    message["To"] = ", ".join(config.email_to)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=config.email_from.rpartition("@")[2])
    message.set_content(alert.text)
    place = f"{config.smtp_host}:{config.smtp_port}"
    try:
        smtp: smtplib.SMTP
        if config.smtp_security == "ssl":
            smtp = smtplib.SMTP_SSL(
                config.smtp_host,
                config.smtp_port,
                timeout=config.timeout,
                context=ssl.create_default_context(),
            )
        else:
            smtp = smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=config.timeout)
        with smtp:
            if config.smtp_security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if config.smtp_user and config.smtp_password:
                smtp.login(config.smtp_user, config.smtp_password)
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        detail = str(exc).replace("\n", " ") or type(exc).__name__
        raise AlertError(f"e-mail via {place} failed: {detail}") from None


def post_webhook(alert: Alert, url: str, timeout: float) -> None:
    body = json.dumps({"text": f"{alert.subject}\n{alert.text}"}, ensure_ascii=False)
    request = urllib.request.Request(
        url,
        data=body.encode("utf-8"),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    place = webhook_place(url)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        raise AlertError(f"webhook {place} answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise AlertError(f"webhook {place} failed: {reason}") from None
    if not 200 <= status < 300:
        raise AlertError(f"webhook {place} answered HTTP {status}")
