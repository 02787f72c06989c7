"""The life of findings over the days: identity, new / still open (since when) / resolved.

A finding's identity is **rule + subject + field**, never its message text:

- the subject is the session key when the finding has one; otherwise the file it was found in,
  named without its extract date (``eos_sessions_20261120.csv`` -> ``fichier:eos_sessions.csv``,
  plus ``#<sheet>`` for a workbook), so that a file-level finding found again in the next
  day's extract is the same finding;
- a finding without a session key carries no other record key, so its value is part of its
  identity (the SAM marché « M261550 » fixed to « M2615501 » is one finding resolved, and no
  new one);
- when one day has several findings with the same identity (two events of one session with a
  bad hour in the same field), the value then the line order tell them apart
  (``…|v=<value>``, ``…|#2``).

:func:`compute_life` compares today's findings with the states recorded for the previous run
date (``passerelle.store.findings``) and gives one row per finding of today (``new`` or
``open``, with ``since_date``) plus one row per finding open at the previous run that is not
there any more (``resolved``: ``fixed`` when its session or file is still in today's extracts,
``gone`` when it is not). Vectorised: no loop over findings.

Training body: the SIRET of the session's organisme formateur (``siret_formateur``, spaces
removed); a session without a SIRET is grouped by the body's name. Messages to training bodies
are addressed to the ``contact_email`` of that body's sessions (see ``passerelle.report.messages``).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

LIFE_STATUSES = ("new", "open", "resolved")
RESOLUTIONS = ("fixed", "gone")
OLD_AFTER_DAYS = 7  # « anciens (plus de 7 jours) »
NAMES_SEP = "\x1f"  # between the names of one body in ``body_names``

# The columns of a finding state (one row per finding identity and run date), as stored.
STATE_COLUMNS = {
    "finding_key": pa.string(),
    "status": pa.string(),
    "since_date": pa.date32(),
    "resolution": pa.string(),
    "rule": pa.string(),
    "severity": pa.string(),
    "source": pa.string(),
    "file": pa.string(),
    "sheet": pa.string(),
    "line": pa.int32(),
    "session_key": pa.string(),
    "field": pa.string(),
    "value": pa.string(),
    "message": pa.string(),
    "body_key": pa.string(),
    "body_name": pa.string(),
}

STR = pd.StringDtype("pyarrow")
_DATED_NAME = r"_(?:19|20)\d{6}(?=\.[A-Za-z0-9]+$)"  # <source>_<kind>_<YYYYMMDD>.<ext>


def empty_states() -> pd.DataFrame:
    return pa.schema(list(STATE_COLUMNS.items())).empty_table().to_pandas(types_mapper=pd.ArrowDtype)


def _text(df: pd.DataFrame, col: str) -> pd.Series:
    if col not in df.columns:
        return pd.Series([""] * len(df), index=df.index, dtype=STR)
    return df[col].astype(STR).fillna("").str.strip()


def _squeeze(s: pd.Series, by: str) -> pd.Series:
    """Runs of white space replaced by ``by`` (Arrow kernel)."""
    arr = pa.array(s.astype(STR).fillna(""), type=pa.string())
    out = pc.replace_substring_regex(arr, r"\s+", by)
    return pd.Series(pd.array(out, dtype=STR), index=s.index)


def _isin(s: pd.Series, values) -> np.ndarray:
    """``s.isin(values)`` for text columns with an Arrow kernel (pandas loops in Python there)."""
    arr = pa.array(s.astype(STR), type=pa.string())
    value_set = pa.array([str(v) for v in values], type=pa.string())
    return pc.fill_null(pc.is_in(arr, value_set=value_set), False).to_numpy(zero_copy_only=False)


def _body_columns(x: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "session_key": _text(x, "session_key"),
            "body_name": _squeeze(_text(x, "organisme_formateur"), " "),  # one line
            "siret": _squeeze(_text(x, "siret_formateur"), ""),
            "contact_email": _text(x, "contact_email"),
        }
    )


def sessions_of_bodies(sessions: pd.DataFrame, keys) -> pd.DataFrame:
    """The sessions of the training bodies of the sessions ``keys`` (same SIRET, or same name for
    a body without one): what naming a body and addressing its message need, without going over
    the million sessions of a national day."""
    if not len(sessions) or "session_key" not in sessions.columns:
        return sessions
    mask = _isin(sessions["session_key"], keys)
    for col in ("siret_formateur", "organisme_formateur"):
        if col in sessions.columns:
            values = sessions.loc[mask, col].dropna().unique()
            mask = mask | _isin(sessions[col], values)
    return sessions[mask]


def body_keys(sessions: pd.DataFrame, stored: pd.DataFrame | None = None) -> pd.DataFrame:
    """session_key -> body_key (SIRET, or ``nom:<name>`` without one), body_name, body_names,
    contact_email; ``stored``: sessions absent from today's extracts, as last published."""
    s = _body_columns(sessions)
    if stored is not None and len(stored):
        s = pd.concat([s, _body_columns(stored)], ignore_index=True)
    s = s[s["session_key"] != ""]
    named = s["body_name"] != ""
    s["body_key"] = s["siret"].where(s["siret"] != "", ("nom:" + s["body_name"]).where(named, ""))
    s = s.drop_duplicates("session_key", keep="first").reset_index(drop=True)
    # one name per body: the one most of its sessions give (then the first in order); the
    # others are kept in body_names (one SIRET written with several names in the extracts)
    withname = s[(s["body_key"] != "") & (s["body_name"] != "")]
    if len(withname):
        counts = withname.groupby(["body_key", "body_name"]).size().rename("n").reset_index()
        counts = counts.sort_values(["body_key", "n", "body_name"], ascending=[True, False, True], kind="mergesort")
        first = counts.drop_duplicates("body_key").set_index("body_key")["body_name"]
        alias = counts.groupby("body_key", sort=False)["body_name"].agg(NAMES_SEP.join)
        s["body_name"] = s["body_key"].map(first).astype(STR).fillna(s["body_name"])
        s["body_names"] = s["body_key"].map(alias).astype(STR).fillna("")
    else:
        s["body_names"] = ""
    return s


def identity(findings: pd.DataFrame) -> pd.Series:
    """The identity of each finding (index-aligned): ``rule|subject|field`` (see module doc)."""
    f = findings
    rule, key, field, value = _text(f, "rule"), _text(f, "session_key"), _text(f, "field"), _text(f, "value")
    file_kind = _text(f, "file").str.replace(_DATED_NAME, "", regex=True)
    sheet = _text(f, "sheet")
    file_subject = "fichier:" + file_kind + ("#" + sheet).where(sheet != "", "")
    has_key = key != ""
    base = rule + "|" + key.where(has_key, file_subject) + "|" + field
    base = base.where(has_key, base + "|v=" + value)
    dup = base.duplicated(keep=False)
    if dup.any():
        base = base.where(~dup | ~has_key, base + "|v=" + value)
        dup = base.duplicated(keep=False)
        if dup.any():  # same identity and value: tell apart by line order
            line = pd.to_numeric(f["line"], errors="coerce").fillna(-1) if "line" in f.columns else 0
            order = pd.DataFrame({"b": base, "l": line}).sort_values(["b", "l"], kind="mergesort")
            nth = order.groupby("b").cumcount().reindex(base.index)
            base = base.where(nth == 0, base + "|#" + (nth + 1).astype(str))
    return base.astype(STR)


def compute_life(
    findings: pd.DataFrame,
    sessions: pd.DataFrame,
    run_date: date,
    previous: pd.DataFrame | None = None,
    files_read: list[str] | None = None,
    stored_sessions: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Today's finding states (``STATE_COLUMNS`` plus ``days_open``, ``old``), from today's
    ``findings`` (model.FINDINGS), today's ``sessions`` (for the training body) and the states
    recorded at the previous run date (``previous``, None or empty on a first run).
    ``stored_sessions``: the last published version of sessions absent today (their body).

    ``files_read``: the extract files read today: a resolved file-level finding is ``fixed`` when
    its file (whatever its date) was read today, ``gone`` when not; a resolved session finding is
    ``fixed`` when its session is in ``sessions``.
    """
    findings = findings.reset_index(drop=True)
    n = len(findings)
    today = pd.DataFrame(
        {
            c: _text(findings, c)
            for c in ("rule", "severity", "source", "file", "sheet", "session_key", "field", "value", "message")
        }
    )
    today["line"] = (
        pd.to_numeric(findings["line"], errors="coerce")
        if "line" in findings.columns
        else pd.Series(np.nan, index=today.index)
    ).astype("Int32")
    today["finding_key"] = identity(findings) if n else pd.Series([], dtype=STR)
    # findings with the very same identity and value (a rule reporting twice): one state
    today = today.drop_duplicates("finding_key", keep="first")

    prev = previous if previous is not None and len(previous) else empty_states()
    bodies = body_keys(
        sessions_of_bodies(sessions, set(today["session_key"]) | set(_text(prev, "session_key"))), stored_sessions
    )
    today = today.merge(bodies[["session_key", "body_key", "body_name"]], on="session_key", how="left")
    prev_open = prev[prev["status"].astype(str).isin(["new", "open"])]
    prev_idx = prev_open.drop_duplicates("finding_key").set_index(prev_open["finding_key"].astype(str).to_numpy())
    keys = today["finding_key"].astype(str).to_numpy()
    seen = _isin(today["finding_key"], prev_idx.index)

    # a session that left today's extracts (DQ022) keeps the body it had
    for col in ("body_key", "body_name"):
        mine = today[col].astype(STR).fillna("")
        carried = (
            pd.Series(prev_idx[col].reindex(keys).to_numpy(dtype=object), index=today.index, dtype=STR).fillna("")
            if len(prev_idx)
            else pd.Series("", index=today.index, dtype=STR)
        )
        today[col] = mine.where(mine != "", carried)

    today["status"] = np.where(seen, "open", "new")
    since_prev = (
        pd.to_datetime(prev_idx["since_date"].astype(object).reindex(keys), errors="coerce").to_numpy()
        if len(prev_idx)
        else np.full(len(today), np.datetime64("NaT"))
    )
    today["since_date"] = pd.to_datetime(np.where(seen, since_prev, np.datetime64(run_date, "ns")))
    today["resolution"] = ""

    # open yesterday, not there today: resolved
    gone_rows = prev_open[~_isin(prev_open["finding_key"], keys)].copy()
    subject = _text(gone_rows, "session_key")
    files = pd.DataFrame({"file": [f for f in (files_read or []) if f]})
    in_sessions = (
        pc.is_in(
            pa.array(subject, type=pa.string()), value_set=pa.array(_text(sessions, "session_key"), type=pa.string())
        ).to_numpy(zero_copy_only=False)
        if len(gone_rows)
        else np.zeros(0, dtype=bool)
    )
    still_there = pd.Series(in_sessions, index=gone_rows.index) & (subject != "")
    still_there |= (subject == "") & identity_subjects(gone_rows).isin(
        set(identity_subjects(files)) if len(files) else set()
    )
    gone_rows["status"] = "resolved"
    gone_rows["resolution"] = np.where(still_there.to_numpy(dtype=bool), "fixed", "gone")
    gone_rows["since_date"] = pd.to_datetime(gone_rows["since_date"].astype(object), errors="coerce")

    cols = list(STATE_COLUMNS)
    out = pd.concat([today[cols], gone_rows[cols]], ignore_index=True) if len(gone_rows) else today[cols]
    out = _typed(out)
    since = pd.to_datetime(out["since_date"].astype(object), errors="coerce")
    out["days_open"] = ((pd.Timestamp(run_date) - since).dt.days).astype("Int64")
    out["old"] = (out["status"] != "resolved") & (out["days_open"] > OLD_AFTER_DAYS)
    # every name today's extracts give the body (not stored: the report shows them)
    names = bodies.drop_duplicates("body_key").set_index("body_key")["body_names"] if len(bodies) else None
    out["body_names"] = (
        out["body_key"].astype(str).map(names).astype(STR).fillna("")
        if names is not None
        else pd.Series("", index=out.index, dtype=STR)
    )
    return out.sort_values(["status", "finding_key"], kind="mergesort").reset_index(drop=True)


def identity_subjects(states: pd.DataFrame) -> pd.Series:
    """The file subject (``fichier:<file without date>[#sheet]``) of each row."""
    file_kind = _text(states, "file").str.replace(_DATED_NAME, "", regex=True)
    sheet = _text(states, "sheet")
    return "fichier:" + file_kind + ("#" + sheet).where(sheet != "", "")


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=df.index)
    for name, typ in STATE_COLUMNS.items():
        col = df[name]
        if pa.types.is_date32(typ):
            out[name] = pd.to_datetime(col.astype(object), errors="coerce").dt.date.astype(pd.ArrowDtype(typ))
        elif pa.types.is_int32(typ):
            out[name] = pd.to_numeric(col, errors="coerce").astype("Int32").astype(pd.ArrowDtype(typ))
        else:
            out[name] = col.astype(STR).fillna("").astype(pd.ArrowDtype(typ))
    return out


def life_counts(states: pd.DataFrame) -> dict[str, int]:
    """``{"new", "open", "resolved", "old"}`` counts of a day's states."""
    status = states["status"].astype(str) if len(states) else pd.Series([], dtype=str)
    return {
        "new": int((status == "new").sum()),
        "open": int((status == "open").sum()),
        "resolved": int((status == "resolved").sum()),
        "old": int(states["old"].fillna(False).astype(bool).sum()) if "old" in states.columns and len(states) else 0,
    }
