"""DQ024: a record that would make a feed invalid is kept out of that feed alone.

After a feed is written and validated (our profile, then the official LHEO 2.3 XSD), each
validator error is located in the feed by its line: the innermost ``<session>``, ``<action>``
or ``<formation>`` around it (their ``numero`` is the session, action or formation key). Those
records are withheld from that feed only: one DQ024 error per session kept out (its extract
file and line, the element, the value and the validator's message, in French), the feed is
written again without them and validated again, until it is valid. The rest of the feed is
published; the other feeds are untouched.

Only a faulty feed pays: a valid feed is never read again. The feed-validity check of the
assets stays blocking as the last guard: an error this module cannot place in a record (the
document frame, a writer bug), or errors that name every record of the feed (not one bad value
but the writer or the schema), leave the feed's errors in place and the check fails.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from html import unescape
from pathlib import Path

import pandas as pd

from passerelle.findings import concat_findings, findings_frame

MAX_ROUNDS = 20  # rewrites of one feed; each round withholds every record its errors name
_LINE = re.compile(r"^(?:(?P<official>LHEO 2\.3 officiel) : )?line (?P<line>\d+): (?P<message>.*)$", re.S)
_ELEMENT = re.compile(r"Element '(?:\{[^}]*\})?(?P<name>[^']+)'(?:, attribute '(?P<attr>[^']+)')?")
_VALUE = re.compile(r"[Tt]he value '(?P<value>.*?)'(?: is not| has)|: '(?P<value2>.*?)' is not a valid value", re.S)
_OPEN = re.compile(rb"<(formation|action|session)[\s>]")
_CLOSE = re.compile(rb"</(formation|action|session)>")
_NUMERO = re.compile(rb'\snumero="([^"]*)"')
KIND_FR = {"formation": "la formation", "action": "l'action", "session": "la session"}


def parse_error(error: str) -> dict | None:
    """``{"line", "message", "official", "element", "value"}`` of one validator error line, or
    None when it names no line."""
    m = _LINE.match(error.strip())
    if not m:
        return None
    message = m["message"].strip()
    el = _ELEMENT.search(message)
    val = _VALUE.search(message)
    element = None
    if el:
        element = el["name"] + (f"/@{el['attr']}" if el["attr"] else "")
    value = None if val is None else (val["value"] if val["value"] is not None else val["value2"])
    return {
        "line": int(m["line"]),
        "message": message,
        "official": bool(m["official"]),
        "element": element,
        "value": value,
    }


def locate(feed: Path, lines: set[int]) -> dict[int, tuple[str, str]]:
    """For each line of ``lines``, the innermost record around it in ``feed``: ``(kind, numero)``
    (kind: formation | action | session). One pass over the file, without parsing it as XML:
    the writers put each record's start and end tags on lines of their own."""
    found: dict[int, tuple[str, str]] = {}
    if not lines:
        return found
    last = max(lines)
    stack: list[tuple[str, str]] = []
    with open(feed, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            opened = _OPEN.search(raw)
            if opened:
                kind = opened.group(1).decode()
                numero = _NUMERO.search(raw)
                stack.append((kind, unescape(numero.group(1).decode("utf-8", "replace")) if numero else ""))
            if number in lines and stack:
                found[number] = stack[-1]
            if (opened and raw.rstrip().endswith(b"/>")) or (_CLOSE.search(raw) and stack):
                stack.pop()
            if number >= last:
                break
    return found


_ELEMENT_TEXT = re.compile(rb">([^<]*)</")


def line_values(feed: Path, lines: set[int]) -> dict[int, str]:
    """The text of the element on each line of ``lines`` (for an error whose message gives no
    value, e.g. a length facet), unescaped and cut to 200 characters."""
    out: dict[int, str] = {}
    if not lines:
        return out
    last = max(lines)
    with open(feed, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if number in lines:
                m = _ELEMENT_TEXT.search(raw)
                if m:
                    text = unescape(m.group(1).decode("utf-8", "replace"))
                    out[number] = text if len(text) <= 200 else text[:199] + "…"
            if number >= last:
                break
    return out


def _sessions_of(pub_sessions: pd.DataFrame, kind: str, numero: str) -> pd.DataFrame:
    column = {"formation": "formation_key", "action": "action_key", "session": "session_key"}[kind]
    return pub_sessions[(pub_sessions[column].astype("string") == numero).fillna(False).to_numpy(dtype=bool)]


def without_sessions(pub, keys: set[str]):
    """A copy of the publication ``pub`` without the sessions ``keys`` (and their events)."""

    def drop(df: pd.DataFrame | None) -> pd.DataFrame | None:
        if df is None or not len(df):
            return df
        return df[~df["session_key"].isin(keys).to_numpy(dtype=bool)].reset_index(drop=True)

    return replace(pub, sessions=drop(pub.sessions), withdrawn=drop(pub.withdrawn), events=drop(pub.events))


def _finding_rows(
    feed_name: str, feed_file: str, sessions: pd.DataFrame, kind: str, numero: str, error: dict
) -> list[dict]:
    from passerelle.rules.registry import rule

    template = rule("DQ024").template("invalid")
    value = error["value"]
    message = template.format(
        feed=feed_name,
        feed_file=feed_file,
        schema="le XSD officiel LHEO 2.3" if error["official"] else "notre profil XSD",
        record=f"{KIND_FR[kind]} {numero}",
        element=error["element"] or "?",
        value_text=f"la valeur « {value} »" if value is not None else "sa valeur",
        detail=error["message"].rstrip(". "),
    )
    rows = []
    for s in sessions.itertuples(index=False):
        rows.append(
            {
                "rule": "DQ024",
                "severity": "error",
                "source": s.source,
                "file": s.source_file,
                "sheet": s.source_sheet or "",
                "line": s.source_line,
                "session_key": s.session_key,
                "field": error["element"],
                "value": value,
                "message": message,
            }
        )
    return rows


def repair(
    spec,
    result,
    pub,
    staging: Path,
    run_date: date,
    previous_count: int | None,
    organisations: pd.DataFrame | None,
    write,
    validate,
):
    """Withhold from the feed of ``result`` the records its validation errors name, rewrite it
    with ``write(spec, pub, staging, run_date, previous_count, organisations)`` and check it again
    with ``validate(path, profile_xsd)``, until it is valid or no error can be placed. Returns
    the new result (its findings: the DQ024 rows, plus whatever the writer added)."""
    findings = [result.findings]
    withheld: set[str] = set()
    current = pub
    for _ in range(MAX_ROUNDS):
        if not result.validation_errors or not result.published:
            break
        errors = [e for e in (parse_error(x) for x in result.validation_errors) if e is not None]
        target = Path(staging) / result.path
        places = locate(target, {e["line"] for e in errors})
        texts = line_values(target, {e["line"] for e in errors if e["value"] is None})
        for e in errors:
            if e["value"] is None and e["line"] in texts:
                e["value"] = texts[e["line"]]
        sessions = current.lheo_sessions if spec.name == "carif_delta" else current.sessions
        rows: list[dict] = []
        keys: set[str] = set()
        for e in errors:
            place = places.get(e["line"])
            if place is None:
                continue
            under = _sessions_of(sessions, *place)
            under = under[~under["session_key"].isin(keys).to_numpy(dtype=bool)]
            if not len(under):
                continue
            keys |= set(under["session_key"].astype(str))
            rows += _finding_rows(spec.name, result.path, under, place[0], place[1], e)
        if not keys:
            break  # nothing to withhold: the errors stay, the blocking check fires
        if keys >= set(sessions["session_key"].astype(str)):
            break  # every record is named: not one bad value but the writer or the schema; the check fires
        withheld |= keys
        findings.append(findings_frame(rows))
        current = without_sessions(current, keys)
        new = write(spec, current, staging, run_date, previous_count, organisations)
        if new.published:
            new.validation_errors, new.validation_seconds = validate(str(Path(staging) / new.path), spec.profile_xsd)
        new.write_seconds += result.write_seconds
        new.validation_seconds += result.validation_seconds
        result = new
    result.findings = concat_findings([f for f in findings if f is not None] + [result.findings])
    result.findings = result.findings.drop_duplicates().reset_index(drop=True)
    result.withheld_sessions = sorted(withheld)
    return result
