"""Messages to training bodies (.eml, parsed back with the ``email`` package) and
``passerelle notify`` against a loopback SMTP server."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from passerelle.cli import main
from passerelle.findings import findings_frame
from passerelle.findings_life import compute_life
from passerelle.notify import NotifyError, NotifySettings, notify, plan
from passerelle.report.html import ReportContext, build_view
from passerelle.report.messages import MESSAGES_DIR, write_messages
from passerelle.rules.registry import BY_ID
from passerelle.store.findings import finding_states, notifications, record_finding_states
from tests.loopback import free_port, smtp_server
from tests.unit.test_findings_life import f, sessions

D1, D2 = date(2026, 11, 19), date(2026, 11, 20)
SESSIONS = sessions(
    ("eos:1", "GRETA <Sud>", "19300245800019", "a@greta.fr"),
    ("eos:2", "GRETA <Sud>", "19300245800019", "contact@@exemple"),
    ("eos:3", "AFPA", "", ""),
)
DAY1 = [
    f("DQ009", "eos:1", "Tél. contact", "02 99", message="Le téléphone « 02 99 » n'est pas valide."),
    f("DQ021", "eos:2", "Etat recrutement", "Fermé", severity="warning"),
    f("DQ003", "eos:2", "Session annulée", "Oui", severity="info"),
    f("DQ016", "eos:3", "SIRET", "123"),
]


def make_day(out: Path, store, day: date, rows: list[dict], run_id: str) -> dict:
    """What a run of ``day`` leaves for notify: finding states in the store, messages, manifest."""
    previous_date = max((r["run_date"] for r in store.run_history(limit=5) if r["run_date"] < day), default=None)
    life = compute_life(findings_frame(rows), SESSIONS, day, finding_states(store, previous_date))
    store.begin_run(run_id, day)
    record_finding_states(store, run_id, day, life)
    store.finish_run(run_id, "succeeded", {})
    ctx = ReportContext(
        run_date=day,
        run_id=run_id,
        findings=findings_frame(rows),
        sessions=SESSIONS,
        summary={},
        life=life,
        previous_date=previous_date,
    )
    view = build_view(ctx)
    folder = out / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    write_messages(folder / MESSAGES_DIR, view["messages"], day)
    manifest = {
        "messages": [
            {"file": f"{MESSAGES_DIR}/{m.filename}", "body_key": m.body_key, "name": m.name, "recipients": m.recipients}
            for m in view["messages"].values()
        ]
    }
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return view


def parse(path: Path):
    with open(path, "rb") as fh:
        return BytesParser(policy=policy.default).parse(fh)


def test_one_message_per_body_with_open_errors(tmp_path, store):
    view = make_day(tmp_path, store, D1, DAY1, "r1")
    files = sorted(p.name for p in (tmp_path / D1.isoformat() / MESSAGES_DIR).iterdir())
    assert files == ["19300245800019.eml", "sans-siret-afpa.eml"]
    greta = parse(tmp_path / D1.isoformat() / MESSAGES_DIR / "19300245800019.eml")
    assert greta["To"] == "a@greta.fr"  # the invalid contact@@exemple is left out
    assert greta["From"] and greta["Date"] and greta["X-Passerelle-Organisme"] == "19300245800019"
    assert (
        greta["Subject"] == "Offre de formation GRETA <Sud> : 1 erreur et 1 point à vérifier (contrôle du 19/11/2026)"
    )
    assert greta.get_content_type() == "text/plain" and greta.get_content_charset() == "utf-8"
    body = greta.get_content()
    assert body.startswith("Bonjour,") and "sur 2 de vos sessions" in body
    assert "[À corriger] Contact absent ou invalide : Le téléphone « 02 99 » n'est pas valide." in body
    assert "Où : fichier eos_sessions_20261119.csv, ligne 2, champ « Tél. contact », valeur « 02 99 »" in body
    assert "Nouveau : relevé pour la première fois le 19/11/2026." in body
    assert "Session annulée" not in body  # informations are not sent
    assert body == view["messages"]["19300245800019"].text  # the report shows the same text
    afpa = parse(tmp_path / D1.isoformat() / MESSAGES_DIR / "sans-siret-afpa.eml")
    assert afpa["To"] is None and afpa["X-Passerelle-Envoi"].startswith("manuel")


def test_new_findings_first_and_since_when(tmp_path, store):
    make_day(tmp_path, store, D1, DAY1, "r1")
    view = make_day(tmp_path, store, D2, DAY1 + [f("DQ006", "eos:1", "Date fin", "01/01/2027")], "r2")
    text = view["messages"]["19300245800019"].text
    assert "Depuis notre contrôle du 19/11/2026 : 1 nouveau point, 2 points déjà signalés." in text
    assert (
        text.index("NOUVEAUX POINTS (1)")
        < text.index(BY_ID["DQ006"].title)
        < text.index("POINTS DÉJÀ SIGNALÉS, TOUJOURS PRÉSENTS (2)")
        < text.index(BY_ID["DQ009"].title)
    )
    assert "Signalé depuis le 19/11/2026 (1 jour)." in text
    assert view["messages"]["19300245800019"].subject.endswith(", dont 1 nouveau (contrôle du 20/11/2026)")


def test_no_message_when_nothing_is_open(tmp_path, store):
    view = make_day(tmp_path, store, D1, [DAY1[2]], "r1")  # an information only
    assert view["messages"] == {}
    assert not (tmp_path / D1.isoformat() / MESSAGES_DIR).exists()
    assert plan(tmp_path, D1, store, NotifySettings()) == []


def test_notify_sends_once_then_on_new_findings_then_weekly(tmp_path, store):
    make_day(tmp_path, store, D1, DAY1, "r1")
    with smtp_server() as server:
        settings = NotifySettings(smtp=server.url, sender="Carif qualité <qualite@carif.example>")
        dry = notify(tmp_path, D1, store, settings, dry_run=True)
        assert [(d.body_key, d.action) for d in dry] == [("19300245800019", "first"), ("nom:AFPA", "manual")]
        assert server.mails == [] and notifications(store) == []

        first = notify(tmp_path, D1, store, settings)
        assert [d.outcome for d in first] == ["sent", ""]
        assert len(server.mails) == 1 and server.mails[0]["to"] == ["a@greta.fr"]
        mail = BytesParser(policy=policy.default).parsebytes(server.mails[0]["data"])
        assert mail["From"] == "Carif qualité <qualite@carif.example>" and mail["Message-ID"]
        assert "Contact absent ou invalide" in mail.get_content()
        sent = notifications(store)
        assert [(n["body_key"], n["outcome"], n["reason"]) for n in sent] == [("19300245800019", "sent", "first")]
        assert len(sent[0]["finding_keys"]["keys"]) == 2

        assert [d.action for d in notify(tmp_path, D1, store, settings)] == ["unchanged", "manual"]
        make_day(tmp_path, store, D2, DAY1, "r2")  # same findings the next day
        assert [d.action for d in notify(tmp_path, D2, store, settings)] == ["unchanged", "manual"]
        assert len(server.mails) == 1

        week = datetime.now(UTC) + timedelta(days=7, minutes=1)
        assert [d.action for d in notify(tmp_path, D2, store, settings, now=week)] == ["reminder", "manual"]
        assert len(server.mails) == 2

        make_day(tmp_path, store, date(2026, 11, 21), DAY1 + [f("DQ006", "eos:1", "Date fin", "01/01/2027")], "r3")
        new = notify(tmp_path, date(2026, 11, 21), store, settings)
        assert new[0].action == "new" and new[0].outcome == "sent" and "1 constat(s) nouveau(x)" in new[0].detail
        assert len(server.mails) == 3
        assert [n["reason"] for n in notifications(store)] == ["first", "reminder", "new"]


def test_notify_records_a_failure_and_goes_on(tmp_path, store):
    make_day(tmp_path, store, D1, DAY1, "r1")
    decisions = notify(tmp_path, D1, store, NotifySettings(smtp=f"smtp://127.0.0.1:{free_port()}"))
    assert decisions[0].outcome == "failed" and "injoignable" in decisions[0].error
    assert [(n["outcome"], n["reason"]) for n in notifications(store)] == [("failed", "first")]
    # a failed message is not a sent one: the next call tries again
    assert plan(tmp_path, D1, store, NotifySettings())[0].action == "first"


def test_notify_without_smtp_or_day_folder(tmp_path, store, monkeypatch):
    monkeypatch.delenv("PASSERELLE_ALERT_SMTP", raising=False)
    with pytest.raises(NotifyError, match="aucun contrôle publié"):
        plan(tmp_path, D1, store, NotifySettings())
    make_day(tmp_path, store, D1, DAY1, "r1")
    with pytest.raises(NotifyError, match="aucun serveur SMTP"):
        notify(tmp_path, D1, store, NotifySettings.load())


def test_settings_from_yaml(tmp_path, monkeypatch):
    monkeypatch.setenv("PASSERELLE_ALERT_FROM", "env@carif.example")
    cfg = tmp_path / "notify.yaml"
    cfg.write_text("smtp: smtp://127.0.0.1:2525\nreply_to: qualite@carif.example\nresend_days: 14\n", encoding="utf-8")
    s = NotifySettings.load(cfg)
    assert (s.smtp, s.sender, s.reply_to, s.resend_days) == (
        "smtp://127.0.0.1:2525",
        "env@carif.example",
        "qualite@carif.example",
        14,
    )
    cfg.write_text("smtp: x\nrenvoi: 3\n", encoding="utf-8")
    with pytest.raises(NotifyError, match="clé\\(s\\) inconnue\\(s\\) renvoi"):
        NotifySettings.load(cfg)
    cfg.write_text("resend_days: 0\n", encoding="utf-8")
    with pytest.raises(NotifyError, match="resend_days"):
        NotifySettings.load(cfg)


def test_cli_notify(tmp_path, capsys, monkeypatch):
    from passerelle.store import default_store_url, open_store

    store = open_store(default_store_url(tmp_path))
    try:
        make_day(tmp_path, store, D1, DAY1, "r1")
    finally:
        store.dispose()
    args = ["notify", "--out", str(tmp_path), "--date", D1.isoformat()]
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "simulation : rien n'est envoyé" in out and "1 à envoyer, 0 sans changement, 1 à envoyer à la main" in out
    with smtp_server() as server:
        monkeypatch.setenv("PASSERELLE_ALERT_SMTP", server.url)
        assert main(args) == 0
        assert len(server.mails) == 1
    assert "1 envoyé(s), 0 en échec" in capsys.readouterr().out
    monkeypatch.setenv("PASSERELLE_ALERT_SMTP", f"smtp://127.0.0.1:{free_port()}")
    make_day(tmp_path, open_store(default_store_url(tmp_path)), D2, DAY1 + [f("DQ006", "eos:1", "Date fin", "x")], "r2")
    assert main(["notify", "--out", str(tmp_path), "--date", D2.isoformat()]) == 1  # a message could not be sent
    assert "ÉCHEC de l'envoi" in capsys.readouterr().out
    assert main(["notify", "--out", str(tmp_path / "nowhere"), "--date", D1.isoformat()]) == 1


def test_hostile_body_names_stay_text(tmp_path, store):
    global SESSIONS
    hostile = sessions(
        ("eos:1", "A\r\nBcc: victim@example.org <script>", "", "a@x.fr"),
        ("eos:2", "A Bcc victim example org script", "", "b@x.fr"),
    )
    saved, SESSIONS = SESSIONS, hostile
    try:
        make_day(tmp_path, store, D1, [f("DQ009", "eos:1", "Tél.", "1"), f("DQ009", "eos:2", "Tél.", "1")], "r1")
    finally:
        SESSIONS = saved
    files = sorted((tmp_path / D1.isoformat() / MESSAGES_DIR).glob("*.eml"))
    assert [p.name for p in files] == [
        "sans-siret-a-bcc-victim-example-org-script-2.eml",
        "sans-siret-a-bcc-victim-example-org-script.eml",
    ]
    for p in files:
        mail = parse(p)
        assert mail["Bcc"] is None and "\n" not in mail["Subject"]
        assert len(mail.get_all("To")) == 1
