"""Data-quality checks DQ001-DQ023: each rule with passing and failing input."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from passerelle import model
from passerelle.docs import main as docs_main
from passerelle.docs import render_rules_page
from passerelle.rules import contacts, identifiers
from passerelle.rules.checks import CheckContext, check_registry, feed_guard, run_checks, session_errors
from passerelle.rules.common import as_datetime, render
from passerelle.rules.registry import RULES, rule

RUN = date(2026, 11, 20)
EXTRACT = date(2026, 11, 19)
SAM_KEY = "sam:2022C007314701:147:1"
SIGMA_FORMATION = "sigma:23P0000000_TEST_1"
SIGMA_ACTION = "sigma:23P0000000_TEST_1:01"
EOS_KEY = "eos:1001"
SIGMA_KEY = "sigma:23P0000000_TEST_1:01:01"
VALID_SIRET = "44306184100047"
SIGMA_SIRET = "13000123300019"  # the SIGMA titulaire, who is also the training body of its sessions


# --- builders ---------------------------------------------------------------------------------


def eos_session(**kw) -> dict:
    row = dict(
        session_key=EOS_KEY,
        action_key=f"eos:2022C007314701:147:1:{VALID_SIRET}:73000",
        formation_key=SAM_KEY,
        source="eos",
        source_file="eos_sessions_20261119.csv",
        source_sheet="",
        source_line=2,
        source_session_id="1001",
        session_number="1",
        marche_numero="M2214701",
        dossier="2022C007314701",
        lot="147",
        action_number="1",
        title="Agent thermal",
        organisme_formateur="HECATE FORMATION",
        siret_formateur=VALID_SIRET,
        address_line="12 rue de la Paix",
        postcode="73000",
        city="Chambéry",
        insee_code="73065",
        start_date=date(2026, 12, 1),
        end_date=date(2027, 3, 31),
        prescription_start=date(2026, 11, 1),
        prescription_end=date(2026, 11, 30),
        parent_period_start=date(2026, 1, 1),
        parent_period_end=date(2027, 12, 31),
        lot_end=date(2027, 6, 30),
        entry_mode="fixed",
        places=12,
        places_min=6,
        places_region=12,
        places_pole_emploi=0,
        trainees=0,
        hours_centre_avg=35.0,
        hours_company_avg=10.0,
        hours_centre_total=420.0,
        hours_company_total=120.0,
        workflow_state="Validée",
        workflow_publishable=True,
        cancelled=False,
        recruitment_state="open",
        contact_name="Marie Dupont",
        contact_phone="04 79 12 34 56",
        contact_email="marie.dupont@example.fr",
        financer="2",
    )
    row.update(kw)
    return row


def sigma_session(**kw) -> dict:
    row = dict(
        session_key=SIGMA_KEY,
        action_key=SIGMA_ACTION,
        formation_key=SIGMA_FORMATION,
        source="sigma",
        source_file="sigma_actions_20261119.xlsx",
        source_sheet="Sessions",
        source_line=2,
        source_session_id="01",
        session_number="01",
        marche_numero="23P0000000",
        action_number="23P0000000_TEST_1",
        composante_number="01",
        title="Formation projet pro",
        organisme_formateur="ORGANISME TEST PRF 23",
        siret_formateur=SIGMA_SIRET,
        site="CAP 2000 TEST",
        postcode="34500",
        city="BEZIERS",
        start_date=date(2027, 1, 4),
        end_date=date(2027, 6, 30),
        parent_period_start=date(2027, 1, 4),
        parent_period_end=date(2027, 6, 30),
        entry_mode="fixed",
        places=12,
        workflow_state="Validée",
        workflow_publishable=True,
        cancelled=False,
        recruitment_state="open",
        contact_name="Paul Martin",
        contact_phone="+33 4 67 12 34 56",
        contact_email="paul.martin@example.fr",
        financer="2",
    )
    row.update(kw)
    return row


def sam_formation(**kw) -> dict:
    row = dict(
        formation_key=SAM_KEY,
        source="sam",
        source_file="sam_offre_20261119.xml",
        source_sheet="",
        source_line=7,
        marche_numero="M2214701",
        dossier="2022C007314701",
        lot="147",
        action_number="1",
        title="Agent thermal",
        sessions_planned=1,
        headcount=12,
        period_start=date(2026, 1, 1),
        period_end=date(2026, 12, 31),
        execution_end=date(2027, 12, 31),
        holder_name="HECATE FORMATION",
        holder_siret=VALID_SIRET,
        financer="2",
    )
    row.update(kw)
    return row


def sigma_formation(**kw) -> dict:
    row = dict(
        formation_key=SIGMA_FORMATION,
        source="sigma",
        source_file="sigma_actions_20261119.xlsx",
        source_sheet="Actions",
        source_line=2,
        marche_numero="23P0000000",
        action_number="23P0000000_TEST_1",
        title="Formation projet pro",
        period_start=date(2027, 1, 4),
        period_end=date(2027, 6, 30),
        holder_name="ORGANISME TEST PRF 23",
        holder_siret=SIGMA_SIRET,
        status="EC",
        financer="2",
    )
    row.update(kw)
    return row


def sigma_action(**kw) -> dict:
    row = dict(
        action_key=SIGMA_ACTION,
        formation_key=SIGMA_FORMATION,
        source="sigma",
        source_file="sigma_actions_20261119.xlsx",
        source_sheet="Composantes",
        source_line=2,
        composante_number="01",
        composante_label="FORP - Formation Projet Pro",
        postcode="34500",
        city="BEZIERS",
        entry_mode="fixed",
        places=12,
        period_start=date(2027, 1, 4),
        period_end=date(2027, 6, 30),
    )
    row.update(kw)
    return row


def eos_event(**kw) -> dict:
    row = dict(
        event_key=f"{EOS_KEY}:ic:20261115:1000",
        session_key=EOS_KEY,
        source="eos",
        source_file="eos_evenements_20261119.csv",
        source_sheet="",
        source_line=2,
        event_type="Information Collective",
        is_information_collective=True,
        start_date=date(2026, 11, 25),
        start_time="10:00",
        end_time="12:00",
        cancelled=False,
        address_line="12 rue de la Paix",
        postcode="73000",
        city="Chambéry",
    )
    row.update(kw)
    return row


def sigma_event(**kw) -> dict:
    row = dict(
        event_key=f"{SIGMA_KEY}:ic:20261210:1400",
        session_key=SIGMA_KEY,
        source="sigma",
        source_file="sigma_actions_20261119.xlsx",
        source_sheet="Informations collectives",
        source_line=2,
        event_type="Information Collective",
        is_information_collective=True,
        start_date=date(2026, 12, 10),
        start_time="14:00",
        end_time="16:00",
        places=15,
        cancelled=False,
    )
    row.update(kw)
    return row


def frame(rows: list[dict], schema) -> pd.DataFrame:
    if not rows:
        return model.empty_frame(schema)
    df = pd.DataFrame(rows)
    df = df.drop(columns=[c for c in df.columns if df[c].isna().all()])  # conform adds them as typed nulls
    return model.to_frame(model.conform(df, schema))


def make_sessions(rows: list[dict]) -> pd.DataFrame:
    return frame(rows, model.SESSIONS)


def context(sessions=None, events=None, formations=None, actions=None, **kw) -> CheckContext:
    sessions = [eos_session(), sigma_session()] if sessions is None else sessions
    if events is None:  # the baseline events of the sessions given
        keys = {r["session_key"] for r in sessions}
        events = [e for e in (eos_event(), sigma_event()) if e["session_key"] in keys]
    formations = [sam_formation(), sigma_formation()] if formations is None else formations
    actions = [sigma_action()] if actions is None else actions
    kw.setdefault("extract_dates", {"eos": EXTRACT, "sigma": EXTRACT, "sam": EXTRACT})
    kw.setdefault("known_session_keys", {r["session_key"] for r in sessions})
    kw.setdefault("sources_read", {"eos", "sigma"})
    return CheckContext(
        run_date=kw.pop("run_date", RUN),
        formations=frame(formations, model.FORMATIONS),
        actions=frame(actions, model.ACTIONS),
        sessions=make_sessions(sessions),
        events=frame(events, model.EVENTS),
        **kw,
    )


def check(**kw) -> pd.DataFrame:
    return run_checks(context(**kw))


def only(findings: pd.DataFrame, rule_id: str) -> pd.DataFrame:
    return findings[findings["rule"] == rule_id].reset_index(drop=True)


def one(findings: pd.DataFrame, rule_id: str) -> pd.Series:
    f = only(findings, rule_id)
    assert len(f) == 1, f"expected one {rule_id} finding, got:\n{findings[['rule', 'field', 'value']]}"
    return f.iloc[0]


# --- baseline -----------------------------------------------------------------------------------


def test_clean_data_has_no_findings():
    f = check()
    assert len(f) == 0, f[["rule", "session_key", "field", "value", "message"]].to_string()
    assert list(f.columns) == model.FINDINGS.names


def test_findings_conform_to_the_model_and_are_sorted():
    f = check(
        sessions=[
            eos_session(source_line=5, marche_numero="R4218", contact_name=None),
            eos_session(session_key="eos:2", source_line=3, trainees=-1),
        ]
    )
    model.conform(f, model.FINDINGS)  # raises if a column or type is wrong
    places = list(zip(f["source"], f["file"], f["sheet"], f["line"], f["rule"], strict=True))
    assert places == sorted(places)
    assert len(f) >= 4
    assert set(f["severity"]) <= {"error", "warning", "info"}
    assert (f["message"].str.len() > 0).all()


def test_every_rule_has_a_check_and_renderable_templates():
    check_registry()
    for r in RULES:
        assert r.severity in ("error", "warning", "info")
        assert r.applies_to in ("all", "publishable", "live", "other")
        for name, _ in r.variants:
            assert r.template(name)
    with pytest.raises(KeyError):
        rule("DQ009").template("nope")


def test_rule_ids_and_severities_are_those_of_rules_md():
    expected = {
        "DQ000": "error",
        "DQ001": "error",
        "DQ002": "error",
        "DQ003": "info",
        "DQ004": "error",
        "DQ005": "error",
        "DQ006": "error",
        "DQ007": "warning",
        "DQ008": "error",
        "DQ009": "error",
        "DQ010": "error",
        "DQ011": "error",
        "DQ012": "warning",
        "DQ013": "error",
        "DQ014": "info",
        "DQ015": "error",
        "DQ016": "error",
        "DQ017": "warning",
        "DQ018": "info",
        "DQ019": "warning",
        "DQ020": "error",
        "DQ021": "warning",
        "DQ022": "warning",
        "DQ023": "error",
        "DQ024": "error",
        "DQ025": "warning",
        "DQ026": "warning",
    }
    assert {r.id: r.severity for r in RULES} == expected


def test_render_fills_series_and_marks_missing_values():
    idx = pd.Index([3, 7])
    out = render(
        "« {field} » = {value} ({n})",
        idx,
        field=pd.Series(["A", "B"], index=idx),
        value=pd.Series(["x", None], index=idx, dtype="string"),
        n=2,
    )
    assert out.tolist() == ["« A » = x (2)", "« B » = (vide) (2)"]
    with pytest.raises(KeyError):
        render("{missing}", idx)


# --- dates: placeholders never crash ------------------------------------------------------------


def test_as_datetime_reads_dates_and_treats_placeholders_as_unknown():
    s = pd.Series(
        ["20261119", "20261100", "00000000", "99999999", None, "19/11/2026", "2026-11-19", "n'importe"], dtype="string"
    )
    out = as_datetime(s)
    assert out.iloc[0] == pd.Timestamp("2026-11-19")
    assert out.iloc[1:5].isna().all()
    assert out.iloc[5] == pd.Timestamp("2026-11-19") and out.iloc[6] == pd.Timestamp("2026-11-19")
    assert pd.isna(out.iloc[7])
    objs = pd.Series([date(2026, 1, 2), None], dtype=object)
    assert as_datetime(objs).iloc[0] == pd.Timestamp("2026-01-02")


def test_null_and_placeholder_dates_never_crash_the_rules():
    # canonical frame with every date null
    nulls = {
        c: None
        for c in (
            "start_date",
            "end_date",
            "prescription_start",
            "prescription_end",
            "parent_period_start",
            "parent_period_end",
            "lot_end",
            "state_date",
        )
    }
    f = check(
        sessions=[eos_session(entry_mode="permanent", **nulls), sigma_session(**nulls)],
        formations=[sam_formation(period_start=None), sigma_formation()],
    )
    assert set(f["rule"]) == {"DQ005"}  # only the fixed SIGMA session without dates
    assert set(only(f, "DQ005")["session_key"]) == {SIGMA_KEY}

    # dates as LHEO text, as they may come back from a stored payload
    ctx = context(sessions=[eos_session(entry_mode="permanent")])
    s = ctx.sessions.copy()
    s["start_date"] = pd.Series(["00000000"], dtype="string")
    s["end_date"] = pd.Series(["99999999"], dtype="string")
    s["prescription_start"] = pd.Series(["20261100"], dtype="string")
    s["parent_period_start"] = pd.Series(["20260101"], dtype="string")
    ctx.sessions = s
    out = run_checks(ctx)
    assert not set(out["rule"]) & {"DQ001", "DQ005", "DQ006", "DQ008"}


# --- DQ001 ------------------------------------------------------------------------------------


def test_dq001_dates_outside_the_parent_period():
    f = check(sessions=[eos_session(end_date=date(2028, 1, 15)), sigma_session(start_date=date(2027, 1, 3))])
    eos = only(f, "DQ001").set_index("source")
    assert eos.loc["eos", "field"] == "Date fin session" and eos.loc["eos", "value"] == "15/01/2028"
    assert "31/12/2027" in eos.loc["eos", "message"]
    assert eos.loc["sigma", "field"] == "Date début" and eos.loc["sigma", "sheet"] == "Sessions"
    assert eos.loc["sigma", "session_key"] == SIGMA_KEY
    assert "composante" in eos.loc["sigma", "message"]


def test_dq001_skipped_when_parent_or_dates_unknown():
    f = check(
        sessions=[
            eos_session(end_date=date(2030, 1, 1), parent_period_start=None, parent_period_end=None),
            sigma_session(start_date=None, end_date=None, entry_mode="permanent"),
        ]
    )
    assert len(only(f, "DQ001")) == 0
    # boundaries are inside
    f = check(sessions=[eos_session(start_date=date(2026, 1, 1), end_date=date(2027, 12, 31))])
    assert len(only(f, "DQ001")) == 0


# --- DQ002 ------------------------------------------------------------------------------------


def test_dq002_marche_numbers():
    f = check(
        sessions=[eos_session(marche_numero="R4218"), eos_session(session_key="eos:2", marche_numero=None)],
        formations=[
            sam_formation(marche_numero="M261550"),
            sigma_formation(marche_numero="23P000000", action_number="23P000000_TEST_1"),
        ],
    )
    d = only(f, "DQ002")
    assert set(zip(d["field"], d["value"].fillna(""), strict=True)) == {
        ("N° marché", "R4218"),
        ("N° marché", ""),
        ("marche/@numero", "M261550"),
        ("N° Contrat/Conv.", "23P000000"),
    }
    formation_rows = d[d["field"] != "N° marché"]
    assert formation_rows["session_key"].isna().all()
    assert set(formation_rows["file"]) == {"sam_offre_20261119.xml", "sigma_actions_20261119.xlsx"}


def test_dq002_sigma_action_must_start_with_its_contract():
    f = check(formations=[sam_formation(), sigma_formation(action_number="23P0000001_TEST_1")])
    d = one(f, "DQ002")
    assert d["field"] == "N° Action" and d["value"] == "23P0000001_TEST_1" and d["sheet"] == "Actions"
    assert "23P0000000" in d["message"]
    assert len(only(check(), "DQ002")) == 0


# --- DQ003 / DQ004 ------------------------------------------------------------------------------


def test_dq003_cancelled_sessions_are_info():
    f = check(
        sessions=[eos_session(cancelled=True), sigma_session(places=0, cancelled=True, recruitment_state="closed")]
    )
    d = only(f, "DQ003").set_index("source")
    assert (d["severity"] == "info").all()
    assert d.loc["eos", "field"] == "Session annulée" and d.loc["eos", "value"] == "Oui"
    assert d.loc["sigma", "field"] == "Nb. de places" and d.loc["sigma", "value"] == "0"
    assert len(only(f, "DQ021")) == 0  # a cancelled session's closed recruitment is not reported
    assert session_errors(f) == set()


def test_dq004_cancelled_session_with_trainees():
    f = check(sessions=[eos_session(cancelled=True, trainees=3), sigma_session()])
    d = one(f, "DQ004")
    assert d["field"] == "nb Stagiaires." and d["value"] == "3" and d["severity"] == "error"
    assert len(only(check(sessions=[eos_session(cancelled=True, trainees=0)]), "DQ004")) == 0


# --- DQ005 / DQ006 ------------------------------------------------------------------------------


def test_dq005_fixed_entries_need_both_dates():
    f = check(sessions=[eos_session(end_date=None), sigma_session(start_date=None)])
    d = only(f, "DQ005").set_index("source")
    assert d.loc["eos", "field"] == "Date fin session"
    assert d.loc["sigma", "field"] == "Date début"


def test_dq005_permanent_entries_with_no_dates_or_both():
    none = eos_session(
        entry_mode="permanent", start_date=None, end_date=None, prescription_start=None, prescription_end=None
    )
    both = sigma_session(entry_mode="permanent")
    assert len(only(check(sessions=[none, both]), "DQ005")) == 0
    partial = eos_session(entry_mode="permanent", end_date=None)
    d = one(check(sessions=[partial]), "DQ005")
    assert d["field"] == "Date fin session" and "permanentes" in d["message"]


def test_dq005_missing_entry_mode_unless_orphan_composante():
    d = one(check(sessions=[eos_session(entry_mode=None)]), "DQ005")
    assert d["field"] == "Type entrée"
    orphan = sigma_session(
        action_key="sigma:23P0000000_TEST_1:09",
        composante_number="09",
        entry_mode=None,
        parent_period_start=None,
        parent_period_end=None,
    )
    f = check(sessions=[orphan])
    assert len(only(f, "DQ005")) == 0
    assert one(f, "DQ020")["field"] == "Composante"


def test_dq006_end_before_start_but_one_day_sessions_are_fine():
    d = one(check(sessions=[eos_session(start_date=date(2027, 5, 10), end_date=date(2027, 4, 12))]), "DQ006")
    assert d["field"] == "Date fin session" and d["value"] == "12/04/2027" and "10/05/2027" in d["message"]
    one_day = eos_session(start_date=date(2027, 1, 5), end_date=date(2027, 1, 5))
    assert len(only(check(sessions=[one_day]), "DQ006")) == 0


# --- DQ007 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "known", "mode", "expected"),
    [
        (date(2026, 11, 19), set(), "fixed", 1),  # J
        (date(2026, 11, 16), set(), "fixed", 1),  # before J
        (date(2026, 11, 20), set(), "fixed", 0),  # J+1
        (date(2026, 11, 16), {EOS_KEY}, "fixed", 0),  # not new
        (date(2026, 11, 16), set(), "permanent", 0),
    ],
)
def test_dq007_new_fixed_session_starts_at_the_earliest_on_j_plus_1(start, known, mode, expected):
    s = eos_session(
        start_date=start, prescription_start=None, prescription_end=None, entry_mode=mode, parent_period_start=None
    )
    f = check(sessions=[s], known_session_keys=known)
    d = only(f, "DQ007")
    assert len(d) == expected
    if expected:
        assert d.loc[0, "severity"] == "warning" and "20/11/2026" in d.loc[0, "message"]


def test_dq007_uses_the_extract_date_of_the_source():
    s = sigma_session(start_date=date(2027, 1, 4))
    f = check(sessions=[s], known_session_keys=set(), extract_dates={"sigma": date(2027, 1, 3)})
    assert len(only(f, "DQ007")) == 0
    f = check(sessions=[s], known_session_keys=set(), extract_dates={"sigma": date(2027, 1, 4)})
    assert one(f, "DQ007")["field"] == "Date début"


# --- DQ008 ------------------------------------------------------------------------------------


def test_dq008_prescription_window():
    f = check(
        sessions=[
            eos_session(
                session_key="eos:1", prescription_start=date(2026, 11, 20), prescription_end=date(2026, 11, 10)
            ),
            eos_session(session_key="eos:2", prescription_start=date(2026, 12, 2), prescription_end=date(2026, 12, 3)),
            eos_session(session_key="eos:3", prescription_end=date(2027, 4, 1)),
        ]
    )
    d = only(f, "DQ008").set_index("session_key")
    assert d.loc["eos:1", "field"] == "Date fin prescr." and "Date début prescr." in d.loc["eos:1", "message"]
    assert d.loc["eos:2", "field"] == "Date début prescr."
    assert d.loc["eos:3", "field"] == "Date fin prescr." and d.loc["eos:3", "value"] == "01/04/2027"
    same_day = eos_session(prescription_start=date(2026, 12, 1), prescription_end=date(2026, 12, 1))
    assert len(only(check(sessions=[same_day]), "DQ008")) == 0


# --- DQ009 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phone",
    [
        "04 72 12 34 56",
        "0472123456",
        "04.72.12.34.56",
        "04-72-12-34-56",
        "06 12 34 56 78",
        "+33 4 72 12 34 56",
        "+33472123456",
        "+33 6 12 34 56 78",
        "0262 30 12 34",
        "0692 12 34 56",
        "0590 82 12 34",
        "0594 29 12 34",
        "0269 61 12 34",
        "+262 262 30 12 34",
        "+262 692 12 34 56",
        "+590 590 82 12 34",
        "+594 594 29 12 34",
        "+596 596 12 34 56",
        "+687 26 12 34",
        "+689 40 12 34 56",
        "+508 41 20 00",
        "+269 773 12 34",
        "+269 639 12 34 56",
        "04\u00a072\u00a012\u00a034\u00a056",
    ],
)
def test_dq009_valid_french_phones(phone):
    assert contacts.is_valid_phone(phone)


@pytest.mark.parametrize(
    "phone",
    [
        "04 73 19 36",
        "05 61 23 45",
        "0033 4 72 12 34 56",
        "+33 0 4 72 12 34 56",
        "+33 (0)4 72 12 34 56",
        "(04) 72 12 34 56",
        "04 72 12 34 56 poste 12",
        "+44 20 7946 0000",
        "+1 212 555 0100",
        "4721234567",
        "00 12 34 56 78",
        "+262 12 34",
        "+687 26 12 34 56 78",
        "04/72/12/34/56",
        "tél : 0472123456",
        "+",
    ],
)
def test_dq009_invalid_phones(phone):
    assert not contacts.is_valid_phone(phone)


def test_dq009_contact_findings():
    f = check(
        sessions=[
            eos_session(session_key="eos:1", contact_name=None),
            eos_session(session_key="eos:2", contact_phone=" "),
            eos_session(session_key="eos:3", contact_phone="04 73 19 36"),
            eos_session(session_key="eos:4", contact_email="contact@@exemple"),
            eos_session(session_key="eos:5", contact_email=None),  # mail optional
            sigma_session(contact_phone="0262 30 12 34"),
        ]
    )
    d = only(f, "DQ009").set_index("session_key")
    assert d.loc["eos:1", "field"] == "Contact nom"
    assert d.loc["eos:2", "field"] == "Contact tél" and "vide" in d.loc["eos:2", "message"]
    assert d.loc["eos:3", "value"] == "04 73 19 36"
    assert d.loc["eos:4", "field"] == "Contact mail" and d.loc["eos:4", "value"] == "contact@@exemple"
    assert set(d.index) == {"eos:1", "eos:2", "eos:3", "eos:4"}
    assert session_errors(f) == {"eos:1", "eos:2", "eos:3", "eos:4"}


def test_dq009_validates_each_distinct_value_once():
    contacts.is_valid_phone.cache_clear()
    contacts.is_valid_email.cache_clear()
    rows = [
        eos_session(
            session_key=f"eos:{i}", contact_phone=["04 79 12 34 56", "bad"][i % 2], contact_email="a@example.fr"
        )
        for i in range(200)
    ]
    f = check(sessions=rows, events=[], known_session_keys=set())
    assert len(only(f, "DQ009")) == 100
    assert contacts.is_valid_phone.cache_info().misses == 2
    assert contacts.is_valid_email.cache_info().misses == 1


def test_dq009_mail_validation():
    assert contacts.is_valid_email("marie.dupont@example.fr")
    assert contacts.is_valid_email("prénom.nom@exemple.fr")
    for bad in ("contact@@exemple", "contact@", "contact exemple.fr", "a@b"):
        assert not contacts.is_valid_email(bad)


def test_dq009_not_asked_of_cancelled_or_unpublishable_sessions():
    f = check(
        sessions=[
            eos_session(cancelled=True, contact_name=None, contact_phone=None),
            sigma_session(workflow_publishable=False, workflow_state="En attente d'émission", contact_phone=None),
        ]
    )
    assert len(only(f, "DQ009")) == 0


# --- DQ010 / DQ011 / DQ012 ----------------------------------------------------------------------


def test_dq010_pole_emploi_places_on_a_region_session():
    d = one(check(sessions=[eos_session(places_region=10, places_pole_emploi=2)]), "DQ010")
    assert d["field"] == "Eff. visé PE" and d["value"] == "2"
    assert len(only(check(sessions=[eos_session(places_pole_emploi=2, financer="4", places_region=10)]), "DQ010")) == 0


def test_dq011_places_per_financer_and_negatives():
    f = check(
        sessions=[
            eos_session(
                session_key="eos:1",
                places=10,
                places_region=12,
                places_pole_emploi=0,
                hours_centre_total=350.0,
                hours_company_total=100.0,
            ),
            eos_session(session_key="eos:2", trainees=-1),
        ]
    )
    d = only(f, "DQ011").set_index("session_key")
    assert d.loc["eos:1", "field"] == "Eff. visé tot." and d.loc["eos:1", "value"] == "10"
    assert "12" in d.loc["eos:1", "message"]
    assert d.loc["eos:2", "field"] == "nb Stagiaires." and d.loc["eos:2", "value"] == "-1"
    exact = eos_session(places=12, places_region=8, places_pole_emploi=4, financer="4")
    assert len(only(check(sessions=[exact]), "DQ011")) == 0


def test_dq012_hours_totals():
    f = check(
        sessions=[
            eos_session(
                hours_centre_avg=280.0,
                places=12,
                places_region=12,
                hours_centre_total=3000.0,
                hours_company_total=120.0,
            )
        ]
    )
    d = one(f, "DQ012")
    assert d["severity"] == "warning" and d["field"] == "Vol H Cent tot." and d["value"] == "3000"
    assert "3360" in d["message"]
    rounded = eos_session(hours_centre_avg=35.5, hours_centre_total=426.3, hours_company_avg=None)
    assert len(only(check(sessions=[rounded]), "DQ012")) == 0
    company = eos_session(hours_company_total=100.0)
    assert one(check(sessions=[company]), "DQ012")["field"] == "Vol H Ent. tot."


# --- DQ013 / DQ014 ------------------------------------------------------------------------------


def test_dq013_event_times_and_dates():
    f = check(
        events=[
            eos_event(event_key="e1", start_time="14:00", end_time="11:00", source_line=2),
            eos_event(event_key="e2", start_time="10:00", end_time="10:00", source_line=3),
            eos_event(event_key="e3", start_date=date(2026, 12, 5), source_line=4),
            eos_event(event_key="e4", start_time="25:00", source_line=5),
            eos_event(event_key="e5", start_date=date(2026, 11, 20), end_date=date(2026, 11, 19), source_line=6),
            eos_event(
                event_key="e6",
                start_date=date(2026, 11, 20),
                end_date=date(2026, 11, 21),
                start_time="14:00",
                end_time="09:00",
                source_line=7,
            ),  # two days: times not compared
            eos_event(event_key="e7", start_date=date(2026, 12, 1), source_line=8),  # on the start day: fine
        ]
    )
    d = only(f, "DQ013").set_index("line")
    assert set(d.index) == {2, 3, 4, 5, 6}
    assert d.loc[2, "field"] == "Heure de fin" and d.loc[2, "value"] == "11:00" and "14:00" in d.loc[2, "message"]
    assert d.loc[4, "field"] == "Date de début" and "01/12/2026" in d.loc[4, "message"]
    assert d.loc[5, "field"] == "Heure de début" and d.loc[5, "value"] == "25:00"
    assert d.loc[6, "field"] == "Date de fin"
    assert (d["session_key"] == EOS_KEY).all()
    assert d.loc[2, "message"].startswith("Information collective du 25/11/2026")
    assert EOS_KEY in session_errors(f)


def test_dq013_permanent_sessions_and_cancelled_events():
    perm = eos_session(entry_mode="permanent")
    f = check(sessions=[perm], events=[eos_event(start_date=date(2027, 2, 1))])
    assert len(only(f, "DQ013")) == 0
    d = one(check(sessions=[perm], events=[eos_event(start_date=date(2027, 5, 1))]), "DQ013")
    assert "fin de la session" in d["message"]
    cancelled = sigma_event(start_date=date(2027, 2, 1), places=0, cancelled=True)
    assert len(only(check(events=[cancelled]), "DQ013")) == 0


def test_dq014_cancelled_information_collective():
    f = check(events=[sigma_event(places=0, cancelled=True)])
    d = one(f, "DQ014")
    assert d["severity"] == "info" and d["field"] == "Nb. de places" and d["value"] == "0"
    assert d["sheet"] == "Informations collectives" and "10/12/2026" in d["message"]


# --- DQ015 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("postcode", "insee"),
    [
        ("73000", "73065"),
        ("20000", "2A004"),  # Ajaccio
        ("20090", "2A004"),
        ("20137", "2A247"),  # Porto-Vecchio
        ("20200", "2B033"),  # Bastia
        ("20600", "2B033"),
        ("20250", "2B096"),  # Corte
        ("97400", "97411"),  # Saint-Denis (La Réunion)
        ("97133", "97701"),  # Saint-Barthélemy
        ("97150", "97801"),  # Saint-Martin
        ("98800", "98818"),  # Nouméa
        ("69361", "69387"),  # CEDEX postcode
        ("75001", None),
    ],
)
def test_dq015_consistent_addresses(postcode, insee):
    city = "LYON CEDEX 07" if postcode == "69361" else "Ville"
    f = check(sessions=[eos_session(postcode=postcode, insee_code=insee, city=city)], events=[])
    assert len(only(f, "DQ015")) == 0, f.to_string()


@pytest.mark.parametrize(
    ("postcode", "insee", "city", "variant_word"),
    [
        ("3450", None, "BEZIERS", "5 chiffres"),
        ("69003 CEDEX", None, "LYON", "5 chiffres"),
        ("00100", None, "X", "5 chiffres"),
        ("69003", "63113", "Lyon", "département"),
        ("20090", "2B033", "Ajaccio", "département"),  # 2A postcode, 2B INSEE
        ("20200", "2A004", "Bastia", "département"),
        ("97300", "97411", "Cayenne", "département"),
        ("69003", "6938", "Lyon", "INSEE"),
        ("69003", "69383", None, "ville"),
        (None, None, "Lyon", "code postal"),
    ],
)
def test_dq015_bad_addresses(postcode, insee, city, variant_word):
    d = one(check(sessions=[eos_session(postcode=postcode, insee_code=insee, city=city)], events=[]), "DQ015")
    assert variant_word in d["message"]
    assert d["severity"] == "error" and d["session_key"] == EOS_KEY


@pytest.mark.parametrize(
    ("postcode", "insee", "city"),
    [
        ("20000", "2A004", "Ajaccio"),  # Corsica: 2A
        ("20200", "2B033", "Bastia"),  # 2B
        ("97400", "97411", "Saint-Denis"),  # overseas: 974
        ("97133", "97701", "Saint-Barthélemy"),  # a collectivity with its own code (977)
        ("69431", "69383", "Lyon Cedex 03"),  # a CEDEX postcode, in no base: its digits name 69
        ("69003", "69123", "Lyon"),  # the commune of an arrondissement
        ("01200", "74109", "Éloise"),  # a postcode serving communes of two départements (01, 74)
    ],
)
def test_dq015_departments_from_the_cog(postcode, insee, city):
    f = check(sessions=[eos_session(postcode=postcode, insee_code=insee, city=city)], events=[])
    assert len(only(f, "DQ015")) == 0, only(f, "DQ015")["message"].tolist()


def test_dq026_commune_the_cog_cannot_tell():
    d = one(check(sessions=[eos_session(postcode="63000", insee_code=None, city="Riom")], events=[]), "DQ026")
    assert d["severity"] == "warning" and d["field"] == "Code postal" and d["value"] == "63000 Riom"
    assert "ne dessert aucune commune nommée « Riom »" in d["message"] and "Riom (63200)" in d["message"]
    # an INSEE code of another commune, postcode and city agreeing: reported, the commune kept
    d = one(check(sessions=[eos_session(postcode="73000", insee_code="73008", city="Chambéry")], events=[]), "DQ026")
    assert d["value"] == "73000 Chambéry (INSEE 73008)" and "code retenu" in d["message"]
    # DQ015 already says the département is wrong: no DQ026 on top
    f = check(sessions=[eos_session(postcode="69003", insee_code="63113", city="Lyon")], events=[])
    assert len(only(f, "DQ015")) == 1 and len(only(f, "DQ026")) == 0
    # an event address too, and a SIGMA composante's
    e = one(check(events=[eos_event(postcode="73000", city="Albertville")]), "DQ026")
    assert e["field"] == "Code postal" and e["file"] == "eos_evenements_20261119.csv"
    a = one(check(actions=[sigma_action(postcode="34500", city="Montpellier")]), "DQ026")
    assert a["field"] == "Ville" or a["field"] == "Code postal"
    assert pd.isna(a["session_key"]) or a["session_key"] == ""


def test_dq015_sigma_field_is_the_composite_place():
    d = one(check(sessions=[sigma_session(postcode="3450")]), "DQ015")
    assert d["field"] == "Lieu de la session" and d["value"] == "3450"


def test_dq015_event_addresses_only_when_given():
    remote = eos_event(address_line=None, postcode=None, city=None)
    assert len(only(check(events=[remote]), "DQ015")) == 0
    d = one(check(events=[eos_event(city=None)]), "DQ015")
    assert d["field"] == "Ville" and d["file"] == "eos_evenements_20261119.csv"


# --- DQ016 ------------------------------------------------------------------------------------


def test_dq016_la_poste_siret_uses_the_digit_sum():
    la_poste = "35600000049837"  # Luhn fails, digit sum 45 is a multiple of 5
    digits = [int(c) for c in la_poste]
    luhn = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(reversed(digits)))
    assert luhn % 10 != 0 and sum(digits) % 5 == 0
    assert identifiers.siret_problem(la_poste) is None
    assert identifiers.siret_problem("35600000000048") is None  # head office: Luhn
    assert identifiers.siret_problem("35600000049838") == "checksum"
    assert identifiers.siret_problem(VALID_SIRET) is None
    assert identifiers.siret_problem("44306184100048") == "checksum"
    assert identifiers.siret_problem("4430618410004") == "format"
    assert identifiers.siret_problem("4430618410004A") == "format"


def test_dq016_findings_on_sessions_and_formations():
    f = check(
        sessions=[
            eos_session(session_key="eos:1", siret_formateur="44306184100048"),
            eos_session(session_key="eos:2", siret_formateur=None),
            eos_session(session_key="eos:3", siret_formateur="35600000049837"),
            sigma_session(siret_formateur=None),
        ],
        formations=[sam_formation(holder_siret="123"), sigma_formation()],
    )
    d = only(f, "DQ016")
    by_key = d[d["session_key"].notna()].set_index("session_key")
    assert set(by_key.index) == {"eos:1", "eos:2"}
    assert by_key.loc["eos:1", "field"] == "SIRET formateur" and by_key.loc["eos:1", "value"] == "44306184100048"
    formation = d[d["session_key"].isna()].iloc[0]
    assert formation["field"] == "titulaire/@siret" and formation["value"] == "123"
    assert formation["file"] == "sam_offre_20261119.xml"


# --- DQ017 ------------------------------------------------------------------------------------


def test_dq017_later_duplicate_references_the_first():
    first = eos_session(session_key="eos:184234", source_line=32)
    later = eos_session(session_key="eos:184235", source_line=33, city="CHAMBÉRY ")
    f = check(sessions=[later, first], known_session_keys={"eos:184234", "eos:184235"})
    d = one(f, "DQ017")
    assert d["session_key"] == "eos:184235" and d["value"] == "eos:184234" and d["line"] == 33
    assert d["severity"] == "warning"


def test_dq017_not_for_cancelled_or_different_sessions():
    a = eos_session(session_key="eos:1")
    assert len(only(check(sessions=[a, eos_session(session_key="eos:2", cancelled=True)]), "DQ017")) == 0
    assert (
        len(
            only(
                check(
                    sessions=[
                        a,
                        eos_session(session_key="eos:2", postcode="73100", insee_code="73008", city="Aix-les-Bains"),
                    ]
                ),
                "DQ017",
            )
        )
        == 0
    )
    assert len(only(check(sessions=[a, eos_session(session_key="eos:2", end_date=date(2027, 3, 30))]), "DQ017")) == 0
    undated = dict(
        entry_mode="permanent", start_date=None, end_date=None, prescription_start=None, prescription_end=None
    )
    assert (
        len(
            only(
                check(
                    sessions=[eos_session(session_key="eos:1", **undated), eos_session(session_key="eos:2", **undated)]
                ),
                "DQ017",
            )
        )
        == 0
    )


# --- DQ018 ------------------------------------------------------------------------------------


def test_dq018_unpublishable_sessions_are_only_reported_as_such():
    s = eos_session(
        workflow_state="A finaliser",
        workflow_publishable=False,
        session_number=None,
        contact_name=None,
        postcode=None,
        end_date=None,
        marche_numero="R4218",
    )
    f = check(sessions=[s], events=[], formations=[sam_formation(sessions_planned=None)])
    d = one(f, "DQ018")
    assert d["value"] == "A finaliser" and d["field"] == "Etat session" and d["severity"] == "info"
    assert set(f["rule"]) == {"DQ018"}


# --- DQ019 ------------------------------------------------------------------------------------


def test_dq019_fewer_sessions_than_planned_when_the_lot_started():
    f = check(formations=[sam_formation(sessions_planned=2), sigma_formation()])
    d = one(f, "DQ019")
    assert pd.isna(d["session_key"]) and d["file"] == "sam_offre_20261119.xml" and d["line"] == 7
    assert d["field"] == "action/@sessions-envisagees" and d["value"] == "2"
    assert d["message"].startswith("1 session(s)")


def test_dq019_lot_not_started_or_enough_sessions():
    later = sam_formation(sessions_planned=2, period_start=date(2026, 12, 1))
    assert len(only(check(formations=[later, sigma_formation()]), "DQ019")) == 0
    assert len(only(check(), "DQ019")) == 0
    # cancelled and unfinalised sessions do not count
    f = check(
        sessions=[
            eos_session(cancelled=True),
            eos_session(session_key="eos:2", workflow_publishable=False, workflow_state="A finaliser"),
        ]
    )
    assert one(f, "DQ019")["message"].startswith("0 session(s)")


# --- DQ020 ------------------------------------------------------------------------------------


def test_dq020_orphans():
    f = check(
        sessions=[
            eos_session(formation_key="sam:2026C009999901:001:1", dossier="2026C009999901", lot="001"),
            sigma_session(
                session_key="sigma:X_1:01:01", formation_key="sigma:X_1", action_key="sigma:X_1:01", action_number="X_1"
            ),
        ],
        events=[eos_event(session_key="eos:424242")],
    )
    d = only(f, "DQ020")
    by_field = d.set_index("field")
    assert by_field.loc["Dossier / Lot / Action", "value"] == "2026C009999901 / 001 / 1"
    assert by_field.loc["N° Action", "value"] == "X_1"
    assert by_field.loc["Identifiant EOS", "value"] == "eos:424242"
    assert len(d) == 3  # no composante finding when the SIGMA action itself is missing
    assert len(only(check(), "DQ020")) == 0


# --- DQ021 ------------------------------------------------------------------------------------


def test_dq021_recruitment_closed():
    d = one(check(sessions=[eos_session(recruitment_state="closed")]), "DQ021")
    assert d["value"] == "Fermé" and d["field"] == "Etat recrutement" and d["severity"] == "warning"
    assert len(only(check(sessions=[eos_session(recruitment_state="suspended")]), "DQ021")) == 0


# --- DQ022 ------------------------------------------------------------------------------------


def previous_state(**kw) -> pd.DataFrame:
    row = dict(
        session_key="eos:184210",
        content_hash="abc",
        status="published",
        since_date=date(2026, 11, 19),
        source="eos",
        source_file="eos_sessions_20261119.csv",
        source_sheet="",
        source_line=9,
    )
    row.update(kw)
    return pd.DataFrame([row])


def test_dq022_vanished_session_when_its_source_was_read():
    d = one(check(previous=previous_state()), "DQ022")
    assert d["session_key"] == "eos:184210" and d["file"] == "eos_sessions_20261119.csv" and d["line"] == 9
    assert d["value"] == "2026-11-19" and "19/11/2026" in d["message"] and d["severity"] == "warning"


def test_dq022_not_when_source_unread_cancelled_or_present():
    assert len(only(check(previous=previous_state(), sources_read={"sigma"}), "DQ022")) == 0
    assert len(only(check(previous=previous_state(status="cancelled")), "DQ022")) == 0
    assert len(only(check(previous=previous_state(session_key=EOS_KEY)), "DQ022")) == 0
    assert len(only(check(previous=None), "DQ022")) == 0


def test_dq022_grace_period_then_withdrawal():
    # missing since today: published until the last day of the grace period
    d = one(check(previous=previous_state(), grace_days=7), "DQ022")
    assert f"jusqu'au {(RUN + timedelta(days=6)):%d/%m/%Y} inclus" in d["message"] and "7 jours" in d["message"]
    # already vanished in the last publication: the first day missing is kept
    since = RUN - timedelta(days=3)
    d = one(check(previous=previous_state(status="vanished", vanished_date=since), grace_days=7), "DQ022")
    assert f"depuis le {since:%d/%m/%Y}" in d["message"] and "retirée" not in d["message"].split("puis")[0]
    # missing for 7 days: withdrawn today
    gone = RUN - timedelta(days=7)
    d = one(check(previous=previous_state(status="vanished", vanished_date=gone), grace_days=7), "DQ022")
    assert "retirée des flux aujourd'hui" in d["message"] and "retrait" in d["message"]
    # a shorter grace period is honoured
    d = one(check(previous=previous_state(status="vanished", vanished_date=since), grace_days=3), "DQ022")
    assert "retirée des flux aujourd'hui" in d["message"]


def test_dq022_not_for_a_session_whose_period_is_over():
    ended = previous_state(start_date=RUN - timedelta(days=60), end_date=RUN - timedelta(days=1), cancelled=False)
    assert len(only(check(previous=ended), "DQ022")) == 0
    running = previous_state(start_date=RUN - timedelta(days=60), end_date=RUN, cancelled=False)
    assert len(only(check(previous=running), "DQ022")) == 1


def test_dq022_minimal_previous_state_and_placeholder_date():
    prev = pd.DataFrame({"session_key": ["sigma:A_1:01:01"], "status": ["published"], "since_date": ["00000000"]})
    d = one(check(previous=prev), "DQ022")
    assert d["source"] == "sigma" and d["file"] == "" and pd.isna(d["line"]) and pd.isna(d["value"])


# --- DQ025 ------------------------------------------------------------------------------------


def test_dq025_one_siret_under_two_names_is_reported_on_the_other_name():
    f = check(
        sessions=[
            eos_session(organisme_formateur="Hécate formation"),  # same name once normalised
            eos_session(session_key="eos:2", organisme_formateur="HECATE FORMATION CLERMONT"),
            sigma_session(),
        ]
    )
    d = one(f, "DQ025")
    assert d["session_key"] == "eos:2" and d["field"] == "Organisme formateur" and d["severity"] == "warning"
    assert d["value"] == "HECATE FORMATION CLERMONT"
    assert f"le SIRET {VALID_SIRET} est aussi déclaré sous le nom « HECATE FORMATION »" in d["message"]
    assert (
        f"titulaire du marché M2214701, action {SAM_KEY}" in d["message"]
        and "les flux publient « HECATE FORMATION »" in d["message"]
    )


def test_dq025_a_holder_named_otherwise_than_its_training_sessions_is_reported_on_the_formation():
    f = check(formations=[sam_formation(), sigma_formation(holder_siret=VALID_SIRET)])
    d = one(f, "DQ025")  # the SIGMA titulaire carries HECATE's SIRET under another name
    assert pd.isna(d["session_key"]) or d["session_key"] == ""
    assert d["field"] == "Titulaire/Mandataire" and d["value"] == "ORGANISME TEST PRF 23" and d["line"] == 2


def test_dq025_a_training_body_that_is_not_the_holder_has_no_siret():
    f = check(sessions=[eos_session(), sigma_session(organisme_formateur="BTP FORMATION 66", siret_formateur=None)])
    d = one(f, "DQ025")
    assert d["session_key"] == SIGMA_KEY and d["field"] == "Lieu de la session" and d["value"] == "BTP FORMATION 66"
    assert "n'est pas le titulaire de l'action (« ORGANISME TEST PRF 23 », SIRET 13000123300019)" in d["message"]
    assert "00000000000000" in d["message"]
    # its own SIRET known (the canonical build found it by name): nothing to say
    f = check(
        sessions=[
            eos_session(),
            sigma_session(organisme_formateur="BTP FORMATION 66", siret_formateur="81234567600017"),
        ]
    )
    assert len(only(f, "DQ025")) == 0


# --- DQ023 ------------------------------------------------------------------------------------


def test_dq023_feed_guard():
    empty = feed_guard("lheo-2026-11-20.xml", 0, 120)
    assert len(empty) == 1
    g = empty.iloc[0]
    assert (
        g["rule"] == "DQ023" and g["severity"] == "error" and g["source"] == "" and g["file"] == "lheo-2026-11-20.xml"
    )
    assert "vide" in g["message"]
    halved = feed_guard("lheo-2026-11-20.xml", 59, 120).iloc[0]
    assert "120" in halved["message"] and "59" in halved["message"]
    assert len(feed_guard("lheo-2026-11-20.xml", 60, 120)) == 0
    assert len(feed_guard("lheo-2026-11-20.xml", 5, None)) == 0
    assert len(feed_guard("lheo-2026-11-20.xml", 0, None)) == 1
    model.conform(empty, model.FINDINGS)


# --- session_errors ---------------------------------------------------------------------------


def test_session_errors_only_counts_errors_with_a_session():
    f = check(
        sessions=[
            eos_session(session_key="eos:1", recruitment_state="closed"),
            eos_session(session_key="eos:2", marche_numero="R4218", start_date=date(2026, 12, 2)),
            eos_session(session_key="eos:3", cancelled=True, start_date=date(2026, 12, 3)),
        ],
        formations=[sam_formation(holder_siret="123", sessions_planned=5), sigma_formation()],
    )
    assert session_errors(f) == {"eos:2"}
    assert session_errors(f.iloc[0:0]) == set()


# --- docs ---------------------------------------------------------------------------------------


def test_rules_page_lists_every_rule(tmp_path):
    page = render_rules_page()
    for r in RULES:
        assert f"| {r.id} |" in page and f"### {r.id}" in page
    out = tmp_path / "rules.md"
    assert docs_main(["--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == page
    assert docs_main(["--out", str(out), "--check"]) == 0
    out.write_text("stale", encoding="utf-8")
    assert docs_main(["--out", str(out), "--check"]) == 1


def test_committed_rules_page_is_up_to_date():
    from pathlib import Path

    committed = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
    assert committed.read_text(encoding="utf-8") == render_rules_page(), "run: python -m passerelle.docs"


def test_empty_tables_give_no_findings():
    ctx = CheckContext(run_date=RUN, formations=None, actions=None, sessions=None, events=None)
    f = run_checks(ctx)
    assert len(f) == 0 and list(f.columns) == model.FINDINGS.names
    prev = previous_state()
    assert (
        len(
            run_checks(
                CheckContext(
                    run_date=RUN,
                    formations=None,
                    actions=None,
                    sessions=None,
                    events=None,
                    previous=prev,
                    sources_read={"eos"},
                )
            )
        )
        == 1
    )  # every session vanished


def test_selections_are_slices_of_one_copy_with_the_rows_of_select_sessions():
    from pathlib import Path

    from passerelle.canonical import build_core
    from passerelle.ingest import read_extract
    from passerelle.rules.checks import _selections, select_sessions

    samples = Path(__file__).resolve().parents[2] / "data" / "samples"
    reads = [
        read_extract(s, k, samples, date(2026, 11, 19))
        for s, k in (("sam", "offre"), ("eos", "sessions"), ("eos", "evenements"), ("sigma", "actions"))
    ]
    sessions = build_core(reads).sessions
    selections = _selections(sessions)
    for applies_to in ("all", "publishable", "live"):
        expected = select_sessions(sessions, applies_to)
        got = selections[applies_to]
        assert sorted(got.index) == sorted(expected.index), applies_to
        pd.testing.assert_frame_equal(got.sort_index(), expected.sort_index())
    assert len(selections["live"]) < len(selections["publishable"]) < len(selections["all"])
