"""One French message per training body with open findings: ``quality/messages/<SIRET>.eml``.

A body gets a message when it has at least one open error or warning (informations are not
sent). The message lists what to fix — session, rule, message, where (file, line, field,
value) and since when — new findings first, then those already reported; it ends with what to
fix per rule. Its text is ``templates/message.txt.j2``, its subject
``templates/message_subject.txt.j2``; the report shows the same text as the ready-to-send
message of the body.

Recipients: the ``contact_email`` of the body's sessions that have findings, or, when none of
them has a valid address, of the body's other sessions today (syntax checked with
email-validator, without DNS; at most :data:`MAX_RECIPIENTS`, the most used first). A body
without any address still gets its file, without ``To`` and with
``X-Passerelle-Envoi: manuel``: the report says it must be sent by hand.

The file is RFC 5322 (Python's ``email`` package, UTF-8 text sent as 8bit, CRLF line ends): ``From`` (the alerts'
``PASSERELLE_ALERT_FROM``, else ``passerelle@localhost``), ``To``, ``Subject``, ``Date``, and
``X-Passerelle-*`` headers naming the body, the control date and the number of findings.
``passerelle notify`` (:mod:`passerelle.notify`) sends these files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime, time
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from passerelle.alerts import ENV_FROM, slugify
from passerelle.report.render import render

MESSAGES_DIR = "quality/messages"
MAIL_CAP = 300  # points listed in the message of one training body
MAX_RECIPIENTS = 10
DEFAULT_FROM = "passerelle@localhost"
PARIS = ZoneInfo("Europe/Paris")


@dataclass
class BodyMessage:
    body_key: str  # SIRET, or nom:<name>
    name: str
    siret: str
    filename: str  # <SIRET>.eml
    recipients: list[str]
    subject: str
    text: str
    finding_keys: list[str] = field(default_factory=list)  # the errors and warnings listed (and capped)
    counts: dict = field(default_factory=dict)  # error, warning, new, open


def message_filename(body_key: str, name: str) -> str:
    if body_key and not body_key.startswith("nom:"):
        return f"{slugify(body_key, 40)}.eml"
    return f"sans-siret-{slugify(name or 'organisme', 50)}.eml"


def _valid_emails(values: pd.Series) -> dict[str, str]:
    """Distinct addresses -> normalised form, for the syntactically valid ones."""
    from email_validator import EmailNotValidError, validate_email

    out = {}
    for raw in pd.unique(values[values != ""]):
        try:
            out[raw] = validate_email(str(raw), check_deliverability=False).normalized
        except EmailNotValidError:
            continue
    return out


def _recipients(sessions: pd.DataFrame, body_key: str, keys: set[str], valid: dict[str, str]) -> list[str]:
    mine = sessions[sessions["body_key"] == body_key]
    for pool in (mine[mine["session_key"].isin(keys)], mine):
        addr = mine.loc[pool.index, "contact_email"].map(valid).dropna()
        if len(addr):
            counts = addr.value_counts()
            ranked = sorted(counts.index, key=lambda a: (-int(counts[a]), a))
            return ranked[:MAX_RECIPIENTS]
    return []


def body_messages(ctx, f_all: pd.DataFrame) -> dict[str, BodyMessage]:
    """The message of each training body with open errors or warnings, keyed by body key.

    ``f_all``: the prepared, display-sorted finding states of :mod:`passerelle.report.html`."""
    from passerelle.findings_life import body_keys, sessions_of_bodies
    from passerelle.report.html import SOURCE_LABEL, where_parts

    open_ = f_all[(f_all["status"] != "resolved") & (f_all["sev"] != "info")
                  & ~f_all["group"].str.startswith(("\x00", "\x01"))]
    if not len(open_):
        return {}
    sessions = body_keys(sessions_of_bodies(ctx.sessions, set(open_["session_key"])), ctx.stored_sessions)
    sessions = sessions[sessions["body_key"].isin(set(open_["group"]))]  # the bodies written to only
    valid = _valid_emails(sessions["contact_email"])
    # new first, then the older ones; within each, the display order
    open_ = open_.assign(is_old=(open_["status"] != "new").astype(int)).sort_values(
        ["gidx", "is_old"], kind="mergesort")
    w = where_parts(open_)
    open_ = open_.assign(title=w["title"], fix=w["fix"], line_txt=w["line"], value_short=open_["value"].str.slice(0, 200))
    cols = ["finding_key", "sev", "rule", "title", "fix", "message", "file", "sheet", "line_txt", "field",
            "value_short", "status", "since_full", "days", "session_key", "s_title", "s_start", "s_end", "source"]
    out: dict[str, BodyMessage] = {}
    used: set[str] = set()
    for body_key, g in open_.groupby("group", sort=False):
        name = str(g["group_name"].iloc[0])
        listed = g.head(MAIL_CAP)
        rows = listed[cols].to_dict("records")
        sections = []
        for status, label in (("new", "new"), ("open", "open")):
            part = [r for r in rows if (r["status"] == "new") == (status == "new")]
            blocks: list[dict] = []
            for r in part:
                if not blocks or blocks[-1]["session_key"] != r["session_key"]:
                    blocks.append({"session_key": r["session_key"], "s_title": r["s_title"],
                                   "s_start": r["s_start"], "s_end": r["s_end"], "findings": []})
                blocks[-1]["findings"].append(r)
            if blocks:
                sections.append({"kind": label, "blocks": blocks, "count": len(part)})
        n_err = int((g["sev"] == "error").sum())
        n_warn = int((g["sev"] == "warning").sum())
        n_new = int((g["status"] == "new").sum())
        tools = [SOURCE_LABEL.get(s, s) for s in sorted(set(g["source"])) if s]
        rules = []
        for rid in sorted(set(listed["rule"])):
            r = listed[listed["rule"] == rid].iloc[0]
            rules.append({"title": r["title"], "fix": r["fix"]})
        view = {
            "run_date": ctx.run_date, "previous_date": ctx.previous_date, "name": name,
            "tool": f"l'outil du financeur ({' / '.join(tools)})" if tools else "l'outil du financeur",
            "n_err": n_err, "n_warn": n_warn, "n_new": n_new, "n_sessions": int(g["sub"].nunique()),
            "sections": sections, "rules": rules, "omitted": len(g) - len(listed),
        }
        siret = "" if str(body_key).startswith("nom:") else str(body_key)
        filename = message_filename(str(body_key), name)
        stem, n_same = filename[:-4], 2
        while filename in used:  # two names with the same slug
            filename, n_same = f"{stem}-{n_same}.eml", n_same + 1
        used.add(filename)
        out[str(body_key)] = BodyMessage(
            body_key=str(body_key), name=name, siret=siret, filename=filename,
            recipients=_recipients(sessions, str(body_key), set(g["session_key"]), valid),
            subject=" ".join(render("message_subject.txt.j2", **view).split()),  # one line, whatever the name holds
            text=render("message.txt.j2", **view).rstrip() + "\n",
            finding_keys=sorted(listed["finding_key"]),
            counts={"error": n_err, "warning": n_warn, "new": n_new, "open": len(g) - n_new},
        )
    return out


def email_message(msg: BodyMessage, run_date: date, sender: str | None = None) -> EmailMessage:
    """The RFC 5322 message of one body (not sent)."""
    em = EmailMessage(policy=SMTP)
    em["From"] = sender or os.environ.get(ENV_FROM) or DEFAULT_FROM
    if msg.recipients:
        em["To"] = [Address(addr_spec=a) for a in msg.recipients]
    em["Subject"] = msg.subject
    em["Date"] = format_datetime(datetime.combine(run_date, time(6, 0), PARIS))
    em["X-Passerelle-Organisme"] = msg.siret or msg.body_key
    em["X-Passerelle-Controle"] = run_date.isoformat()
    em["X-Passerelle-Constats"] = str(len(msg.finding_keys))
    if not msg.recipients:
        em["X-Passerelle-Envoi"] = "manuel (aucune adresse e-mail dans les extraits)"
    em.set_content(msg.text, charset="utf-8", cte="8bit")
    return em


def write_messages(folder: Path, messages: dict[str, BodyMessage], run_date: date) -> list[Path]:
    """Write one ``.eml`` per body into ``folder`` (created). Returns the paths written."""
    folder = Path(folder)
    written = []
    if messages:
        folder.mkdir(parents=True, exist_ok=True)
    for msg in sorted(messages.values(), key=lambda m: m.filename):
        path = folder / msg.filename
        path.write_bytes(email_message(msg, run_date).as_bytes())
        written.append(path)
    return written


