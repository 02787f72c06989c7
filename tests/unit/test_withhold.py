"""DQ024: a record that would make a feed invalid is withheld from that feed alone, the rest is
published, the feed is valid; an error that names no record leaves the feed invalid (the
blocking check fires)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from passerelle.feeds.catalog import produce_feeds
from passerelle.feeds.conformance import SCHEMAS, official_lheo_xsd
from passerelle.feeds.validate import validate_file
from passerelle.feeds.withhold import locate, parse_error
from passerelle.rules.registry import rule
from tests.unit.test_feeds import RUN_DATE, _strict_profile, pub  # noqa: F401  (fixture)


def _keys(path: Path) -> set[str]:
    return set(re.findall(r'<session numero="([^"]+)"', path.read_text(encoding="utf-8")))


def _with_bad_marche(pub, key: str, value: str = "23X00003"):  # noqa: F811
    sessions = pub.sessions.copy()
    at = sessions["session_key"] == key
    assert at.sum() == 1
    sessions.loc[at, "marche_numero"] = value
    return replace(pub, sessions=sessions)


@pytest.mark.parametrize("parallel", [False, True])
def test_a_bad_value_is_withheld_from_the_one_feed_it_breaks(pub, tmp_path, parallel):  # noqa: F811
    key = str(pub.sessions.loc[pub.sessions["source"] == "eos", "session_key"].iloc[0])
    bad = _with_bad_marche(pub, key)
    results = {r.name: r for r in produce_feeds(bad, tmp_path, RUN_DATE, {}, parallel=parallel)}
    pe = results["pole_emploi"]
    assert pe.published and pe.validation_errors == []
    assert pe.withheld_sessions == [key]
    assert not validate_file(tmp_path / pe.path, SCHEMAS / "lheo-pole-emploi-profile.xsd")
    if official_lheo_xsd():
        assert not validate_file(tmp_path / pe.path, official_lheo_xsd())
    assert key not in _keys(tmp_path / pe.path)
    assert _keys(tmp_path / pe.path) == set(pub.sessions["session_key"]) - {key}
    assert pe.records == len(pub.sessions) - 1
    # the other feeds publish it (the Carif profile does not carry the marché number)
    assert key in _keys(tmp_path / results["carif"].path)
    assert key in (tmp_path / results["mission_locale"].path).read_text(encoding="utf-8-sig")
    for name in ("carif", "carif_delta", "mission_locale"):
        assert results[name].withheld_sessions == [] and not (results[name].findings["rule"] == "DQ024").any()
    f = pe.findings[pe.findings["rule"] == "DQ024"]
    assert len(f) == 1
    row = f.iloc[0]
    assert row["severity"] == rule("DQ024").severity == "error"
    assert row["session_key"] == key and row["value"] == "23X00003" and row["field"] == "extra"
    s = pub.sessions.set_index("session_key").loc[key]
    assert (row["file"], int(row["line"])) == (s["source_file"], int(s["source_line"]))
    msg = row["message"]
    for part in (
        "Le flux pole_emploi (pole-emploi/offres-2026-11-19.xml)",
        "notre profil XSD",
        f"la session {key}",
        "élément « extra »",
        "la valeur « 23X00003 »",
        "le validateur indique : Element",
        "retirée de ce flux seulement",
    ):
        assert part in msg, msg


def test_every_bad_record_goes_and_only_those(pub, tmp_path):  # noqa: F811
    keys = list(pub.sessions["session_key"].iloc[:3])
    bad = pub
    for i, k in enumerate(keys):
        bad = _with_bad_marche(bad, k, ["23X00003", "X" * 300, "M12345678"][i])
    results = {r.name: r for r in produce_feeds(bad, tmp_path, RUN_DATE, {}, parallel=False)}
    pe = results["pole_emploi"]
    assert pe.validation_errors == [] and sorted(pe.withheld_sessions) == sorted(keys)
    assert _keys(tmp_path / pe.path) == set(pub.sessions["session_key"]) - set(keys)


def test_an_error_that_names_no_record_stays(pub, tmp_path):  # noqa: F811
    [result] = produce_feeds(pub, tmp_path, RUN_DATE, {}, specs=(_strict_profile(tmp_path),), parallel=False)
    assert result.validation_errors and result.withheld_sessions == []
    assert not (result.findings["rule"] == "DQ024").any()


def test_parse_and_locate(tmp_path):
    e = parse_error(
        "LHEO 2.3 officiel : line 12: Element '{http://lheo.gouv.fr/2.3}code-postal': [facet 'pattern'] "
        "The value '1234' is not accepted by the pattern '[0-9]{5}'."
    )
    assert e == {
        "line": 12,
        "official": True,
        "element": "code-postal",
        "value": "1234",
        "message": "Element '{http://lheo.gouv.fr/2.3}code-postal': [facet 'pattern'] The value '1234' is "
        "not accepted by the pattern '[0-9]{5}'.",
    }
    e = parse_error(
        "line 3: Element '{http://lheo.gouv.fr/2.3}session', attribute 'numero': 'a b' is not a valid "
        "value of the atomic type 'xs:ID'."
    )
    assert (e["element"], e["value"], e["official"]) == ("session/@numero", "a b", False)
    assert parse_error("... and 4 more errors") is None
    feed = tmp_path / "f.xml"
    feed.write_text(
        "\n".join(
            [
                "<lheo>",
                "<offres>",
                '<formation numero="f:1">',
                "<x/>",
                '<action numero="a&amp;1">',
                "<y/>",
                '<session numero="s:1">',
                "<z/>",
                "</session>",
                "<w/>",
                "</action>",
                "</formation>",
                "</offres>",
                "</lheo>",
            ]
        ),
        encoding="utf-8",
    )
    assert locate(feed, {1, 4, 6, 7, 8, 10, 12, 13}) == {
        4: ("formation", "f:1"),
        6: ("action", "a&1"),
        7: ("session", "s:1"),
        8: ("session", "s:1"),
        10: ("action", "a&1"),
        12: ("formation", "f:1"),
    }


def test_a_value_too_long_for_its_element_is_named_in_the_finding(pub, tmp_path):  # noqa: F811
    key = str(pub.sessions.loc[pub.sessions["source"] == "eos", "session_key"].iloc[0])
    sessions = pub.sessions.copy()
    sessions.loc[sessions["session_key"] == key, "title"] = "T" * 400  # intitule: truncated by the writer
    sessions.loc[sessions["session_key"] == key, "marche_numero"] = "M1" + "2" * 300
    results = {
        r.name: r for r in produce_feeds(replace(pub, sessions=sessions), tmp_path, RUN_DATE, {}, parallel=False)
    }
    f = results["pole_emploi"].findings
    row = f[f["rule"] == "DQ024"].iloc[0]
    assert row["value"] == "M1" + "2" * 300
    assert results["pole_emploi"].validation_errors == []


def test_a_long_event_place_is_cut_by_the_writer_not_withheld(pub, tmp_path):  # noqa: F811
    """Found by the mutation test: an event's street of 2,274 characters made the Carif feeds
    invalid (an ``extra`` holds 255 characters) and only DQ024 caught it; the writer cuts it."""
    events = pub.events.copy()
    assert len(events)
    events.loc[events.index[0], "address_line"] = "x" * 2274
    results = {r.name: r for r in produce_feeds(replace(pub, events=events), tmp_path, RUN_DATE, {}, parallel=False)}
    for name in ("carif", "carif_delta", "pole_emploi"):
        assert results[name].validation_errors == [] and results[name].withheld_sessions == [], name
    text = (tmp_path / results["carif"].path).read_text(encoding="utf-8")
    assert "x" * 200 in text and "x" * 255 not in text
