"""Two consecutive sample days (``make demo``): new, still open and resolved findings in the
store, the report and the manifest; one message per training body; ``passerelle notify``."""

from __future__ import annotations

import json
from email import policy
from email.parser import BytesParser

from passerelle.cli import main
from passerelle.store import open_store
from passerelle.store.db import default_store_url
from passerelle.store.findings import finding_states
from tests.integration.runs import DAY1, DAY2, check_complete
from tests.loopback import smtp_server


def _manifest(out, day) -> dict:
    return json.loads((out / day.isoformat() / "manifest.json").read_text(encoding="utf-8"))


def test_store_records_new_open_and_resolved(two_sample_days):
    st = open_store(default_store_url(two_sample_days))
    try:
        day1, day2 = finding_states(st, DAY1), finding_states(st, DAY2)
    finally:
        st.dispose()
    assert set(day1["status"]) == {"new"}
    s2 = day2.set_index("finding_key")
    # 184205's phone was emptied on day 2: a new error; 184210 left the extract: a new DQ022 on its body
    assert s2.loc["DQ009|eos:184205|Contact tél", "status"] == "new"
    assert s2.loc["DQ022|eos:184210|Identifiant EOS", "body_key"] == "41928374200015"
    # a day-1 defect still there on day 2: open since day 1, with today's line
    still = s2.loc["DQ016|eos:184233|SIRET formateur"]
    assert still["status"] == "open" and str(still["since_date"]) == "2026-11-19" and int(still["line"]) == 30
    # DQ007 fires only on a session's first day: resolved on day 2, the session still in the extract
    assert tuple(s2.loc["DQ007|eos:184222|Date début session", ["status", "resolution"]]) == ("resolved", "fixed")
    counts = day2["status"].astype(str).value_counts().to_dict()
    assert counts == {
        k: v for k, v in _manifest(two_sample_days, DAY2)["findings_life"].items() if k in counts and k != "old"
    }
    assert counts["new"] >= 3 and counts["open"] > 20 and counts["resolved"] >= 1


def test_report_shows_since_when_and_resolved(two_sample_days):
    page = (two_sample_days / DAY2.isoformat() / "quality" / "report.html").read_text(encoding="utf-8")
    assert "Ce qui a changé depuis le contrôle du 19/11/2026" in page
    assert "ouvert depuis le 19/11, 1 jour" in page
    assert '<span class="age new">nouveau</span>' in page
    resolved = page.split('id="resolus"')[1].split("</section>")[0]
    assert "eos:184222" in resolved and "corrigé" in resolved
    assert '<option value="new">Nouveaux (' in page and '<option value="old">Anciens, plus de 7 jours (' in page
    first = (two_sample_days / DAY1.isoformat() / "quality" / "report.html").read_text(encoding="utf-8")
    assert "premier contrôle" in first and "ouvert depuis" not in first


def test_messages_written_and_listed_in_the_manifest(two_sample_days):
    folder = two_sample_days / DAY2.isoformat()
    manifest = check_complete(folder)  # the .eml files are listed with their sha256
    messages = manifest["messages"]
    assert messages and all((folder / m["file"]).is_file() for m in messages)
    assert {o["file"] for o in manifest["outputs"]} >= {m["file"] for m in messages}
    m = next(m for m in messages if m["body_key"] == "81234567600017")
    mail = BytesParser(policy=policy.default).parsebytes((folder / m["file"]).read_bytes())
    assert mail["To"] == "accueil@compagnons-forez.fr" and m["recipients"] == ["accueil@compagnons-forez.fr"]
    body = mail.get_content()
    assert "NOUVEAUX POINTS" in body and "eos:184205" in body
    assert "Nouveau : relevé pour la première fois le 20/11/2026." in body
    assert body.index("NOUVEAUX POINTS") < body.index("POINTS DÉJÀ SIGNALÉS")


def test_notify_the_second_day(two_sample_days, capsys, monkeypatch):
    args = ["notify", "--out", str(two_sample_days), "--date", DAY2.isoformat()]
    with smtp_server() as server:
        monkeypatch.setenv("PASSERELLE_ALERT_SMTP", server.url)
        assert main([*args, "--dry-run"]) == 0 and server.mails == []
        assert main(args) == 0
        sent = len(server.mails)
        assert sent == len(_manifest(two_sample_days, DAY2)["messages"])
        assert main(args) == 0 and len(server.mails) == sent  # nothing changed: nothing sent again
    out = capsys.readouterr().out
    assert f"{sent} envoyé(s), 0 en échec" in out and "déjà envoyé le" in out
