"""``passerelle notify``: send the messages of a day to the training bodies, by SMTP.

Reads ``<out>/<D>/quality/messages/*.eml`` (written by the run of D, one per training body
with open errors or warnings) and, for each body, decides from the store:

- **first**: nothing was ever sent to this body: send;
- **new**: findings are open that the last message sent to this body did not list: send at once;
- **reminder**: the same findings are still open and the last message is ``resend_days`` days
  old or more (7 by default): send again;
- **unchanged**: otherwise, do not send (« déjà envoyé le … ; prochain rappel le … »);
- **manual**: the message has no recipient (no address in the extracts): never sent, to be
  sent by hand (the report says so).

A body with nothing open has no message file: nothing is ever sent to it. What is sent (or
fails) is recorded in the store (``notifications``: body, date, time, recipients, the findings
listed, outcome), and a failure does not stop the others. ``dry_run`` lists the decisions
without sending or recording anything.

SMTP settings are those of the alerts (``PASSERELLE_ALERT_SMTP``, ``PASSERELLE_ALERT_FROM``),
or a YAML file (``--config``) with ``smtp``, ``from``, ``reply_to`` and ``resend_days``. At
sending time the message gets its ``Date`` and ``Message-ID`` (and ``From`` / ``Reply-To`` when
configured); a server without 8BITMIME gets the text quoted-printable.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses, make_msgid
from pathlib import Path

from passerelle.alerts import ENV_FROM, ENV_SMTP, _safe, smtp_client
from passerelle.report.messages import MESSAGES_DIR

RESEND_DAYS = 7
SEVERITIES_SENT = ("error", "warning")


class NotifyError(RuntimeError):
    """The day cannot be notified (no such day folder, no SMTP server, bad configuration)."""


@dataclass
class NotifySettings:
    smtp: str = ""
    sender: str = ""
    reply_to: str = ""
    resend_days: int = RESEND_DAYS

    @classmethod
    def load(cls, config: Path | None = None) -> NotifySettings:
        """From ``config`` (YAML) when given, else (and for what it leaves out) the alerts' variables."""
        data: dict = {}
        if config is not None:
            import yaml

            try:
                data = yaml.safe_load(Path(config).read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise NotifyError(f"configuration « {config} » illisible : {exc}") from exc
            if not isinstance(data, dict):
                raise NotifyError(f"configuration « {config} » : attendu des clés smtp, from, reply_to, resend_days")
            unknown = sorted(set(data) - {"smtp", "from", "reply_to", "resend_days"})
            if unknown:
                raise NotifyError(
                    f"configuration « {config} » : clé(s) inconnue(s) {', '.join(unknown)} "
                    "(attendu smtp, from, reply_to, resend_days)"
                )
        try:
            resend = int(data.get("resend_days", RESEND_DAYS))
        except (TypeError, ValueError):
            resend = -1
        if resend < 1:
            raise NotifyError(f"resend_days = « {data.get('resend_days')} » : attendu un nombre de jours >= 1")
        return cls(
            smtp=str(data.get("smtp") or os.environ.get(ENV_SMTP, "")),
            sender=str(data.get("from") or os.environ.get(ENV_FROM, "")),
            reply_to=str(data.get("reply_to") or ""),
            resend_days=resend,
        )


@dataclass
class Decision:
    file: str  # relative to the day folder
    body_key: str
    name: str
    recipients: list[str]
    subject: str
    action: str  # first | new | reminder | unchanged | manual
    detail: str  # French, for the listing
    finding_keys: list[str] = field(default_factory=list)
    outcome: str = ""  # sent | failed | "" (not sent)
    error: str = ""

    @property
    def to_send(self) -> bool:
        return self.action in ("first", "new", "reminder")


def _read(path: Path) -> EmailMessage:
    with open(path, "rb") as fh:
        return BytesParser(policy=policy.SMTP).parse(fh)


def _open_keys(store, run_date: date, body_key: str) -> list[str]:
    from passerelle.store.findings import finding_states

    st = finding_states(store, run_date, body_key)
    st = st[(st["status"].astype(str) != "resolved") & st["severity"].astype(str).isin(SEVERITIES_SENT)]
    return sorted(st["finding_key"].astype(str))


def plan(out: Path, run_date: date, store, settings: NotifySettings, now: datetime | None = None) -> list[Decision]:
    """What would be sent for the day ``run_date`` (nothing is sent)."""
    from passerelle.report.render import d
    from passerelle.store.findings import last_notification

    now = now or datetime.now(UTC)
    day = Path(out) / run_date.isoformat()
    if not day.is_dir():
        raise NotifyError(
            f"aucun contrôle publié pour le {run_date:%d/%m/%Y} : le dossier {day} n'existe pas "
            "(lancez d'abord passerelle run pour cette date)"
        )
    names = {}
    manifest = day / "manifest.json"
    if manifest.is_file():
        names = {
            m["file"]: m.get("name", "") for m in json.loads(manifest.read_text(encoding="utf-8")).get("messages", [])
        }
    decisions = []
    for path in sorted((day / MESSAGES_DIR).glob("*.eml")):
        rel = f"{MESSAGES_DIR}/{path.name}"
        msg = _read(path)
        body_key = str(msg.get("X-Passerelle-Organisme", "")).strip() or path.stem
        recipients = [a for _, a in getaddresses([str(v) for v in msg.get_all("To", [])]) if a]
        keys = _open_keys(store, run_date, body_key)
        dec = Decision(rel, body_key, names.get(rel, ""), recipients, str(msg.get("Subject", "")), "", "", keys)
        last = last_notification(store, body_key)
        if not recipients:
            dec.action, dec.detail = "manual", "aucune adresse e-mail dans les extraits : à envoyer à la main"
        elif last is None:
            dec.action, dec.detail = "first", "premier message à cet organisme"
        else:
            sent_keys = set((last.get("finding_keys") or {}).get("keys", []))
            new = [k for k in keys if k not in sent_keys]
            due = last["sent_at"] + timedelta(days=settings.resend_days)
            if new:
                dec.action = "new"
                dec.detail = f"{len(new)} constat(s) nouveau(x) depuis le message du {d(last['sent_at'])}"
            elif now >= due:
                dec.action = "reminder"
                dec.detail = f"rappel : rien de corrigé depuis le message du {d(last['sent_at'])}"
            else:
                dec.action = "unchanged"
                dec.detail = f"déjà envoyé le {d(last['sent_at'])}, rien de nouveau ; prochain rappel le {d(due)}"
        decisions.append(dec)
    return decisions


def notify(
    out: Path, run_date: date, store, settings: NotifySettings, *, dry_run: bool = False, now: datetime | None = None
) -> list[Decision]:
    """Send what :func:`plan` decides (unless ``dry_run``), recording each message in the store."""
    from passerelle.store.findings import record_notification

    decisions = plan(out, run_date, store, settings, now)
    to_send = [dec for dec in decisions if dec.to_send]
    if dry_run or not to_send:
        return decisions
    if not settings.smtp:
        raise NotifyError(f"aucun serveur SMTP : renseignez {ENV_SMTP} (smtp://hôte:port) ou « smtp » dans --config")
    day = Path(out) / run_date.isoformat()
    try:
        client = smtp_client(settings.smtp)
    except Exception as exc:  # noqa: BLE001 - reported per message below
        client, connect_error = None, f"serveur {_safe(settings.smtp)} injoignable : {exc}"
    else:
        connect_error = ""
    try:
        for dec in to_send:
            path = day / dec.file
            raw = path.read_bytes()
            sent_at = datetime.now(UTC)
            try:
                if client is None:
                    raise RuntimeError(connect_error)
                msg = _read(path)
                _stamp(msg, settings, sent_at)
                client.ehlo_or_helo_if_needed()
                if not client.has_extn("8bitmime"):
                    msg.set_content(msg.get_content(), charset="utf-8", cte="quoted-printable")
                client.send_message(msg, to_addrs=dec.recipients)
                dec.outcome = "sent"
            except Exception as exc:  # noqa: BLE001 - one failure must not stop the others
                dec.outcome, dec.error = "failed", str(exc)
            record_notification(
                store,
                body_key=dec.body_key,
                run_date=run_date,
                sent_at=sent_at,
                outcome=dec.outcome,
                reason=dec.action,
                recipients=dec.recipients,
                subject=dec.subject,
                message_file=dec.file,
                sha256=hashlib.sha256(raw).hexdigest(),
                finding_keys=dec.finding_keys,
                error=dec.error or None,
            )
    finally:
        if client is not None:
            try:
                client.quit()
            except Exception:  # noqa: BLE001
                client.close()
    return decisions


def _stamp(msg: EmailMessage, settings: NotifySettings, sent_at: datetime) -> None:
    for header in ("Date", "Message-ID"):
        del msg[header]
    msg["Date"] = format_datetime(sent_at.astimezone())
    msg["Message-ID"] = make_msgid(idstring=str(msg.get("X-Passerelle-Organisme", "")), domain="passerelle")
    if settings.sender:
        del msg["From"]
        msg["From"] = settings.sender
    if settings.reply_to:
        del msg["Reply-To"]
        msg["Reply-To"] = settings.reply_to


ACTION_LABELS = {
    "first": "à envoyer",
    "new": "à envoyer",
    "reminder": "à envoyer (rappel)",
    "unchanged": "pas d'envoi",
    "manual": "à envoyer à la main",
}


def listing(decisions: list[Decision], run_date: date, dry_run: bool) -> list[str]:
    """French lines for the command line."""
    head = f"Passerelle — messages aux organismes, contrôle du {run_date:%d/%m/%Y}" + (
        " (simulation : rien n'est envoyé)" if dry_run else ""
    )
    lines = [head]
    if not decisions:
        lines.append("  aucun organisme n'a de constat ouvert à corriger : aucun message.")
    for dec in decisions:
        status = ACTION_LABELS[dec.action]
        if dec.outcome == "sent":
            status = "envoyé" + (" (rappel)" if dec.action == "reminder" else "")
        elif dec.outcome == "failed":
            status = f"ÉCHEC de l'envoi : {dec.error}"
        who = ", ".join(dec.recipients) or "aucune adresse"
        lines.append(f"  {dec.body_key} {dec.name}".rstrip() + f" → {who}")
        lines.append(f"      {status} — {dec.detail} — {dec.file}")
    sent = sum(dec.outcome == "sent" for dec in decisions)
    failed = sum(dec.outcome == "failed" for dec in decisions)
    would = sum(dec.to_send for dec in decisions)
    manual = sum(dec.action == "manual" for dec in decisions)
    if dry_run:
        lines.append(
            f"  {would} à envoyer, {len(decisions) - would - manual} sans changement, {manual} à envoyer à la main"
        )
    else:
        lines.append(
            f"  {sent} envoyé(s), {failed} en échec, {len(decisions) - sent - failed - manual} sans changement, "
            f"{manual} à envoyer à la main"
        )
    return lines
