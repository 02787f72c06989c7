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


def recipients_by_body(sessions: pd.DataFrame, concerned: set[str]) -> dict[str, list[str]]:
    """body_key -> its addresses: those of its sessions in ``concerned`` when one is valid, else
    those of all its sessions; the most used first, at most :data:`MAX_RECIPIENTS`."""
    valid = _valid_emails(sessions["contact_email"])
    df = pd.DataFrame(
        {
            "body": sessions["body_key"].astype(str).to_numpy(),
            "email": sessions["contact_email"].astype(object).map(valid).to_numpy(),
            "concerned": sessions["session_key"].isin(pd.Index(list(concerned))).to_numpy(dtype=bool),
        }
    )
    df = df[df["email"].notna()]
    if not len(df):
        return {}
    any_concerned = df.groupby("body")["concerned"].transform("any")
    df = df[df["concerned"] | ~any_concerned]
    counts = df.groupby(["body", "email"]).size().rename("n").reset_index()
    counts = counts.sort_values(["body", "n", "email"], ascending=[True, False, True], kind="mergesort")
    counts = counts[counts.groupby("body").cumcount() < MAX_RECIPIENTS]
    return counts.groupby("body", sort=False)["email"].agg(list).to_dict()


def _sections(rows: list[dict]) -> list[dict]:
    """New findings first, then the others, each as blocks of one session."""
    sections = []
    for kind in ("new", "open"):
        blocks: list[dict] = []
        part = [r for r in rows if (r["status"] == "new") == (kind == "new")]
        for r in part:
            if not blocks or blocks[-1]["session_key"] != r["session_key"]:
                blocks.append(
                    {
                        "kind": "session",
                        "session_key": r["session_key"],
                        "s_title": r["s_title"],
                        "s_start": r["s_start"],
                        "s_end": r["s_end"],
                        "findings": [],
                    }
                )
            blocks[-1]["findings"].append(r)
        if blocks:
            from passerelle.parents import group_by_parent

            # a parent's error named once, with the sessions it blocks (not once per session)
            sections.append({"kind": kind, "blocks": group_by_parent(blocks), "count": len(part)})
    return sections


def body_messages(ctx, f_all: pd.DataFrame) -> dict[str, BodyMessage]:
    """The message of each training body with open errors or warnings, keyed by body key.

    ``f_all``: the prepared, display-sorted finding states of :mod:`passerelle.report.html`.
    Column-wise but for the rendering of each message (thousands of bodies on a national day)."""
    from passerelle.findings_life import body_keys, sessions_of_bodies
    from passerelle.report.html import SOURCE_LABEL, where_parts

    open_ = f_all[
        (f_all["status"] != "resolved") & (f_all["sev"] != "info") & ~f_all["group"].str.startswith(("\x00", "\x01"))
    ]
    if not len(open_):
        return {}
    bodies = set(open_["group"])
    sessions = body_keys(sessions_of_bodies(ctx.sessions, set(open_["session_key"])), ctx.stored_sessions)
    recipients = recipients_by_body(sessions[sessions["body_key"].isin(bodies)], set(open_["session_key"]))
    # new first, then the older ones; within each, the display order
    open_ = (
        open_.assign(is_old=(open_["status"] != "new").astype(int))
        .sort_values(["gidx", "is_old"], kind="mergesort")
        .reset_index(drop=True)
    )
    w = where_parts(open_)
    open_ = open_.assign(
        title=w["title"], fix=w["fix"], line_txt=w["line"], value_short=open_["value"].str.slice(0, 200)
    )
    rank = open_.groupby("group", sort=False).cumcount()
    listed = open_[rank < MAIL_CAP]

    # per body, column-wise
    per = (
        open_.assign(
            e=(open_["sev"] == "error").astype(int),
            w=(open_["sev"] == "warning").astype(int),
            nw=(open_["status"] == "new").astype(int),
        )
        .groupby("group", sort=False)
        .agg(
            name=("group_name", "first"),
            n_err=("e", "sum"),
            n_warn=("w", "sum"),
            n_new=("nw", "sum"),
            n_sessions=("sub", "nunique"),
            total=("sev", "size"),
        )
    )
    tools = (
        open_[["group", "source"]]
        .drop_duplicates()
        .sort_values(["group", "source"], kind="mergesort")
        .assign(label=lambda x: x["source"].map(lambda v: SOURCE_LABEL.get(v, v)))
        .groupby("group", sort=False)["label"]
        .agg(lambda x: " / ".join(v for v in x if v))
    )
    rules = (
        listed[["group", "rule", "title", "fix"]]
        .drop_duplicates(["group", "rule"])
        .sort_values(["group", "rule"], kind="mergesort")
    )
    rules_of: dict[str, list[dict]] = {}
    for r in rules.to_dict("records"):
        rules_of.setdefault(r["group"], []).append({"title": r["title"], "fix": r["fix"]})
    cols = [
        "finding_key",
        "sev",
        "rule",
        "title",
        "fix",
        "message",
        "file",
        "sheet",
        "line_txt",
        "field",
        "value_short",
        "status",
        "since_full",
        "days",
        "session_key",
        "s_title",
        "s_start",
        "s_end",
    ]
    records = listed[cols].to_dict("records")
    groups = listed["group"].to_numpy(dtype=object)
    rows_of: dict[str, list[dict]] = {}
    for g, r in zip(groups, records):
        rows_of.setdefault(g, []).append(r)

    out: dict[str, BodyMessage] = {}
    used: set[str] = set()
    for body_key, b in per.to_dict("index").items():
        body_key, rows = str(body_key), rows_of[body_key]
        tool = tools.get(body_key, "")
        view = {
            "run_date": ctx.run_date,
            "previous_date": ctx.previous_date,
            "name": b["name"],
            "tool": f"l'outil du financeur ({tool})" if tool else "l'outil du financeur",
            "n_err": int(b["n_err"]),
            "n_warn": int(b["n_warn"]),
            "n_new": int(b["n_new"]),
            "n_sessions": int(b["n_sessions"]),
            "sections": _sections(rows),
            "rules": rules_of.get(body_key, []),
            "omitted": int(b["total"]) - len(rows),
        }
        filename = message_filename(body_key, str(b["name"]))
        stem, n_same = filename[:-4], 2
        while filename in used:  # two names with the same slug
            filename, n_same = f"{stem}-{n_same}.eml", n_same + 1
        used.add(filename)
        out[body_key] = BodyMessage(
            body_key=body_key,
            name=str(b["name"]),
            siret="" if body_key.startswith("nom:") else body_key,
            filename=filename,
            recipients=recipients.get(body_key, []),
            subject=" ".join(render("message_subject.txt.j2", **view).split()),  # one line, whatever the name holds
            text=render("message.txt.j2", **view).rstrip() + "\n",
            finding_keys=sorted(r["finding_key"] for r in rows),
            counts={
                "error": view["n_err"],
                "warning": view["n_warn"],
                "new": view["n_new"],
                "open": int(b["total"]) - view["n_new"],
            },
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
