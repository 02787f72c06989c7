"""The self-contained HTML quality report for Carif staff."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta

import pandas as pd
import pytest

from passerelle import model
from passerelle.findings import findings_frame
from passerelle.report import html as report
from passerelle.report import messages
from passerelle.report.html import FILES_GROUP, UNKNOWN_GROUP, ReportContext, render_report, write_report
from passerelle.rules.registry import BY_ID, RULES

XSS_BODY = "Form'Action <script>alert(1)</script> \"onmouseover=alert(2)"
XSS_VALUE = '<script>alert(3)</script>"onmouseover=x'
XSS_MESSAGE = 'Le champ contient <script>alert(4)</script> et "onmouseover=alert(5)'
RUN_DATE = date(2026, 11, 19)


def make_sessions() -> pd.DataFrame:
    rows = [
        (
            "eos:1001",
            "eos",
            "GRETA Bretagne Sud",
            "Titre pro Secrétaire assistant",
            date(2026, 12, 1),
            date(2027, 3, 1),
        ),
        ("eos:1002", "eos", "GRETA Bretagne Sud", "CAP Petite enfance", date(2027, 1, 4), date(2027, 6, 30)),
        ("sigma:23P0000000_TEST_1:01:01", "sigma", XSS_BODY, "Prépa Avenir <b>Jeunes</b>", date(2026, 12, 7), None),
        ("eos:1003", "eos", "AFPA Rennes", "Cariste", None, None),
        ("eos:1004", "eos", None, "Sans organisme", date(2027, 2, 1), date(2027, 2, 20)),
    ]
    df = pd.DataFrame(
        [
            {
                "session_key": k,
                "action_key": k + ":a",
                "formation_key": k + ":f",
                "source": src,
                "source_file": f"{src}_20261119.csv",
                "source_sheet": "",
                "source_line": i + 2,
                "organisme_formateur": body,
                "title": title,
                "start_date": start,
                "end_date": end,
                "workflow_publishable": True,
                "cancelled": False,
            }
            for i, (k, src, body, title, start, end) in enumerate(rows)
        ]
    )
    return model.to_frame(model.conform(df, model.SESSIONS))


def finding(
    rule,
    severity,
    session_key=None,
    *,
    source="eos",
    file="eos_20261119.csv",
    sheet="",
    line=2,
    field=None,
    value=None,
    message="Message de test.",
):
    return {
        "rule": rule,
        "severity": severity,
        "source": source,
        "file": file,
        "sheet": sheet,
        "line": line,
        "session_key": session_key,
        "field": field,
        "value": value,
        "message": message,
    }


def make_findings() -> pd.DataFrame:
    rows = [
        finding(
            "DQ009",
            "error",
            "eos:1001",
            line=2,
            field="Tél. contact",
            value="02 99 12",
            message="Le téléphone « 02 99 12 » n'est pas un numéro français valide.",
        ),
        finding(
            "DQ021",
            "warning",
            "eos:1001",
            line=2,
            field="Etat recrutement",
            value="Fermé",
            message="Recrutement fermé : la session n'est plus affichée au public.",
        ),
        finding(
            "DQ003",
            "info",
            "eos:1002",
            line=3,
            field="Etat",
            value="Session annulée",
            message="Session annulée : publiée comme annulée (recrutement fermé).",
        ),
        finding(
            "DQ006",
            "error",
            "sigma:23P0000000_TEST_1:01:01",
            source="sigma",
            file="sigma_20261119.xlsx",
            sheet="Sessions",
            line=4,
            field="Date fin",
            value=XSS_VALUE,
            message=XSS_MESSAGE,
        ),
        finding(
            "DQ016",
            "error",
            "eos:1003",
            line=5,
            field="SIRET",
            value="123",
            message="Le SIRET « 123 » n'est pas valide.",
        ),
        finding(
            "DQ015", "error", "eos:1004", line=6, field="Code postal", value="3500", message="Code postal incomplet."
        ),
        finding("DQ022", "warning", "eos:999", line=None, value="18/11/2026", message="Session disparue de l'extrait."),
        finding(
            "DQ000", "info", None, line=1, field="Colonne X", message="Colonne inattendue « Colonne X » : ignorée."
        ),
        finding(
            "DQ000",
            "error",
            None,
            source="sigma",
            file="sigma_20261119.xlsx",
            sheet="Sessions",
            line=48,
            field="N° Action",
            message="Ligne sans n° d'action : mise en quarantaine.",
        ),
    ]
    return findings_frame(rows)


def make_ctx(findings=None, sessions=None, history=None, **kw) -> ReportContext:
    if history is None:
        history = [
            {
                "run_date": RUN_DATE - timedelta(days=1),
                "summary": {
                    "read": {"eos": 4, "sigma": 1, "sam": 3},
                    "published": 2,
                    "quarantined": 0,
                    "not_publishable": 2,
                    "cancelled": 1,
                    "findings": {"error": 2, "warning": 3, "info": 2},
                },
            },
            {
                "run_date": RUN_DATE - timedelta(days=2),
                "summary": {
                    "read": {"eos": 3, "sigma": 1, "sam": 3},
                    "published": 2,
                    "quarantined": 1,
                    "not_publishable": 1,
                    "cancelled": 0,
                    "findings": {"error": 1, "warning": 1, "info": 1},
                },
            },
        ]
    return ReportContext(
        run_date=RUN_DATE,
        run_id=kw.get("run_id", "run-20261119-abc"),
        findings=make_findings() if findings is None else findings,
        sessions=make_sessions() if sessions is None else sessions,
        summary={
            "read": {"eos": 4, "sigma": 1, "sam": 3},
            "published": 1,
            "quarantined": 1,
            "not_publishable": 4,
            "cancelled": 1,
        },
        history=history,
        inputs=kw.get(
            "inputs",
            [
                {"file": "eos_20261119.csv", "source": "eos", "rows": 4, "sha256": "ab" * 32},
                {"file": "sigma_20261119.xlsx", "source": "sigma", "rows": 2, "sha256": "cd" * 32},
            ],
        ),
    )


def sections(page: str) -> dict[str, str]:
    """Body sections of the page keyed by their (escaped) heading."""
    out = {}
    for chunk in page.split('<section class="org"')[1:]:
        name = re.search(r"<h3>(.*?)</h3>", chunk).group(1)
        out[html.unescape(name)] = chunk.split("</section>")[0]
    return out


@pytest.fixture(scope="module")
def page() -> str:
    return render_report(make_ctx())


def test_header_summary_and_inputs(page):
    assert page.startswith("<!DOCTYPE html>")
    assert '<html lang="fr">' in page
    assert "Rapport qualité du jeudi 19 novembre 2026" in page
    assert "run-20261119-abc" in page
    for label in (
        "Sessions lues",
        "Publiées",
        "En quarantaine",
        "Non publiables",
        "Annulées",
        "Erreurs",
        "Avertissements",
        "Informations",
    ):
        assert f'<div class="clabel">{label}</div>' in page
    assert "EOS 4 · SIGMA 1" in page and "SAM : 3 formations" in page
    # errors: 4 in findings (DQ009, DQ006, DQ016, DQ015) + DQ000 file error = 5
    assert re.search(r'c-error"><div class="clabel">Erreurs</div><div class="cvalue">5</div>', page)
    assert re.search(r'c-warning"><div class="clabel">Avertissements</div><div class="cvalue">2</div>', page)
    assert "eos_20261119.csv" in page and ("ab" * 6) in page  # inputs table, short hash


def test_findings_grouped_by_body_then_session(page):
    secs = sections(page)
    assert list(secs) == [FILES_GROUP, "AFPA Rennes", XSS_BODY, "GRETA Bretagne Sud", UNKNOWN_GROUP]
    greta = secs["GRETA Bretagne Sud"]
    assert "eos:1001" in greta and "eos:1002" in greta
    assert "Titre pro Secrétaire assistant" in greta and "du 01/12/2026 au 01/03/2027" in greta
    # a finding: rule id + title, message, fix from the registry, where
    assert '<span class="rid">DQ009</span> <span class="rt">Contact absent ou invalide</span>' in greta
    assert "n&#x27;est pas un numéro français valide" in greta
    assert html.escape(BY_ID["DQ009"].fix) in greta
    assert (
        'fichier <span class="file">eos_20261119.csv</span>, ligne 2, champ <span class="fld">Tél. contact</span>'
        in greta
    )
    assert "02 99 12" in greta
    # session with an error listed before one with only an info
    assert greta.index("eos:1001") < greta.index("eos:1002")
    # file-level findings and findings without a session
    files = secs[FILES_GROUP]
    assert "Colonne inattendue" in files and "Ligne sans n° d&#x27;action" in files
    assert "feuille « Sessions », ligne 48" in files
    assert "eos:" not in files
    # session without body, and session key unknown to the sessions table
    unknown = secs[UNKNOWN_GROUP]
    assert "eos:1004" in unknown and "eos:999" in unknown
    assert "session absente des extraits du jour" in unknown
    assert "DQ016" in secs["AFPA Rennes"] and "DQ016" not in greta


def test_dates_partial_and_missing(page):
    secs = sections(page)
    assert "à partir du 07/12/2026" in secs[XSS_BODY]
    assert "du " not in re.search(r"<h4>.*?</h4>", secs["AFPA Rennes"]).group(0)


def test_everything_escaped():
    ctx = make_ctx(
        run_id='<script>alert("run")</script>',
        inputs=[{"file": '<script>alert("f")</script>.csv', "source": "eos", "rows": 1, "sha256": '"onmouseover=1'}],
    )
    page = render_report(ctx)
    assert page.count("<script") == 1  # our own inline script only
    assert page.count("</script>") == 1
    assert "alert(" not in page.split("<script>")[1]  # nothing from the data inside our script
    assert "<script>alert" not in page
    assert '"onmouseover=' not in page
    assert "&quot;onmouseover=" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # body name, shown as text
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in page  # value
    assert "&lt;script&gt;alert(4)&lt;/script&gt;" in page  # message
    assert "&lt;b&gt;Jeunes&lt;/b&gt;" in page  # session title
    # every attribute value is quoted and no tag was injected
    assert not re.search(
        r"<(?!/?(?:html|head|meta|title|style|body|header|main|section|footer|h[1-4]|p|span|"
        r"div|code|table|caption|thead|tbody|tr|th|td|a|ul|li|pre|button|form|label|select|"
        r"option|input|fieldset|legend|svg|line|text|path|circle|script|br|strong)\b)[a-zA-Z]",
        page,
    )


def test_template_escaping_matches_html_escape():
    from jinja2 import Template  # noqa: F401 - the environment of the report, not a bare Template

    from passerelle.report.render import environment

    values = ["a & b", '<script>alert("x")</script>', "l'été", "", '"onmouseover=1', "&amp;", None, 12]
    tpl = environment().from_string("{% for v in values %}[{{ v }}]{% endfor %}")
    assert tpl.render(values=values) == "".join(
        f"[{'' if v is None else html.escape(str(v), quote=True)}]" for v in values
    )
    # plain-text templates (messages) are not escaped
    assert environment(text=True).from_string("{{ v }}").render(v="<b>l'été</b>") == "<b>l'été</b>"


def test_ready_to_send_message(page):
    secs = sections(page)
    greta = secs["GRETA Bretagne Sud"]
    mail = html.unescape(re.search(r'<pre class="mailtext"[^>]*>(.*?)</pre>', greta, re.S).group(1))
    assert mail.startswith("Bonjour,")
    assert "Lors du contrôle quotidien du 19/11/2026" in mail
    assert "nous avons relevé 1 erreur et 1 point à vérifier sur une de vos sessions" in mail
    assert "Merci de corriger ces points" in mail
    assert "Session eos:1001 – Titre pro Secrétaire assistant (du 01/12/2026 au 01/03/2027)" in mail
    assert "[À corriger] Contact absent ou invalide" in mail and "[À vérifier] Recrutement fermé" in mail
    assert "Session annulée" not in mail and "eos:1002" not in mail  # infos are not sent
    assert BY_ID["DQ009"].fix in mail and BY_ID["DQ021"].fix in mail
    assert 'class="copy" data-target="mail-' in greta and "Copier" in greta
    assert "mailtext" not in secs[FILES_GROUP] and "mailtext" not in secs[UNKNOWN_GROUP]
    xss_mail = re.search(r'<pre class="mailtext"[^>]*>(.*?)</pre>', secs[XSS_BODY], re.S).group(1)
    assert "&lt;script&gt;alert(4)&lt;/script&gt;" in xss_mail


def test_filters_and_data_attributes(page):
    assert '<select id="f-rule">' in page and '<select id="f-body">' in page and 'id="f-q"' in page
    for rid in ("DQ000", "DQ003", "DQ006", "DQ009", "DQ015", "DQ016", "DQ021", "DQ022"):
        assert f'<option value="{rid}">' in page
    assert '<option value="DQ001">' not in page  # only rules present today
    assert page.count('<li class="f ') == 9
    assert (
        page.count('data-s="error"') == 5 and page.count('data-s="warning"') == 2 and page.count('data-s="info"') == 2
    )
    assert 'data-r="DQ009"' in page


def test_trend_and_deltas(page):
    assert "Ce contrôle comparé aux précédents" in page
    assert '<th scope="row">18/11/2026</th>' in page and '<th scope="row">17/11/2026</th>' in page
    assert "<svg" in page and "<path" in page
    assert "▲ +3 depuis le 18/11/2026" in page  # errors 5 vs 2
    first = render_report(make_ctx(history=[]))
    assert "Premier contrôle" in first and "<svg" not in first


def test_rules_legend_from_registry(page):
    legend = page.split('id="h-rules"')[1]
    for r in RULES:
        assert f'<tr id="rule-{r.id}">' in legend
        assert html.escape(r.title) in legend and html.escape(r.fix) in legend


def test_self_contained_and_printable(page):
    urls = set(re.findall(r"https?://[^\s\"')]+", page))
    assert urls <= {"http://www.w3.org/2000/svg"}
    assert "<link" not in page and "@import" not in page and "src=" not in page
    assert "@font-face" not in page
    assert "@media print" in page
    print_css = page.split("@media print")[1]
    assert ".filters .frow" in print_css and "break-before:page" in print_css
    assert ".org.collapsed .orgbody{display:flex}" in print_css


def test_deterministic_and_order_independent():
    a = render_report(make_ctx())
    assert render_report(make_ctx()) == a
    shuffled = make_ctx(
        findings=make_findings().sample(frac=1, random_state=3).reset_index(drop=True),
        sessions=make_sessions().sample(frac=1, random_state=5).reset_index(drop=True),
    )
    assert render_report(shuffled) == a


def test_no_findings():
    page = render_report(make_ctx(findings=findings_frame([])))
    assert "Aucun constat ce jour" in page
    assert '<section class="org"' not in page
    assert page.count("<script") == 1


def test_empty_sessions_table_still_renders():
    page = render_report(make_ctx(sessions=model.empty_frame(model.SESSIONS)))
    secs = sections(page)
    assert list(secs) == [FILES_GROUP, UNKNOWN_GROUP]
    assert "eos:1001" in secs[UNKNOWN_GROUP]


def test_display_cap_keeps_exact_counts(monkeypatch):
    monkeypatch.setitem(report.DISPLAY_CAP, "warning", 5)
    monkeypatch.setattr(messages, "MAIL_CAP", 6)
    rows = [finding("DQ021", "warning", "eos:1001", line=i, message=f"Avertissement {i:02d}") for i in range(12)]
    rows.append(finding("DQ009", "error", "eos:1002", line=40, message="Erreur"))
    page = render_report(make_ctx(findings=findings_frame(rows)))
    greta = sections(page)["GRETA Bretagne Sud"]
    assert greta.count('data-s="warning"') == 5
    assert "12 avertissements" in greta
    assert "5 avertissements sur 12" in greta and "issues.csv" in greta
    assert re.search(r'c-warning"><div class="clabel">Avertissements</div><div class="cvalue">12</div>', page)
    mail = html.unescape(re.search(r'<pre class="mailtext"[^>]*>(.*?)</pre>', greta, re.S).group(1))
    assert "1 erreur et 12 points à vérifier" in mail
    assert "… et 7 autre(s) point(s)" in mail


def test_large_volume_renders():
    n = 50_000
    sessions = make_sessions()
    keys = ["eos:1001", "eos:1002", "sigma:23P0000000_TEST_1:01:01", "eos:1003", None]
    sevs = ["error", "warning", "info", "warning"]
    rows = pd.DataFrame(
        {
            "rule": [("DQ009", "DQ021", "DQ003", "DQ007")[i % 4] for i in range(n)],
            "severity": [sevs[i % 4] for i in range(n)],
            "source": "eos",
            "file": "eos_20261119.csv",
            "sheet": "",
            "line": range(2, n + 2),
            "session_key": [keys[i % 5] for i in range(n)],
            "field": "Tél.",
            "value": [f"v{i}" for i in range(n)],
            "message": "Message",
        }
    )
    findings = model.to_frame(model.conform(rows, model.FINDINGS))
    page = render_report(make_ctx(findings=findings, sessions=sessions))
    counts = findings["severity"].value_counts()
    assert re.search(
        rf'c-error"><div class="clabel">Erreurs</div><div class="cvalue">{counts["error"]:,}</div>'.replace(
            ",", "\u202f"
        ),
        page,
    )
    # warnings capped per body (500), errors all listed
    assert page.count('data-s="error"') == counts["error"]
    assert page.count('data-s="warning"') <= 500 * 5
    assert page.count("<script") == 1


def test_write_report(tmp_path):
    path = write_report(make_ctx(), tmp_path / "quality" / "report.html")
    text = path.read_text(encoding="utf-8")
    assert text == render_report(make_ctx())
    assert not list((tmp_path / "quality").glob("*.tmp"))
