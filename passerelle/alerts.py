"""Alerts when a run fails or a blocking check stops a publication.

:func:`send_alert` always writes ``<out>/alerts/<timestamp>-<slug>.txt`` (the alert survives
even when no mail server or webhook is configured), then, when configured:

- a mail through SMTP: ``PASSERELLE_ALERT_SMTP=smtp://[user:password@]host[:port]`` (port 25
  by default; ``smtps://`` for SMTP over TLS, port 465; ``?starttls=1`` to upgrade a plain
  connection), from ``PASSERELLE_ALERT_FROM`` (default ``passerelle@<host>``) to
  ``PASSERELLE_ALERT_TO`` (addresses separated by commas);
- a JSON ``POST`` to ``PASSERELLE_ALERT_WEBHOOK=https://…`` with ``subject``, ``body``,
  ``file``, ``host``, ``sent_at`` and the ``extra`` fields given (run id, date…).

Sending never raises: an unreachable server is logged and reported in the returned
:class:`AlertResult`, the run's own outcome is what matters. Plain Python, no Dagster import:
the CLI, the Dagster run-failure sensor and the blocking-check hook all call it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import smtplib
import socket
import unicodedata
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

ENV_SMTP = "PASSERELLE_ALERT_SMTP"
ENV_WEBHOOK = "PASSERELLE_ALERT_WEBHOOK"
ENV_FROM = "PASSERELLE_ALERT_FROM"
ENV_TO = "PASSERELLE_ALERT_TO"
ALERTS_DIR = "alerts"
TIMEOUT_SECONDS = 10

log = logging.getLogger(__name__)


@dataclass
class AlertResult:
    path: Path | None  # the alert file, None when it could not be written
    mailed: bool = False
    posted: bool = False
    errors: list[str] = field(default_factory=list)


def slugify(text: str, max_len: int = 60) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return (slug[:max_len].rstrip("-")) or "alerte"


def _write_file(out_dir: Path, subject: str, body: str, now: datetime) -> Path:
    folder = Path(out_dir) / ALERTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{now:%Y%m%dT%H%M%S%fZ}-{slugify(subject)}"
    path = folder / f"{stem}.txt"
    n = 2
    while path.exists():
        path = folder / f"{stem}-{n}.txt"
        n += 1
    text = f"Sujet : {subject}\nDate : {now.isoformat()}\nHôte : {socket.gethostname()}\n\n{body.rstrip()}\n"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)  # never a half-written alert
    return path


def _recipients() -> list[str]:
    return [a.strip() for a in os.environ.get(ENV_TO, "").split(",") if a.strip()]


def send_mail(
    smtp_url: str, subject: str, body: str, *, sender: str | None = None, recipients: list[str] | None = None
) -> None:
    """Send one plain-text mail through ``smtp_url`` (raises on failure; :func:`send_alert` catches)."""
    url = urlsplit(smtp_url)
    if url.scheme not in ("smtp", "smtps"):
        raise ValueError(f"adresse SMTP « {smtp_url} » : attendu smtp://hôte:port ou smtps://hôte:port")
    recipients = recipients if recipients is not None else _recipients()
    if not recipients:
        raise ValueError(f"aucun destinataire : renseignez {ENV_TO} (adresses séparées par des virgules)")
    sender = sender or os.environ.get(ENV_FROM) or f"passerelle@{socket.gethostname()}"
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain="passerelle")
    msg.set_content(body)
    with smtp_client(smtp_url) as client:
        client.send_message(msg, from_addr=sender, to_addrs=recipients)


def smtp_client(smtp_url: str) -> smtplib.SMTP:
    """A connected (and, when the URL says so, TLS-upgraded and logged-in) SMTP client for
    ``smtp_url``; use it as a context manager (``with smtp_client(url) as client:``)."""
    url = urlsplit(smtp_url)
    if url.scheme not in ("smtp", "smtps"):
        raise ValueError(f"adresse SMTP « {smtp_url} » : attendu smtp://hôte:port ou smtps://hôte:port")
    host = url.hostname or "localhost"
    if url.scheme == "smtps":
        client: smtplib.SMTP = smtplib.SMTP_SSL(host, url.port or 465, timeout=TIMEOUT_SECONDS)
    else:
        client = smtplib.SMTP(host, url.port or 25, timeout=TIMEOUT_SECONDS)
    try:
        if url.scheme == "smtp" and parse_qs(url.query).get("starttls", ["0"])[0] in ("1", "true", "yes"):
            client.starttls()
        if url.username:
            client.login(unquote(url.username), unquote(url.password or ""))
    except BaseException:
        client.close()
        raise
    return client


def post_webhook(webhook_url: str, payload: dict[str, Any]) -> int:
    """POST ``payload`` as JSON; returns the HTTP status (raises on failure)."""
    if urlsplit(webhook_url).scheme not in ("http", "https"):
        raise ValueError(f"adresse de webhook « {webhook_url} » : attendu http(s)://…")
    data = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
    request = urllib.request.Request(
        webhook_url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "passerelle-alerts"},
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - configured URL
        status, headers = response.status, response.headers
    if not 200 <= status < 300:
        raise urllib.error.HTTPError(webhook_url, status, f"HTTP {status}", headers, None)
    return status


def send_alert(
    out_dir: str | Path,
    subject: str,
    body: str,
    *,
    smtp_url: str | None = None,
    webhook_url: str | None = None,
    extra: dict[str, Any] | None = None,
) -> AlertResult:
    """Write the alert under ``<out_dir>/alerts/`` and send it where configured.

    ``smtp_url`` / ``webhook_url``: None reads ``PASSERELLE_ALERT_SMTP`` /
    ``PASSERELLE_ALERT_WEBHOOK``; an empty string disables that channel. Never raises.
    """
    now = datetime.now(UTC)
    result = AlertResult(path=None)
    try:
        result.path = _write_file(Path(out_dir), subject, body, now)
    except Exception as exc:  # noqa: BLE001 - an alert must not crash the caller
        result.errors.append(f"fichier d'alerte non écrit sous {out_dir}/{ALERTS_DIR} : {exc}")

    smtp_url = os.environ.get(ENV_SMTP, "") if smtp_url is None else smtp_url
    if smtp_url:
        try:
            send_mail(smtp_url, subject, body)
            result.mailed = True
        except Exception as exc:  # noqa: BLE001
            result.errors.append(f"courriel d'alerte non envoyé via {_safe(smtp_url)} : {exc}")

    webhook_url = os.environ.get(ENV_WEBHOOK, "") if webhook_url is None else webhook_url
    if webhook_url:
        payload = {
            "subject": subject,
            "body": body,
            "file": str(result.path) if result.path else None,
            "host": socket.gethostname(),
            "sent_at": now.isoformat(),
            **(extra or {}),
        }
        try:
            post_webhook(webhook_url, payload)
            result.posted = True
        except Exception as exc:  # noqa: BLE001
            result.errors.append(f"webhook d'alerte non appelé (hôte {urlsplit(webhook_url).hostname}) : {exc}")

    for error in result.errors:
        log.warning("passerelle alert: %s", error)
    return result


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url
