"""The quality report for Carif staff: one self-contained French HTML page.

This module prepares what the page shows (pandas, column-wise, no loop over findings per
group); the page itself is the Jinja2 template ``templates/report.html.j2`` (autoescape on),
with its CSS and script in ``templates/report.css`` and ``templates/report.js`` inlined (no CDN,
no web font, works offline, prints well). Dates and numbers are French, formatted by Babel
(:mod:`passerelle.report.render`).

What the page shows:

- what changed since the last control first: new findings, still open ones (and those open for
  more than 7 days), those resolved today; then the summary cards and the trend;
- findings grouped by training body (the SIRET of the session's organisme formateur, or its name
  without a SIRET), then by session, each with what to fix, where, and since when it is open
  (« ouvert depuis le 04/11, 12 jours »); file-level findings and findings without a session go
  under « Fichiers et extraits »;
- per training body the counts of new, open and resolved findings, and the ready-to-send
  message (the text of ``quality/messages/<SIRET>.eml``, :mod:`passerelle.report.messages`);
- « Résolus depuis le dernier contrôle »: what was fixed, or left the extracts, since the last
  control;
- filters (training body, rule, severity, age: new / older than 7 days), search, « Tout
  déplier », print.

Template structure: a group (training body) holds *blocks*; a block is a session (its findings)
or a file. The kind of a block selects its macro in ``_blocks.html.j2``, so that a block
« parent » (a SAM marché or SIGMA action with the sessions it blocks) is one more kind there.

The detailed list per training body can be capped (counts stay exact, the full list is
``issues.csv``). The output depends only on the inputs (everything is sorted; no clock).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from passerelle.findings_life import NAMES_SEP, OLD_AFTER_DAYS, compute_life
from passerelle.report.render import d, dm, n, plural, render
from passerelle.rules.registry import BY_ID, RULES
from passerelle.sources.registry import LABELS, read_parts, sessions_read

# Detailed findings listed per training body (counts are always exact). None = no cap.
DISPLAY_CAP = {"error": None, "warning": 500, "info": 200}
RESOLVED_CAP = 500  # resolved findings listed in « Résolus depuis le dernier contrôle »
HISTORY_RUNS = 13  # previous runs shown in the trend

SEVERITIES = ("error", "warning", "info")
SEV_RANK = {"error": 0, "warning": 1, "info": 2}
SEV_LABEL = {"error": "Erreur", "warning": "Avertissement", "info": "Information"}
SEV_LABEL_PLURAL = {"error": "erreurs", "warning": "avertissements", "info": "informations"}
SOURCE_LABEL = LABELS  # .get(source, default): the registry's French labels

FILES_GROUP = "Fichiers et extraits"
UNKNOWN_GROUP = "Organisme non identifié"
STR = pd.StringDtype("pyarrow")


@dataclass
class ReportContext:
    run_date: date
    run_id: str
    findings: pd.DataFrame  # model.FINDINGS columns
    sessions: pd.DataFrame  # model.SESSIONS columns (body, title, dates, contacts of each session_key)
    summary: dict  # {"read": {source: count}, "published", "quarantined", "not_publishable", "cancelled"}
    history: list[dict] = field(default_factory=list)  # previous runs, newest first
    inputs: list[dict] = field(default_factory=list)  # {"file", "source", "rows", "sha256"}
    deliveries_section: str = ""  # HTML of passerelle.delivery.texts.report_section (already escaped)
    # today's finding states (findings_life.compute_life); None: computed with no previous
    # control (every finding new)
    life: pd.DataFrame | None = None
    previous_date: date | None = None  # the control today's is compared with
    messages: dict = field(default_factory=dict)  # body_key -> messages.BodyMessage
    # sessions absent from today's extracts, as last published (store.findings.last_published_sessions):
    # the training body, title and dates of a vanished session (DQ022)
    stored_sessions: pd.DataFrame | None = None


# --- data preparation -------------------------------------------------------------------------


def _text(df: pd.DataFrame, col: str) -> pd.Series:
    if col not in df.columns:
        return pd.Series([""] * len(df), index=df.index, dtype=STR)
    return df[col].astype(STR).fillna("")


def _lookup(s: pd.Series, func) -> pd.Series:
    """``s.map(func)`` computed once per distinct value."""
    codes, uniques = pd.factorize(s.to_numpy(dtype=object))
    table = np.array([func(u) for u in uniques] + [""], dtype=object)
    return pd.Series(table[codes], index=s.index, dtype=object)


def norm_key(s: str) -> str:
    """Sort key for names: case- and accent-insensitive."""
    return unicodedata.normalize("NFD", s).encode("ascii", "ignore").decode().casefold()


def life_of(ctx: ReportContext) -> pd.DataFrame:
    if ctx.life is not None:
        return ctx.life
    return compute_life(ctx.findings, ctx.sessions, ctx.run_date, stored_sessions=ctx.stored_sessions)


def session_details(sessions: pd.DataFrame, keys: set[str]) -> pd.DataFrame:
    """Title and dates of the sessions in ``keys`` (first row per key, deterministic)."""
    if "session_key" in sessions.columns and len(sessions):
        sessions = sessions[_text(sessions, "session_key").str.strip().isin(keys).to_numpy(dtype=bool)]
    s = pd.DataFrame(
        {
            "session_key": _text(sessions, "session_key").str.strip(),
            "s_title": _text(sessions, "title").str.strip(),
            "s_start": pd.Series(
                sessions["start_date"].astype(object).to_numpy()
                if "start_date" in sessions.columns
                else [None] * len(sessions),
                index=sessions.index,
                dtype=object,
            ),
            "s_end": pd.Series(
                sessions["end_date"].astype(object).to_numpy()
                if "end_date" in sessions.columns
                else [None] * len(sessions),
                index=sessions.index,
                dtype=object,
            ),
        }
    )
    s["s_start"] = _lookup(s["s_start"], d)
    s["s_end"] = _lookup(s["s_end"], d)
    s = s[s["session_key"] != ""].sort_values(["session_key", "s_title", "s_start", "s_end"], kind="mergesort")
    return s.drop_duplicates("session_key", keep="first")


def prepare(
    life: pd.DataFrame, sessions: pd.DataFrame, run_date: date, stored: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Finding states with their group (training body / file), session details, display text and
    sort keys, in display order."""
    f = pd.DataFrame(index=pd.RangeIndex(len(life)))
    life = life.reset_index(drop=True)
    for col in (
        "finding_key",
        "status",
        "resolution",
        "rule",
        "severity",
        "source",
        "file",
        "sheet",
        "session_key",
        "field",
        "value",
        "message",
        "body_key",
        "body_name",
        "body_names",
    ):
        f[col] = _text(life, col).str.strip() if col not in ("value", "message") else _text(life, col)
    line = pd.to_numeric(life["line"], errors="coerce") if "line" in life.columns else pd.Series(np.nan, index=f.index)
    f["line_num"] = line.astype("float64").to_numpy()
    sev = f["severity"].str.lower()
    f["sev"] = sev.where(sev.isin(SEVERITIES), "info")
    f["sev_rank"] = f["sev"].map(SEV_RANK).astype("int64")
    since = (
        pd.to_datetime(life["since_date"].astype(object), errors="coerce")
        if "since_date" in life.columns
        else pd.Series(pd.NaT, index=f.index)
    )
    f["since"] = _lookup(pd.Series(since.dt.date.to_numpy(dtype=object), index=f.index), lambda v: dm(v, run_date.year))
    f["since_full"] = _lookup(pd.Series(since.dt.date.to_numpy(dtype=object), index=f.index), d)
    f["days"] = (pd.Timestamp(run_date) - since).dt.days.fillna(0).astype("int64").to_numpy()
    f["old"] = (f["status"] != "resolved") & (f["days"] > OLD_AFTER_DAYS)

    wanted = set(f["session_key"]) - {""}
    s = session_details(sessions, wanted)
    known = set(s["session_key"])
    if stored is not None and len(stored):
        s = pd.concat([s, session_details(stored, wanted - known)], ignore_index=True)
    f = f.merge(s, how="left", on="session_key", sort=False)
    for col in ("s_title", "s_start", "s_end"):
        f[col] = f[col].astype(STR).fillna("")
    f["known"] = f["session_key"].isin(known)

    has_key = f["session_key"] != ""
    body = f["body_key"].where(f["body_key"] != "", "")
    f["group"] = body.where(body != "", "\x01" + UNKNOWN_GROUP).where(has_key, "\x00" + FILES_GROUP)
    f["group_name"] = f["body_name"].where(f["body_name"] != "", UNKNOWN_GROUP).where(has_key, FILES_GROUP)
    f["sub"] = f["session_key"].where(has_key, "\x00" + f["file"])
    return f


def group_order(f: pd.DataFrame) -> list[tuple[str, str]]:
    """(group key, display name) in display order: files first, bodies by name, unknown last."""
    pairs = f[["group", "group_name"]].drop_duplicates("group")
    items = list(pairs.itertuples(index=False, name=None))
    files = [p for p in items if p[0].startswith("\x00")]
    unknown = [p for p in items if p[0].startswith("\x01")]
    bodies = sorted((p for p in items if p[0][:1] not in ("\x00", "\x01")), key=lambda p: (norm_key(p[1]), p[1], p[0]))
    return files + bodies + unknown


def sort_for_display(f: pd.DataFrame, order: list[tuple[str, str]]) -> pd.DataFrame:
    gidx = {g: i for i, (g, _) in enumerate(order)}
    f = f.assign(
        gidx=f["group"].map(gidx).astype("int64"),
        line_sort=f["line_num"].fillna(-1.0),
        # sessions with an error first, then those with a warning, then the rest
        sub_rank=f.groupby("sub")["sev_rank"].transform("min"),
    )
    keys = ["gidx", "sub_rank", "sub", "sev_rank", "rule", "file", "sheet", "line_sort", "field", "value", "message"]
    return f.sort_values(keys, kind="mergesort").reset_index(drop=True)


def where_parts(k: pd.DataFrame) -> pd.DataFrame:
    """Display columns shared by the page and the messages: rule title, fix, line text, short value."""
    out = pd.DataFrame(index=k.index)
    out["title"] = _lookup(k["rule"], lambda r: BY_ID[r].title if r in BY_ID else "Règle inconnue")
    out["fix"] = _lookup(k["rule"], lambda r: BY_ID[r].fix if r in BY_ID else "")
    line = k["line_num"]
    out["line"] = line.fillna(0).astype("int64").astype(str).where(line.notna(), "")
    value = k["value"]
    out["value"] = value.where(value.str.len() <= 300, value.str.slice(0, 300) + "…")
    return out


# --- view model -------------------------------------------------------------------------------


def _records(df: pd.DataFrame, cols: list[str]) -> list[dict]:
    return df[cols].to_dict("records") if len(df) else []


def _summary_view(ctx: ReportContext, counts: dict[str, int], life: dict[str, int]) -> dict:
    summ = ctx.summary or {}
    read = summ.get("read") or {}
    prev = ctx.history[0] if ctx.history else None
    prev_s = (prev or {}).get("summary") or {}
    prev_read = prev_s.get("read") or {}
    prev_f = prev_s.get("findings") or {}

    def delta(cur: int, before: Any, bad_when_up: bool | None) -> dict | None:
        if before is None or prev is None:
            return None
        diff = int(cur) - int(before)
        tone = "flat" if (diff == 0 or bad_when_up is None) else ("bad" if (diff > 0) == bad_when_up else "good")
        return {"diff": diff, "abs": abs(diff), "tone": tone}

    total_read = sessions_read(read)
    prev_read_total = sessions_read(prev_read) if prev_read else None
    by_source, offers = read_parts(read)
    cards = [
        {
            "label": "Sessions lues",
            "value": total_read,
            "cls": "",
            "kind": "read",
            "sessions": by_source,
            "offers": offers,
            "delta": delta(total_read, prev_read_total, None),
        }
    ]
    for key, label, tone, help_ in (
        ("published", "Publiées", None, "diffusées aux partenaires"),
        ("quarantined", "En quarantaine", True, "non publiées ce jour : erreur à corriger ou ligne illisible"),
        ("not_publishable", "Non publiables", True, "pas encore finalisées ou transmises"),
        ("cancelled", "Annulées", None, "publiées comme annulées"),
    ):
        cur = int(summ.get(key, 0) or 0)
        cards.append(
            {
                "label": label,
                "value": cur,
                "cls": "",
                "kind": "plain",
                "help": help_,
                "delta": delta(cur, prev_s.get(key) if prev_s else None, tone),
            }
        )
    sev_cards = []
    for sev, help_ in (
        ("error", "session non publiée ce jour"),
        ("warning", "session publiée, à vérifier"),
        ("info", "pour information"),
    ):
        cur = counts.get(sev, 0)
        sev_cards.append(
            {
                "label": SEV_LABEL_PLURAL[sev].capitalize(),
                "value": cur,
                "cls": f"c-{sev}",
                "kind": "plain",
                "help": help_,
                "delta": delta(cur, prev_f.get(sev) if prev_f else None, sev != "info" or None),
            }
        )
    return {"cards": cards, "sev_cards": sev_cards, "prev_date": prev.get("run_date") if prev else None, "life": life}


def _trend_view(ctx: ReportContext, counts: dict[str, int], life: dict[str, int]) -> dict | None:
    summ = ctx.summary or {}
    rows = [{"run_date": ctx.run_date, "summary": {**summ, "findings": counts, "life": life}, "current": True}]
    for h in (ctx.history or [])[:HISTORY_RUNS]:
        rows.append({"run_date": h.get("run_date"), "summary": h.get("summary") or {}, "current": False})
    if len(rows) == 1:
        return None

    def val(r: dict, key: str) -> int | None:
        s = r["summary"]
        if key == "read":
            return sessions_read(s.get("read") or {})
        if key in SEVERITIES:
            return int((s.get("findings") or {}).get(key, 0) or 0)
        if key in ("new", "resolved"):
            lf = s.get("life")
            return None if not lf else int(lf.get(key, 0) or 0)
        return int(s.get(key, 0) or 0)

    cols = [
        ("read", "Sessions lues", None),
        ("published", "Publiées", None),
        ("quarantined", "Quarantaine", True),
        ("not_publishable", "Non publiables", True),
        ("cancelled", "Annulées", None),
        ("error", "Erreurs", True),
        ("warning", "Avertissements", True),
        ("info", "Infos", None),
        ("new", "Nouveaux", True),
        ("resolved", "Résolus", False),
    ]
    table = []
    for i, r in enumerate(rows):
        cells = []
        for key, _, bad_up in cols:
            v = val(r, key)
            cell: dict[str, Any] = {"value": v, "delta": None}
            if v is not None and i + 1 < len(rows) and key not in ("new", "resolved"):
                before = val(rows[i + 1], key)
                diff = v - before if before is not None else 0
                if diff:
                    tone = "flat" if bad_up is None else ("bad" if (diff > 0) == bad_up else "good")
                    cell["delta"] = {"diff": diff, "abs": abs(diff), "tone": tone}
            cells.append(cell)
        table.append({"run_date": r["run_date"], "current": r["current"], "cells": cells})
    return {"columns": [label for _, label, _ in cols], "rows": table, "chart": _chart(rows)}


def _chart(rows: list[dict]) -> dict:
    """Coordinates of the small SVG: errors and warnings over the runs (oldest on the left)."""
    pts = list(reversed(rows))
    series = {
        sev: [int((r["summary"].get("findings") or {}).get(sev, 0) or 0) for r in pts] for sev in ("error", "warning")
    }
    w, h, left, right, top, bottom = 720, 190, 56, 30, 16, 34
    count = len(pts)
    vmax = max(1, *series["error"], *series["warning"])
    step = (w - left - right) / max(1, count - 1)

    def x(i: int) -> str:
        return f"{left + i * step if count > 1 else (left + w - right) / 2:.1f}"

    def y(v: int) -> str:
        return f"{top + (h - top - bottom) * (1 - v / vmax):.1f}"

    grid = [
        {"y": y(round(vmax * frac)), "ty": f"{float(y(round(vmax * frac))) + 4:.1f}", "v": round(vmax * frac)}
        for frac in (0, 0.5, 1)
    ]
    labels = [
        {"x": x(i), "date": r["run_date"]}
        for i, r in enumerate(pts)
        if count <= 8 or i % max(1, count // 7) == 0 or i == count - 1
    ]
    lines = []
    for sev in ("warning", "error"):
        vals = series[sev]
        lines.append(
            {
                "sev": sev,
                "label": SEV_LABEL_PLURAL[sev],
                "path": " ".join(f"{'M' if i == 0 else 'L'}{x(i)},{y(v)}" for i, v in enumerate(vals)),
                "points": [{"x": x(i), "y": y(v), "v": v, "date": pts[i]["run_date"]} for i, v in enumerate(vals)],
            }
        )
    return {
        "w": w,
        "h": h,
        "left": left,
        "right": right,
        "count": count,
        "grid": grid,
        "labels": labels,
        "lines": lines,
        "label_y": h - 12,
    }


def _resolved_view(res: pd.DataFrame) -> dict:
    total = len(res)
    if not total:
        return {"total": 0, "rows": [], "listed": 0, "fixed": 0, "gone": 0}
    res = res.sort_values(["gidx", "sub", "sev_rank", "rule", "field"], kind="mergesort").head(RESOLVED_CAP)
    w = where_parts(res)
    res = res.assign(title=w["title"], value_short=w["value"])
    rows = _records(
        res,
        [
            "group_name",
            "session_key",
            "s_title",
            "file",
            "sheet",
            "rule",
            "title",
            "field",
            "value_short",
            "sev",
            "since_full",
            "days",
            "resolution",
            "known",
        ],
    )
    return {
        "total": total,
        "rows": rows,
        "listed": len(rows),
        "fixed": int((res["resolution"] == "fixed").sum()),
        "gone": int((res["resolution"] == "gone").sum()),
    }


def build_view(ctx: ReportContext) -> dict:
    """Everything the template prints (plain values; escaping is the template's)."""
    from passerelle.report.messages import body_messages

    life = life_of(ctx)
    f_all = prepare(life, ctx.sessions, ctx.run_date, ctx.stored_sessions)
    order = group_order(f_all)
    f_all = sort_for_display(f_all, order)
    resolved = f_all[f_all["status"] == "resolved"]
    f = f_all[f_all["status"] != "resolved"].reset_index(drop=True)

    counts = {sev: int((f["sev"] == sev).sum()) for sev in SEVERITIES}
    life_counts = {
        "new": int((f["status"] == "new").sum()),
        "open": int((f["status"] == "open").sum()),
        "resolved": len(resolved),
        "old": int(f["old"].sum()),
    }
    rule_counts = f["rule"].value_counts().to_dict()

    # exact counts per group
    n_groups = len(order)
    by_sev = (
        f.groupby(["gidx", "sev"])
        .size()
        .unstack(fill_value=0)
        .reindex(index=range(n_groups), columns=list(SEVERITIES), fill_value=0)
    )
    by_life = (
        f_all.groupby(["gidx", "status"])
        .size()
        .unstack(fill_value=0)
        .reindex(index=range(n_groups), columns=["new", "open", "resolved"], fill_value=0)
    )
    subs = f.groupby("gidx")["sub"].nunique().reindex(range(n_groups), fill_value=0)

    # display cap per group and severity (the frame is sorted, so the first ones are kept)
    rank = f.groupby(["gidx", "sev"]).cumcount()
    keep = pd.Series(True, index=f.index)
    for sev, cap in DISPLAY_CAP.items():
        if cap is not None:
            keep &= ~((f["sev"] == sev) & (rank >= cap))
    k = f[keep].copy()
    listed = (
        k.groupby(["gidx", "sev"])
        .size()
        .unstack(fill_value=0)
        .reindex(index=range(n_groups), columns=list(SEVERITIES), fill_value=0)
    )

    w = where_parts(k)
    k["title"], k["fix"], k["line_txt"], k["value_short"] = w["title"], w["fix"], w["line"], w["value"]
    k["sev_label"] = k["sev"].map(SEV_LABEL).where(k["severity"].str.lower().isin(SEVERITIES), k["severity"])
    k["source_label"] = _lookup(k["source"].str.lower(), lambda s: SOURCE_LABEL.get(s, s))
    k["days_txt"] = _lookup(k["days"], lambda v: plural(v, "jour", "jours"))
    finding_cols = [
        "sev",
        "sev_label",
        "rule",
        "title",
        "message",
        "fix",
        "file",
        "sheet",
        "line_txt",
        "field",
        "value_short",
        "status",
        "since",
        "days_txt",
        "old",
    ]
    head_cols = ["session_key", "file", "source_label", "s_title", "s_start", "s_end", "known"]

    messages = ctx.messages if ctx.messages else body_messages(ctx, f_all)
    # blocks (one per session or file) in display order: k is sorted by group then block
    records = _records(k, finding_cols)
    gids, sub_codes = k["gidx"].to_numpy(), pd.factorize(k["sub"].to_numpy(dtype=object))[0]
    starts = (
        np.flatnonzero(np.r_[True, (gids[1:] != gids[:-1]) | (sub_codes[1:] != sub_codes[:-1])])
        if len(k)
        else np.array([], dtype=int)
    )
    ends = np.r_[starts[1:], len(k)]
    heads = _records(k.iloc[starts], head_cols)
    blocks_of: dict[int, list[dict]] = {}
    for head, a, b in zip(heads, starts.tolist(), ends.tolist()):
        blocks_of.setdefault(int(gids[a]), []).append(
            {"kind": "file" if head["session_key"] == "" else "session", **head, "findings": records[a:b]}
        )

    # the rows an error on a parent record gave its sessions: shown once per parent, with its sessions
    from passerelle.parents import group_by_parent

    blocks_of = {g: group_by_parent(blocks) for g, blocks in blocks_of.items()}
    aliases = f_all[f_all["body_names"] != ""].drop_duplicates("group").set_index("group")["body_names"].to_dict()
    sev_n, life_n = by_sev.to_numpy(dtype=int), by_life.to_numpy(dtype=int)
    listed_n, subs_n = listed.to_numpy(dtype=int), subs.to_numpy(dtype=int)
    groups: list[dict[str, Any]] = []
    for gidx, (gkey, name) in enumerate(order):
        blocks = blocks_of.get(gidx, [])
        kind = "files" if gkey.startswith("\x00") else ("unknown" if gkey.startswith("\x01") else "body")
        e, wn, i = (int(v) for v in sev_n[gidx])
        if e + wn + i == 0 and not blocks:
            continue  # a body whose findings were all resolved today: only in the resolved list
        notes = [
            f"{n(int(listed_n[gidx, j]))} {SEV_LABEL_PLURAL[s]} sur {n(int(sev_n[gidx, j]))}"
            for j, s in enumerate(SEVERITIES)
            if listed_n[gidx, j] < sev_n[gidx, j]
        ]
        groups.append(
            {
                "idx": gidx,
                "name": name,
                "kind": kind,
                "siret": gkey if kind == "body" and not gkey.startswith("nom:") else "",
                "aliases": [a for a in str(aliases.get(gkey, "")).split(NAMES_SEP) if a and a != name]
                if kind == "body"
                else [],
                "counts": {"error": e, "warning": wn, "info": i},
                "total": e + wn + i,
                "life": {s: int(life_n[gidx, j]) for j, s in enumerate(("new", "open", "resolved"))},
                "subs": int(subs_n[gidx]),
                "capnote": ", ".join(notes),
                "blocks": blocks,
                "message": messages.get(gkey) if kind == "body" else None,
            }
        )
    overview = sorted(groups, key=lambda g: (-g["counts"]["error"], -g["counts"]["warning"], g["idx"]))
    shown = {g["idx"] for g in groups}
    resolved_groups = [
        {"idx": gidx, "name": name, "resolved": int(life_n[gidx, 2])}
        for gidx, (gkey, name) in enumerate(order)
        if life_n[gidx, 2] and gidx not in shown
    ]
    return {
        "run_date": ctx.run_date,
        "run_id": ctx.run_id,
        "year": ctx.run_date.year,
        "previous_date": ctx.previous_date,
        "summary": _summary_view(ctx, counts, life_counts),
        "trend": _trend_view(ctx, counts, life_counts),
        "counts": counts,
        "life": life_counts,
        "total": len(f),
        "old_after": OLD_AFTER_DAYS,
        "groups": groups,
        "overview": overview,
        "resolved_only": resolved_groups,
        "resolved": _resolved_view(resolved),
        "inputs": sorted(ctx.inputs or [], key=lambda i: (str(i.get("source") or ""), str(i.get("file") or ""))),
        "source_label": SOURCE_LABEL,
        "rules": [
            {
                "id": r.id,
                "severity": r.severity,
                "label": SEV_LABEL.get(r.severity, r.severity),
                "title": r.title,
                "fix": r.fix,
                "origin": r.origin,
                "count": rule_counts.get(r.id, 0),
            }
            for r in RULES
        ],
        "rule_options": [
            {"id": r, "title": BY_ID[r].title if r in BY_ID else "Règle inconnue", "count": rule_counts[r]}
            for r in sorted(rule_counts)
        ],
        "sev_label": SEV_LABEL,
        "sev_label_plural": SEV_LABEL_PLURAL,
        "severities": SEVERITIES,
        "messages": messages,
        "deliveries_section": Markup(ctx.deliveries_section),  # built by delivery.texts from its own template
        "messages_unsendable": sum(1 for g in groups if g["message"] is not None and not g["message"].recipients),
    }


# --- main entry points ------------------------------------------------------------------------


def build_messages(ctx: ReportContext) -> dict:
    """The message of each training body with open errors or warnings (body_key -> BodyMessage),
    the same the report shows."""
    from passerelle.report.messages import body_messages

    f_all = prepare(life_of(ctx), ctx.sessions, ctx.run_date, ctx.stored_sessions)
    return body_messages(ctx, sort_for_display(f_all, group_order(f_all)))


def render_report(ctx: ReportContext) -> str:
    """The whole report as one HTML string (deterministic for the same inputs)."""
    return render("report.html.j2", **build_view(ctx))


def write_report(ctx: ReportContext | dict, path: Path | str) -> Path:
    """Render and write the report (UTF-8), from its context or its view (:func:`build_view`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(
        render_report(ctx) if isinstance(ctx, ReportContext) else render("report.html.j2", **ctx), encoding="utf-8"
    )
    tmp.replace(path)
    return path
