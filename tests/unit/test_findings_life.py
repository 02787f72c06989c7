"""The life of findings: identity, new / open since / resolved (fixed or gone), and the store."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from passerelle import model
from passerelle.findings import findings_frame
from passerelle.findings_life import compute_life, identity, life_counts
from passerelle.store.findings import (
    finding_history,
    finding_states,
    last_published_sessions,
    previous_check_date,
    record_finding_states,
)

D1, D2, D3 = date(2026, 11, 19), date(2026, 11, 20), date(2026, 11, 28)


def sessions(*rows) -> pd.DataFrame:
    df = pd.DataFrame(
        [
            {
                "session_key": k,
                "action_key": k + ":a",
                "formation_key": k + ":f",
                "source": "eos",
                "source_file": "eos_sessions_20261119.csv",
                "source_sheet": "",
                "source_line": 2,
                "organisme_formateur": body,
                "siret_formateur": siret,
                "contact_email": mail,
                "title": "Cariste",
                "workflow_publishable": True,
                "cancelled": False,
            }
            for k, body, siret, mail in rows
        ]
    )
    return model.to_frame(model.conform(df, model.SESSIONS))


S = sessions(
    ("eos:1", "GRETA", "19300245800019", "a@greta.fr"),
    ("eos:2", "GRETA", "19300245800019", "b@greta.fr"),
    ("eos:3", "AFPA", "", "c@afpa.fr"),
)


def f(rule, key, field, value, *, file="eos_sessions_20261119.csv", line=2, severity="error", message="Message"):
    return {
        "rule": rule,
        "severity": severity,
        "source": "eos",
        "file": file,
        "sheet": "",
        "line": line,
        "session_key": key,
        "field": field,
        "value": value,
        "message": message,
    }


def by_key(states: pd.DataFrame) -> dict[str, dict]:
    return {r["finding_key"]: r for r in states.astype(object).to_dict("records")}


def test_identity_ignores_message_line_and_extract_date():
    a = findings_frame(
        [f("DQ009", "eos:1", "Tél. contact", "02 99", message="A", line=2), f("DQ000", None, "Colonne X", None, line=1)]
    )
    b = findings_frame(
        [
            f("DQ009", "eos:1", "Tél. contact", "02 98", message="B", line=7, file="eos_sessions_20261120.csv"),
            f("DQ000", None, "Colonne X", None, line=1, file="eos_sessions_20261120.csv"),
        ]
    )
    assert (
        list(identity(a))
        == list(identity(b))
        == ["DQ009|eos:1|Tél. contact", "DQ000|fichier:eos_sessions.csv|Colonne X|v="]
    )


def test_identity_tells_apart_same_rule_and_field():
    rows = findings_frame(
        [
            f("DQ013", "eos:1", "Heure fin", "11:00", line=5),
            f("DQ013", "eos:1", "Heure fin", "12:00", line=6),
            f("DQ013", "eos:1", "Heure fin", "12:00", line=9),
            f("DQ019", None, "action/@sessions-envisagees", "2", file="sam_offre_20261119.xml"),
        ]
    )
    keys = list(identity(rows))
    assert len(set(keys)) == 4
    assert keys[0] == "DQ013|eos:1|Heure fin|v=11:00" and keys[2] == "DQ013|eos:1|Heure fin|v=12:00|#2"
    assert keys[3] == "DQ019|fichier:sam_offre.xml|action/@sessions-envisagees|v=2"


def test_two_days_new_open_resolved():
    day1 = findings_frame(
        [
            f("DQ009", "eos:1", "Tél. contact", "02 99"),
            f("DQ021", "eos:2", "Etat recrutement", "Fermé", severity="warning"),
            f("DQ016", "eos:3", "SIRET", "123"),
        ]
    )
    s1 = compute_life(day1, S, D1)
    assert set(s1["status"]) == {"new"} and set(s1["since_date"].astype(object)) == {D1}
    assert by_key(s1)["DQ009|eos:1|Tél. contact"]["body_key"] == "19300245800019"
    assert by_key(s1)["DQ016|eos:3|SIRET"]["body_key"] == "nom:AFPA"  # no SIRET: the name

    # day 2: eos:1's phone still wrong (another value), eos:2 fixed, eos:3 gone, a new one on eos:2
    s2_sessions = sessions(("eos:1", "GRETA", "19300245800019", "a@greta.fr"), ("eos:2", "GRETA", "19300245800019", ""))
    day2 = findings_frame(
        [
            f("DQ009", "eos:1", "Tél. contact", "02 98", file="eos_sessions_20261120.csv"),
            f("DQ006", "eos:2", "Date fin", "01/01/2027", file="eos_sessions_20261120.csv"),
        ]
    )
    s2 = by_key(compute_life(day2, s2_sessions, D2, s1))
    assert s2["DQ009|eos:1|Tél. contact"]["status"] == "open" and s2["DQ009|eos:1|Tél. contact"]["since_date"] == D1
    assert s2["DQ009|eos:1|Tél. contact"]["value"] == "02 98"  # today's details
    assert s2["DQ006|eos:2|Date fin"]["status"] == "new" and s2["DQ006|eos:2|Date fin"]["since_date"] == D2
    fixed, gone = s2["DQ021|eos:2|Etat recrutement"], s2["DQ016|eos:3|SIRET"]
    assert (fixed["status"], fixed["resolution"]) == ("resolved", "fixed")
    assert (gone["status"], gone["resolution"]) == ("resolved", "gone")
    assert gone["body_key"] == "nom:AFPA" and gone["since_date"] == D1

    # day 3 (8 days later): still open, more than 7 days -> old; the resolved ones are not carried again
    s3 = compute_life(day2, s2_sessions, D3, pd.DataFrame(list(s2.values())))
    assert life_counts(s3) == {"new": 0, "open": 2, "resolved": 0, "old": 2}  # 9 and 8 days
    row = by_key(s3)["DQ009|eos:1|Tél. contact"]
    assert row["days_open"] == 9 and row["old"]


def test_reappearing_finding_is_new_again():
    day1 = findings_frame([f("DQ009", "eos:1", "Tél. contact", "02 99")])
    s1 = compute_life(day1, S, D1)
    s2 = compute_life(findings_frame([]), S, D2, s1)
    assert list(s2["status"]) == ["resolved"]
    s3 = compute_life(day1, S, D3, s2)
    assert list(s3["status"]) == ["new"] and list(s3["since_date"].astype(object)) == [D3]


def test_file_finding_of_an_extract_not_read_today_is_gone():
    day1 = findings_frame([f("DQ000", None, "Colonne X", None, file="eos_sessions_20261119.csv", line=1)])
    s1 = compute_life(day1, S, D1)
    read = ["eos_sessions_20261120.csv", "sigma_actions_20261120.xlsx"]
    assert list(compute_life(findings_frame([]), S, D2, s1, files_read=read)["resolution"]) == ["fixed"]
    assert list(compute_life(findings_frame([]), S, D2, s1, files_read=read[1:])["resolution"]) == ["gone"]


def test_vanished_session_keeps_its_body_from_the_store_version():
    stored = pd.DataFrame(
        [
            {
                "session_key": "eos:9",
                "organisme_formateur": "CFA",
                "siret_formateur": "35600000000048",
                "contact_email": "x@cfa.fr",
            }
        ]
    )
    day = findings_frame([f("DQ022", "eos:9", "Identifiant EOS", None, severity="warning")])
    assert compute_life(day, S, D2, stored_sessions=stored)["body_key"].tolist() == ["35600000000048"]
    assert compute_life(day, S, D2)["body_key"].tolist() == [""]


def test_one_siret_one_name_the_most_used():
    s = sessions(
        ("eos:1", "GRETA VIVA", "19300245800019", ""),
        ("eos:2", "GRETA VIVA 5", "19300245800019", ""),
        ("eos:3", "GRETA VIVA 5", "19300245800019", ""),
    )
    day = findings_frame([f("DQ009", "eos:1", "Tél. contact", "1")])
    assert compute_life(day, s, D1)["body_name"].tolist() == ["GRETA VIVA 5"]


def test_store_round_trip_rerun_and_previous_date(store):
    day1 = findings_frame([f("DQ009", "eos:1", "Tél. contact", "02 99"), f("DQ016", "eos:3", "SIRET", "123")])
    s1 = compute_life(day1, S, D1)
    store.begin_run("r1", D1)
    assert record_finding_states(store, "r1", D1, s1) == 2
    assert previous_check_date(store, D2) is None  # the run is not finished yet
    store.finish_run("r1", "succeeded", {})
    assert previous_check_date(store, D2) == D1 and previous_check_date(store, D1) is None
    back = finding_states(store, D1)
    assert sorted(back["finding_key"]) == sorted(s1["finding_key"])
    assert back.set_index("finding_key").loc["DQ009|eos:1|Tél. contact", "value"] == "02 99"
    assert len(finding_states(store, D1, body_key="nom:AFPA")) == 1

    s2 = compute_life(findings_frame([f("DQ009", "eos:1", "Tél. contact", "02 98")]), S, D2, back)
    store.begin_run("r2", D2)
    record_finding_states(store, "r2", D2, s2)
    store.begin_run("r2bis", D2)  # a re-run of the same date replaces its rows
    record_finding_states(store, "r2bis", D2, s2)
    again = finding_states(store, D2)
    assert len(again) == 2 and set(again["status"]) == {"open", "resolved"}
    assert [h["status"] for h in finding_history(store, "DQ009|eos:1|Tél. contact")] == ["new", "open"]
    assert [h["since_date"] for h in finding_history(store, "DQ009|eos:1|Tél. contact")] == [D1, D1]


def test_store_refuses_duplicate_keys(store):
    s1 = compute_life(findings_frame([f("DQ009", "eos:1", "Tél. contact", "02 99")]), S, D1)
    store.begin_run("r1", D1)
    with pytest.raises(ValueError, match="twice"):
        record_finding_states(store, "r1", D1, pd.concat([s1, s1]))


def test_last_published_sessions_without_publication(store):
    out = last_published_sessions(store, D2, ["eos:1"])
    assert list(out.columns)[:3] == ["session_key", "organisme_formateur", "siret_formateur"] and not len(out)


def test_bodies_of_a_filtered_sessions_table_keep_their_rows():
    """The sessions table of a run is a slice (not a 0..n-1 index): each session keeps its body."""
    big = sessions(*[(f"eos:{i}", f"Body {i}", f"{i:014d}", f"b{i}@x.fr") for i in range(30)])
    sliced = big.iloc[::-1].iloc[3:]  # index 26, 25, ... 0
    day = findings_frame([f("DQ009", "eos:5", "Tél.", "1"), f("DQ009", "eos:20", "Tél.", "1")])
    rows = by_key(compute_life(day, sliced, D1))
    assert rows["DQ009|eos:5|Tél."]["body_key"] == f"{5:014d}" and rows["DQ009|eos:5|Tél."]["body_name"] == "Body 5"
    assert rows["DQ009|eos:20|Tél."]["body_key"] == f"{20:014d}"


def test_one_siret_several_names_listed():
    s = sessions(
        ("eos:1", "NUMERIQUE SUD / SIMPLON", "52098765200010", ""),
        ("eos:2", "NUMERIQUE SUD", "52098765200010", ""),
        ("eos:3", "NUMERIQUE SUD", "52098765200010", ""),
    )
    life = compute_life(findings_frame([f("DQ009", "eos:1", "Tél.", "1")]), s, D1)
    assert life["body_name"].tolist() == ["NUMERIQUE SUD"]
    assert life["body_names"].tolist()[0].split("\x1f") == ["NUMERIQUE SUD", "NUMERIQUE SUD / SIMPLON"]
