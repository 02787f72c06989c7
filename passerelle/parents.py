"""Findings on parent records reach the sessions under them (rules.md, parent records).

A finding without a session key that sits on the line of a *parent* record (a formation, an
action of its own, or a parent element named by a reader in ``ExtractRead.parent_lines``, such
as an XML ``<marche>`` or ``<lot>``) applies to every session under that parent: for each
``error`` finding there, each session under the parent gets its own row, with the same rule and
severity, its own session key, file and line, the parent finding's field and value, and a French
message naming the parent and where it is (« L'action 23X00003_QP_2 est en erreur (DQ002, feuille
Actions ligne 4) … »). The parent's finding stays one row. Those session rows are ordinary error
findings: ``publishable.classify`` keeps the sessions out of today's feeds (their last good
version stays published), the report groups them under the parent (same rule and message).

Only errors reach the sessions: the spec's rows are for "each session it keeps out of the
feeds"; a warning on a parent stays one row on the parent.

Nothing here knows a source: the relation comes from the canonical keys (session →
``action_key`` → ``formation_key``) and the lineage columns (file, sheet, line). A line that is
also a session's row (EOS actions are derived from their first session row) is a session
finding without a key, not a parent's.
"""

from __future__ import annotations

import re

import pandas as pd

from passerelle.findings import concat_findings, findings_frame

# the head of the message of a session row given by a parent's error (see session_findings)
PARENT_MESSAGE = re.compile(r"^(?P<parent>.+?) est en erreur \((?P<rule>DQ\d{3}), (?P<where>[^)]*)\) : ")

PARENT_COLUMNS = ["file", "sheet", "line", "kind", "parent_key", "label"]


def _text(s: pd.Series) -> pd.Series:
    return s.astype("string")


def _formation_labels(formations: pd.DataFrame) -> pd.Series:
    """French name of each formation: « l'action N (dossier D, lot L) », « l'action N », or its key."""
    number = _text(formations["action_number"]).str.strip()
    dossier = _text(formations["dossier"]).str.strip()
    lot = _text(formations["lot"]).str.strip()
    named = "l'action " + number
    with_dossier = named + " (dossier " + dossier + ", lot " + lot.fillna("?") + ")"
    out = with_dossier.where(dossier.fillna("").str.len() > 0, named)
    return out.where(number.fillna("").str.len() > 0, "la formation " + _text(formations["formation_key"]))


def _action_labels(actions: pd.DataFrame, formations: pd.DataFrame) -> pd.Series:
    """French name of each action: « la composante 01 de l'action X » when it has a number, else its key."""
    number = _text(actions["composante_number"]).str.strip()
    ref = formations.drop_duplicates("formation_key").set_index("formation_key")["action_number"]
    parent = pd.Series(ref.reindex(actions["formation_key"].to_numpy()).to_numpy(), index=actions.index, dtype="string")
    parent = parent.fillna(_text(actions["formation_key"]))
    named = "la composante " + number + " de l'action " + parent
    return named.where(number.fillna("").str.len() > 0, "l'action " + _text(actions["action_key"]))


def parent_places(
    formations: pd.DataFrame,
    actions: pd.DataFrame,
    sessions: pd.DataFrame,
    parent_lines: list[pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Every place (file, sheet, line) of a parent record: kind (formation | action), its key
    and French name. Lines that are also session rows are left out."""
    frames = []
    if len(formations):
        frames.append(
            pd.DataFrame(
                {
                    "file": _text(formations["source_file"]),
                    "sheet": _text(formations["source_sheet"]),
                    "line": formations["source_line"].astype("Int64"),
                    "kind": "formation",
                    "parent_key": _text(formations["formation_key"]),
                    "label": _formation_labels(formations),
                }
            )
        )
    if len(actions):
        frames.append(
            pd.DataFrame(
                {
                    "file": _text(actions["source_file"]),
                    "sheet": _text(actions["source_sheet"]),
                    "line": actions["source_line"].astype("Int64"),
                    "kind": "action",
                    "parent_key": _text(actions["action_key"]),
                    "label": _action_labels(actions, formations),
                }
            )
        )
    for extra in parent_lines or []:
        if extra is None or not len(extra):
            continue
        frames.append(
            pd.DataFrame(
                {
                    "file": _text(extra["file"]),
                    "sheet": _text(extra["sheet"]).fillna(""),
                    "line": extra["line"].astype("Int64"),
                    "kind": "formation",
                    "parent_key": _text(extra["formation_key"]),
                    "label": _text(extra["label"]),
                }
            )
        )
    if not frames:
        return pd.DataFrame({c: pd.Series([], dtype="string") for c in PARENT_COLUMNS})
    places = pd.concat(frames, ignore_index=True)
    places = places[places["line"].notna() & places["parent_key"].notna()]
    places = _not_session_rows(places, sessions)
    return places.drop_duplicates(["file", "sheet", "line", "kind", "parent_key"]).reset_index(drop=True)


def _not_session_rows(places: pd.DataFrame, sessions: pd.DataFrame | None) -> pd.DataFrame:
    """``places`` without the lines that are also a session's row. Only the sessions on one of
    those lines are looked at (a million sessions, a few parent lines)."""
    if sessions is None or not len(sessions) or not len(places):
        return places
    on_line = sessions["source_line"].isin(places["line"].dropna().unique()).to_numpy(dtype=bool)
    if not on_line.any():
        return places
    s = sessions[on_line]
    rows = pd.DataFrame(
        {
            "file": _text(s["source_file"]),
            "sheet": _text(s["source_sheet"]),
            "line": s["source_line"].astype("Int64"),
            "_session_row": True,
        }
    ).drop_duplicates()
    places = places.merge(rows, on=["file", "sheet", "line"], how="left")
    return places[places["_session_row"].isna()].drop(columns="_session_row")


def _place_text(file: pd.Series, sheet: pd.Series, line: pd.Series) -> pd.Series:
    """« feuille Actions ligne 4 » (workbooks) or « sam_offre_20261119.xml ligne 12 »."""
    where = ("feuille " + sheet).where(sheet.fillna("").str.len() > 0, file)
    return where + " ligne " + line.astype("string")


def session_findings(
    findings: pd.DataFrame,
    formations: pd.DataFrame,
    actions: pd.DataFrame,
    sessions: pd.DataFrame,
    parent_lines: list[pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """One error row per (error finding on a parent record, session under that parent)."""
    if findings is None or not len(findings) or not len(sessions):
        return findings_frame()
    key = findings["session_key"].astype("string").fillna("")
    errors = findings[
        (findings["severity"] == "error").fillna(False).to_numpy(dtype=bool)
        & (key == "").to_numpy(dtype=bool)
        & findings["line"].notna().to_numpy(dtype=bool)
    ]
    if not len(errors):
        return findings_frame()
    places = parent_places(formations, actions, None, parent_lines)
    if not len(places):
        return findings_frame()
    parent = pd.DataFrame(
        {
            "rule": _text(errors["rule"]),
            "severity": _text(errors["severity"]),
            "field": _text(errors["field"]),
            "value": _text(errors["value"]),
            "file": _text(errors["file"]),
            "sheet": _text(errors["sheet"]).fillna(""),
            "line": errors["line"].astype("Int64"),
        }
    ).drop_duplicates()
    hits = _not_session_rows(parent.merge(places, on=["file", "sheet", "line"], how="inner"), sessions)
    if not len(hits):
        return findings_frame()
    hits["where"] = _place_text(hits["file"], hits["sheet"], hits["line"])
    hits = hits.drop(columns=["file", "sheet", "line"])
    under = []
    for kind, column in (("formation", "formation_key"), ("action", "action_key")):
        h = hits[hits["kind"] == kind]
        if not len(h):
            continue
        s = pd.DataFrame(
            {
                "parent_key": _text(sessions[column]),
                "session_key": _text(sessions["session_key"]),
                "source": _text(sessions["source"]),
                "file": _text(sessions["source_file"]),
                "sheet": _text(sessions["source_sheet"]),
                "line": sessions["source_line"].astype("Int64"),
            }
        )
        under.append(h.merge(s, on="parent_key", how="inner"))
    rows = pd.concat(under, ignore_index=True) if under else pd.DataFrame()
    if not len(rows):
        return findings_frame()
    label = rows["label"].str.slice(0, 1).str.upper() + rows["label"].str.slice(1)
    rows["message"] = (
        label + " est en erreur (" + rows["rule"] + ", " + rows["where"] + ") : cette session n'est "
        "pas publiée tant que ce n'est pas corrigé ; voir le constat sur " + rows["label"] + "."
    )
    rows = rows.drop_duplicates(["session_key", "rule", "field", "value", "message"])
    return concat_findings(
        [
            rows[
                ["rule", "severity", "source", "file", "sheet", "line", "session_key", "field", "value", "message"]
            ].reset_index(drop=True)
        ]
    )


def with_parent_findings(
    findings: pd.DataFrame,
    formations: pd.DataFrame,
    actions: pd.DataFrame,
    sessions: pd.DataFrame,
    parent_lines: list[pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """``findings`` plus the session rows of :func:`session_findings`."""
    extra = session_findings(findings, formations, actions, sessions, parent_lines)
    if not len(extra):
        return findings
    return concat_findings([findings, extra])


def parent_of(message: str) -> dict | None:
    """``{"head", "parent", "rule", "where"}`` when ``message`` is a session row given by an error
    on its parent (« L'action X est en erreur (DQ002, feuille Actions ligne 4) : … »), else None."""
    m = PARENT_MESSAGE.match(message or "")
    if not m:
        return None
    return {"head": m.group(0)[:-3], "parent": m["parent"], "rule": m["rule"], "where": m["where"]}


def group_by_parent(blocks: list[dict], findings_key: str = "findings") -> list[dict]:
    """Session blocks (``{"session_key", "s_title", "s_start", "s_end", findings_key: [...]}``,
    each finding with a ``message``) with the rows a parent's error gave them taken out and shown
    once per parent: a block ``{"kind": "parent", "parent", "rule", "where", "message", "finding",
    "sessions", "count"}`` before the session blocks; a session block left without a finding of its own is
    dropped (the session is listed under its parent)."""
    parents: dict[str, dict] = {}
    kept = []
    for blk in blocks:
        own = []
        for f in blk.get(findings_key, []):
            p = parent_of(str(f.get("message") or ""))
            if p is None or blk.get("kind", "session") != "session":
                own.append(f)
                continue
            group = parents.get(p["head"])
            if group is None:
                group = parents[p["head"]] = {
                    "kind": "parent",
                    **p,
                    "finding": f,
                    "sessions": [],
                    "count": 0,
                    "message": p["head"] + " : les sessions qui en dépendent ne sont pas publiées tant que ce "
                    "n'est pas corrigé (le constat est aussi sur la ligne du parent).",
                }
            group["sessions"].append({k: blk.get(k) for k in ("session_key", "s_title", "s_start", "s_end")})
            group["count"] += 1
        if own:
            kept.append({**blk, findings_key: own})
    return list(parents.values()) + kept
