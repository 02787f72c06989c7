"""The quality report for Carif staff: one self-contained French HTML page.

Inline CSS and one inline script (no CDN, no web font, works offline, prints well). Findings
are grouped by training body (the ``organisme_formateur`` of their session), then by session;
file-level findings and findings without a session go under « Fichiers et extraits ». Each
training body gets a ready-to-send, politely worded message listing its errors and warnings.
The rules legend is generated from the rule registry.

Every piece of source text is escaped (``html.escape(..., quote=True)`` semantics, vectorised
column-wise). The page is built column-wise with pandas (no loop over findings per group) and
joined once, so 50k findings render in about a second; the detailed list per training body can
be capped (counts stay exact, the full list is ``issues.csv``). The output depends only on the
inputs (everything is sorted; no clock).
"""

from __future__ import annotations

import html
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from passerelle.rules.registry import BY_ID, RULES

# Detailed findings listed per training body (counts are always exact). None = no cap.
DISPLAY_CAP = {"error": None, "warning": 500, "info": 200}
MAIL_CAP = 300  # points listed in the ready-to-send message of one training body
HISTORY_RUNS = 13  # previous runs shown in the trend

SEVERITIES = ("error", "warning", "info")
SEV_RANK = {"error": 0, "warning": 1, "info": 2}
SEV_LABEL = {"error": "Erreur", "warning": "Avertissement", "info": "Information"}
SEV_LABEL_PLURAL = {"error": "erreurs", "warning": "avertissements", "info": "informations"}
SOURCE_LABEL = {"eos": "EOS", "sigma": "SIGMA", "sam": "SAM"}

FILES_GROUP = "Fichiers et extraits"
UNKNOWN_GROUP = "Organisme non identifié"

MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
          "octobre", "novembre", "décembre")
DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


@dataclass
class ReportContext:
    run_date: date
    run_id: str
    findings: pd.DataFrame  # model.FINDINGS columns
    sessions: pd.DataFrame  # model.SESSIONS columns (body, title, dates of each session_key)
    summary: dict  # {"read": {"eos", "sigma", "sam"}, "published", "quarantined", "not_publishable", "cancelled"}
    history: list[dict] = field(default_factory=list)  # previous runs, newest first
    inputs: list[dict] = field(default_factory=list)  # {"file", "source", "rows", "sha256"}
    deliveries_section: str = ""  # HTML of passerelle.delivery.texts.report_section (already escaped)


# --- small helpers ----------------------------------------------------------------------------

def esc(value: object) -> str:
    """HTML-escape any value (None -> "")."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return html.escape(str(value), quote=True)


def esc_series(s: pd.Series) -> pd.Series:
    """Vectorised ``html.escape(x, quote=True)`` on a Series of str (same replacements, same order)."""
    return (
        s.str.replace("&", "&amp;", regex=False)
        .str.replace("<", "&lt;", regex=False)
        .str.replace(">", "&gt;", regex=False)
        .str.replace('"', "&quot;", regex=False)
        .str.replace("'", "&#x27;", regex=False)
    )


STR = pd.StringDtype("pyarrow")  # Arrow-backed strings: vectorised replace / concatenation


def _str(values, index) -> pd.Series:
    return pd.Series(values, index=index, dtype=STR)


def _text(df: pd.DataFrame, col: str) -> pd.Series:
    """Column ``col`` as Arrow-backed strings, "" for null or when the column is missing."""
    if col not in df.columns:
        return _str([""] * len(df), df.index)
    s = df[col]
    if not (pd.api.types.is_string_dtype(s.dtype)
            or (isinstance(s.dtype, pd.ArrowDtype) and pa.types.is_string(s.dtype.pyarrow_dtype))):
        s = s.astype(object).where(s.notna(), None).map(lambda v: None if v is None else str(v))
    return _str(s.astype(object).where(s.notna(), "").to_numpy(dtype=object), df.index).fillna("")


def _when(cond, value) -> pd.Series:
    """``value`` where ``cond`` holds, else "" (value: a string Series or a literal)."""
    cond = pd.Series(np.asarray(cond, dtype=bool), index=getattr(cond, "index", None))
    if not isinstance(value, pd.Series):
        value = _str([value] * len(cond), cond.index)
    return value.where(cond.to_numpy(), "").astype(STR)


def _lookup(s: pd.Series, func) -> pd.Series:
    """``s.map(func)`` computed once per distinct value (vectorised take)."""
    codes, uniques = pd.factorize(s.to_numpy(dtype=object))
    table = np.array([func(u) for u in uniques] + [""], dtype=object)
    return _str(table[codes], s.index).fillna("")


def _date_text(df: pd.DataFrame, col: str) -> pd.Series:
    """A date column as ``dd/mm/yyyy`` strings ("" for null)."""
    if col not in df.columns or not len(df):
        return _str([""] * len(df), df.index)
    d = pd.to_datetime(df[col].astype(object), errors="coerce")
    out = d.dt.strftime("%d/%m/%Y")
    return _str(out.where(d.notna(), "").to_numpy(dtype=object), df.index).fillna("")


def _fr_date(d: object) -> str:
    if d is None or d == "":
        return ""
    if isinstance(d, str):
        try:
            d = date.fromisoformat(d[:10])
        except ValueError:
            return d
    if isinstance(d, datetime):
        d = d.date()
    return d.strftime("%d/%m/%Y")


def _fr_long_date(d: date) -> str:
    if isinstance(d, str):
        d = date.fromisoformat(d[:10])
    return f"{DAYS[d.weekday()]} {d.day}{'er' if d.day == 1 else ''} {MONTHS[d.month - 1]} {d.year}"


def _n(x: object) -> str:
    """Integer with a French thousands separator (narrow no-break space)."""
    try:
        return f"{int(x):,}".replace(",", "\u202f")
    except (TypeError, ValueError):
        return "–"


def _plural(n: int, one: str, many: str) -> str:
    return f"{_n(n)} {one if n <= 1 else many}"


def _norm_key(s: str) -> str:
    """Sort key for names: case- and accent-insensitive, then exact."""
    base = unicodedata.normalize("NFD", s).encode("ascii", "ignore").decode().casefold()
    return base


# --- data preparation -------------------------------------------------------------------------

def _prepare(findings: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """Findings with their group (training body / file), session info, sort keys, escaped text."""
    f = pd.DataFrame(index=pd.RangeIndex(len(findings)))
    findings = findings.reset_index(drop=True)
    for col in ("rule", "severity", "source", "file", "sheet", "session_key", "field", "value", "message"):
        f[col] = _text(findings, col).str.strip() if col not in ("value", "message") else _text(findings, col)
    line = pd.to_numeric(findings["line"], errors="coerce") if "line" in findings.columns else pd.Series(np.nan, index=f.index)
    f["line_num"] = line.astype("float64").to_numpy()
    f["line_txt"] = _when(f["line_num"].notna(), _str(f["line_num"].fillna(0).astype("int64").astype(str), f.index))
    sev = f["severity"].str.lower()
    f["sev"] = sev.where(sev.isin(SEVERITIES), "info")
    f["sev_rank"] = _lookup(f["sev"], lambda v: str(SEV_RANK[v])).astype("int64")

    # session info (first row per session_key, deterministic), for the sessions with findings
    # only: a national day reads a million sessions, a few percent of them have findings
    keys = set(f["session_key"]) - {""}
    if "session_key" in sessions.columns and len(sessions):
        sessions = sessions[_text(sessions, "session_key").str.strip().isin(keys).to_numpy(dtype=bool)]
    s = pd.DataFrame(
        {
            "session_key": _text(sessions, "session_key").str.strip(),
            "body": _text(sessions, "organisme_formateur").str.strip(),
            "s_title": _text(sessions, "title").str.strip(),
            "s_start": _date_text(sessions, "start_date"),
            "s_end": _date_text(sessions, "end_date"),
            "s_source": _text(sessions, "source").str.strip(),
        }
    )
    s = s[s["session_key"] != ""].sort_values(
        ["session_key", "body", "s_title", "s_start", "s_end"], kind="mergesort"
    ).drop_duplicates("session_key", keep="first")
    f = f.merge(s, how="left", on="session_key", sort=False)
    for col in ("body", "s_title", "s_start", "s_end", "s_source"):
        f[col] = f[col].astype(STR).fillna("")

    has_key = f["session_key"] != ""
    group = f["body"].where(f["body"] != "", UNKNOWN_GROUP).where(has_key, FILES_GROUP)
    f["group"] = group
    # sub-group: the session, or the file for findings without a session
    f["sub"] = f["session_key"].where(has_key, "\x00" + f["file"])
    return f


def _group_order(groups: pd.Series) -> dict[str, int]:
    present = set(groups.unique())
    names = sorted(present - {FILES_GROUP, UNKNOWN_GROUP}, key=lambda x: (_norm_key(x), x))
    order = ([FILES_GROUP] if FILES_GROUP in present else []) + names
    if UNKNOWN_GROUP in present:
        order.append(UNKNOWN_GROUP)
    return {g: i for i, g in enumerate(order)}


def _sorted(f: pd.DataFrame, order: dict[str, int]) -> pd.DataFrame:
    f = f.assign(
        gidx=_lookup(f["group"], lambda g: str(order[g])).astype("int64"),
        line_sort=f["line_num"].fillna(-1.0),
        # sessions with an error first, then those with a warning, then the rest
        sub_rank=f.groupby("sub")["sev_rank"].transform("min"),
    )
    keys = ["gidx", "sub_rank", "sub", "sev_rank", "rule", "file", "sheet", "line_sort", "field", "value", "message"]
    return f.sort_values(keys, kind="mergesort").reset_index(drop=True)


# --- HTML fragments (vectorised) --------------------------------------------------------------

def _finding_html(k: pd.DataFrame) -> pd.Series:
    """One <li> per finding, built column-wise."""
    rule_e = esc_series(k["rule"])
    title_e = esc_series(_lookup(k["rule"], lambda r: BY_ID[r].title if r in BY_ID else "Règle inconnue"))
    fix = _lookup(k["rule"], lambda r: BY_ID[r].fix if r in BY_ID else "")
    fix_html = _when(fix != "", '<p class="fix"><span class="lbl">À corriger :</span> ' + esc_series(fix) + "</p>")
    sev = k["sev"]
    label = _lookup(sev, SEV_LABEL.get).where(k["severity"].str.lower().isin(SEVERITIES), esc_series(k["severity"]))
    value = k["value"]
    value_short = value.where(value.str.len() <= 300, value.str.slice(0, 300) + "…")
    where = (
        '<span class="lbl">Où :</span> fichier <span class="file">' + esc_series(k["file"]) + "</span>"
        + _when(k["sheet"] != "", ", feuille « " + esc_series(k["sheet"]) + " »")
        + _when(k["line_txt"] != "", ", ligne " + k["line_txt"])
        + _when(k["field"] != "", ", champ <span class=\"fld\">" + esc_series(k["field"]) + "</span>")
        + _when(value != "", ", valeur « <span class=\"val\">" + esc_series(value_short) + "</span> »")
    )
    return (
        '<li class="f s-' + sev + '" data-s="' + sev + '" data-r="' + rule_e + '">'
        + '<div class="fh"><span class="badge b-' + sev + '">' + label + "</span> "
        + '<span class="rid">' + rule_e + '</span> <span class="rt">' + title_e + "</span></div>"
        + '<p class="msg">' + esc_series(k["message"]) + "</p>"
        + fix_html
        + '<p class="where">' + where + "</p></li>"
    )


def _sub_header_html(first: pd.DataFrame) -> pd.Series:
    """Header of a session (or file) block, from the first row of each sub-group."""
    is_file = first["session_key"] == ""
    has_start, has_end = first["s_start"] != "", first["s_end"] != ""
    dates = (
        _when(has_start & has_end, "du " + first["s_start"] + " au " + first["s_end"])
        + _when(has_start & ~has_end, "à partir du " + first["s_start"])
        + _when(~has_start & has_end, "jusqu'au " + first["s_end"])
    )
    title = first["s_title"]
    session_h = (
        '<h4><span class="skey">' + esc_series(first["session_key"]) + "</span>"
        + _when(title != "", ' <span class="stitle">' + esc_series(title) + "</span>")
        + _when(dates != "", ' <span class="dates">' + dates + "</span>")
        + _when((title == "") & (first["body"] == ""), ' <span class="dates">session absente des extraits du jour</span>')
        + "</h4>"
    )
    src = _lookup(first["source"].str.lower(), lambda s: SOURCE_LABEL.get(s, s))
    file_h = (
        '<h4><span class="skey">Fichier</span> <span class="stitle">' + esc_series(first["file"]) + "</span>"
        + _when(src != "", ' <span class="dates">' + esc_series(src) + "</span>")
        + "</h4>"
    )
    return session_h.where(~is_file, file_h)


def _mail_lines(k: pd.DataFrame) -> pd.Series:
    """Plain-text line per error/warning for the ready-to-send message."""
    title = _lookup(k["rule"], lambda r: BY_ID[r].title if r in BY_ID else r)
    detail = (
        _when(k["field"] != "", "champ « " + k["field"] + " »")
        + _when((k["field"] != "") & (k["value"] != ""), ", ")
        + _when(k["value"] != "", "valeur « " + k["value"].str.slice(0, 120) + " »")
    )
    return (
        "  - " + _lookup(k["sev"], {"error": "[À corriger] ", "warning": "[À vérifier] "}.get)
        + title + " : " + k["message"]
        + _when(detail != "", " (" + detail + ")")
    )


# --- page sections ----------------------------------------------------------------------------

def _cards(ctx: ReportContext, counts: dict[str, int]) -> str:
    summ = ctx.summary or {}
    read = summ.get("read") or {}
    prev = ctx.history[0] if ctx.history else None
    prev_s = (prev or {}).get("summary") or {}
    prev_read = prev_s.get("read") or {}
    prev_f = prev_s.get("findings") or {}
    prev_label = f"le {_fr_date(prev.get('run_date'))}" if prev else ""
    sessions_read = int(read.get("eos", 0) or 0) + int(read.get("sigma", 0) or 0)
    prev_read_total = (int(prev_read.get("eos", 0) or 0) + int(prev_read.get("sigma", 0) or 0)) if prev_read else None

    def delta(cur: int, before: object, bad_when_up: bool | None) -> str:
        if before is None or prev is None:
            return ""
        d = int(cur) - int(before)
        if d == 0:
            return f'<span class="delta flat">= comme {esc(prev_label)}</span>'
        arrow = "▲" if d > 0 else "▼"
        tone = "flat" if bad_when_up is None else ("bad" if (d > 0) == bad_when_up else "good")
        return f'<span class="delta {tone}">{arrow} {"+" if d > 0 else "−"}{_n(abs(d))} depuis {esc(prev_label)}</span>'

    def card(label: str, value: int, sub: str, extra_cls: str = "") -> str:
        return (
            f'<div class="card {extra_cls}"><div class="clabel">{esc(label)}</div>'
            f'<div class="cvalue">{_n(value)}</div><div class="csub">{sub}</div></div>'
        )

    read_sub = (
        f"EOS {_n(read.get('eos', 0))} · SIGMA {_n(read.get('sigma', 0))}<br>"
        f"SAM : {_plural(int(read.get('sam', 0) or 0), 'formation', 'formations')}<br>"
        + delta(sessions_read, prev_read_total, None)
    )
    out = ['<div class="cards">', card("Sessions lues", sessions_read, read_sub)]
    for key, label, tone, help_ in (
        ("published", "Publiées", None, "diffusées aux partenaires"),
        ("quarantined", "En quarantaine", True, "non publiées ce jour : erreur à corriger ou ligne illisible"),
        ("not_publishable", "Non publiables", True, "pas encore finalisées ou transmises"),
        ("cancelled", "Annulées", None, "publiées comme annulées"),
    ):
        cur = int(summ.get(key, 0) or 0)
        out.append(card(label, cur, esc(help_) + "<br>" + delta(cur, prev_s.get(key) if prev_s else None, tone)))
    out.append("</div><div class=\"cards\">")
    for sev in SEVERITIES:
        cur = counts.get(sev, 0)
        sub = {
            "error": "session non publiée ce jour",
            "warning": "session publiée, à vérifier",
            "info": "pour information",
        }[sev]
        out.append(card(SEV_LABEL_PLURAL[sev].capitalize(), cur,
                        esc(sub) + "<br>" + delta(cur, prev_f.get(sev) if prev_f else None, sev != "info" or None),
                        f"c-{sev}"))
    out.append("</div>")
    return "".join(out)


def _trend(ctx: ReportContext, counts: dict[str, int]) -> str:
    summ = ctx.summary or {}
    rows = [{"run_date": ctx.run_date, "summary": {**summ, "findings": counts}, "current": True}]
    for h in (ctx.history or [])[:HISTORY_RUNS]:
        rows.append({"run_date": h.get("run_date"), "summary": h.get("summary") or {}, "current": False})
    if len(rows) == 1:
        return ('<p class="muted">Premier contrôle enregistré : l\'évolution apparaîtra à partir du '
                "prochain contrôle.</p>")

    def val(r: dict, key: str) -> int:
        s = r["summary"]
        if key == "read":
            rd = s.get("read") or {}
            return int(rd.get("eos", 0) or 0) + int(rd.get("sigma", 0) or 0)
        if key in SEVERITIES:
            return int((s.get("findings") or {}).get(key, 0) or 0)
        return int(s.get(key, 0) or 0)

    cols = [("read", "Sessions lues", None), ("published", "Publiées", None),
            ("quarantined", "Quarantaine", True), ("not_publishable", "Non publiables", True),
            ("cancelled", "Annulées", None), ("error", "Erreurs", True), ("warning", "Avertissements", True),
            ("info", "Infos", None)]
    out = [_chart(rows), '<table class="trend"><caption>Ce contrôle comparé aux précédents '
           "(le plus récent en haut)</caption><thead><tr><th scope=\"col\">Contrôle du</th>"]
    out += [f'<th scope="col" class="num">{esc(label)}</th>' for _, label, _ in cols]
    out.append("</tr></thead><tbody>")
    for i, r in enumerate(rows):
        cls = ' class="current"' if r["current"] else ""
        out.append(f'<tr{cls}><th scope="row">{esc(_fr_date(r["run_date"]))}</th>')
        for key, _, bad_up in cols:
            v = val(r, key)
            cell = _n(v)
            if i + 1 < len(rows):
                d = v - val(rows[i + 1], key)
                if d:
                    tone = "flat" if bad_up is None else ("bad" if (d > 0) == bad_up else "good")
                    cell += (f' <span class="delta {tone}" title="par rapport au contrôle précédent">'
                             f'{"▲" if d > 0 else "▼"}{"+" if d > 0 else "−"}{_n(abs(d))}</span>')
            out.append(f'<td class="num">{cell}</td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _chart(rows: list[dict]) -> str:
    """Small inline SVG: errors and warnings over the runs (oldest on the left)."""
    pts = list(reversed(rows))
    series = {
        sev: [int((r["summary"].get("findings") or {}).get(sev, 0) or 0) for r in pts]
        for sev in ("error", "warning")
    }
    w, h, left, right, top, bottom = 720, 190, 56, 30, 16, 34
    n = len(pts)
    vmax = max(1, *series["error"], *series["warning"])
    step = (w - left - right) / max(1, n - 1)

    def x(i: int) -> float:
        return left + i * step if n > 1 else (left + w - right) / 2

    def y(v: int) -> float:
        return top + (h - top - bottom) * (1 - v / vmax)

    out = [f'<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="Évolution des erreurs et des '
           f'avertissements sur les {n} derniers contrôles" xmlns="http://www.w3.org/2000/svg">']
    for frac in (0, 0.5, 1):
        v = round(vmax * frac)
        out.append(f'<line x1="{left}" x2="{w - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="grid"/>'
                   f'<text x="{left - 6}" y="{y(v) + 4:.1f}" class="axis" text-anchor="end">{_n(v)}</text>')
    for i, r in enumerate(pts):
        if n <= 8 or i % max(1, n // 7) == 0 or i == n - 1:
            out.append(f'<text x="{x(i):.1f}" y="{h - 12}" class="axis" text-anchor="middle">'
                       f'{esc(_fr_date(r["run_date"])[:5])}</text>')
    for sev in ("warning", "error"):
        vals = series[sev]
        path = " ".join(f"{'M' if i == 0 else 'L'}{x(i):.1f},{y(v):.1f}" for i, v in enumerate(vals))
        out.append(f'<path d="{path}" class="line l-{sev}"/>')
        for i, v in enumerate(vals):
            out.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" class="pt l-{sev}">'
                       f'<title>{esc(_fr_date(pts[i]["run_date"]))} : {_n(v)} {SEV_LABEL_PLURAL[sev]}</title></circle>')
    out.append("</svg>")
    out.append('<p class="legend-line"><span class="key k-error"></span> erreurs '
               '<span class="key k-warning"></span> avertissements</p>')
    return "".join(out)


def _inputs_table(inputs: list[dict]) -> str:
    if not inputs:
        return '<p class="muted">Aucun fichier reçu.</p>'
    rows = sorted(inputs, key=lambda d: (str(d.get("source") or ""), str(d.get("file") or "")))
    out = ['<table class="inputs"><thead><tr><th scope="col">Fichier</th><th scope="col">Source</th>'
           '<th scope="col" class="num">Lignes</th><th scope="col">Empreinte (SHA-256)</th></tr></thead><tbody>']
    for d in rows:
        sha = str(d.get("sha256") or "")
        src = str(d.get("source") or "")
        out.append(
            f'<tr><td class="file">{esc(d.get("file"))}</td><td>{esc(SOURCE_LABEL.get(src.lower(), src))}</td>'
            f'<td class="num">{_n(d.get("rows"))}</td><td><code title="{esc(sha)}">{esc(sha[:12])}</code></td></tr>'
        )
    out.append("</tbody></table>")
    return "".join(out)


def _legend(rule_counts: dict[str, int]) -> str:
    out = ['<table class="rules"><thead><tr><th scope="col">Règle</th><th scope="col">Gravité</th>'
           '<th scope="col">Ce qui est vérifié</th><th scope="col">Que faire</th><th scope="col">Origine</th>'
           '<th scope="col" class="num">Ce jour</th></tr></thead><tbody>']
    for r in RULES:
        out.append(
            f'<tr id="rule-{esc(r.id)}"><th scope="row">{esc(r.id)}</th>'
            f'<td><span class="badge b-{esc(r.severity)}">{esc(SEV_LABEL.get(r.severity, r.severity))}</span></td>'
            f"<td>{esc(r.title)}</td><td>{esc(r.fix)}</td><td class=\"muted\">{esc(r.origin)}</td>"
            f'<td class="num">{_n(rule_counts.get(r.id, 0))}</td></tr>'
        )
    out.append("</tbody></table>")
    return "".join(out)


# --- main entry points ------------------------------------------------------------------------

def render_report(ctx: ReportContext) -> str:
    """The whole report as one HTML string (deterministic for the same inputs)."""
    f = _prepare(ctx.findings, ctx.sessions)
    order = _group_order(f["group"])
    f = _sorted(f, order)
    groups = list(order)  # display order

    counts = {sev: int((f["sev"] == sev).sum()) for sev in SEVERITIES}
    rule_counts = f["rule"].value_counts().to_dict()

    # exact counts per group
    by_group_sev = (
        f.groupby(["gidx", "sev"]).size().unstack(fill_value=0).reindex(columns=list(SEVERITIES), fill_value=0)
    )
    subs_per_group = f.groupby("gidx")["sub"].nunique()

    # display cap per group and severity (the frame is sorted, so the first ones are kept)
    rank = f.groupby(["gidx", "sev"]).cumcount()
    keep = pd.Series(True, index=f.index)
    for sev, cap in DISPLAY_CAP.items():
        if cap is not None:
            keep &= ~((f["sev"] == sev) & (rank >= cap))
    k = f[keep].copy()
    listed_by_sev = (
        k.groupby(["gidx", "sev"]).size().unstack(fill_value=0).reindex(columns=list(SEVERITIES), fill_value=0)
    )

    # findings -> session blocks -> group bodies
    k["li"] = _finding_html(k) if len(k) else pd.Series(dtype=object)
    sub_items = k.groupby(["gidx", "sub"], sort=False)["li"].agg("".join)
    head_cols = ["session_key", "file", "source", "body", "s_title", "s_start", "s_end"]
    sub_first = k.groupby(["gidx", "sub"], sort=False)[head_cols].first()
    sub_heads = _sub_header_html(sub_first) if len(sub_first) else pd.Series(dtype=object)
    blocks = ('<div class="sess">' + sub_heads + '<ul class="fl">' + sub_items + "</ul></div>") if len(sub_first) else sub_items
    group_blocks = blocks.groupby(level=0, sort=False).agg("".join) if len(blocks) else pd.Series(dtype=object)

    # ready-to-send text per training body (errors and warnings only)
    mail_src = k[(k["sev"] != "info") & ~k["group"].isin([FILES_GROUP, UNKNOWN_GROUP])]
    mails: dict[int, str] = {}
    if len(mail_src):
        mail_rank = mail_src.groupby("gidx").cumcount()
        m = mail_src[mail_rank < MAIL_CAP].copy()
        m["line"] = _mail_lines(m)
        m_first = m.groupby(["gidx", "sub"], sort=False)[["session_key", "s_title", "s_start", "s_end"]].first()
        m_head = ("Session " + m_first["session_key"]
                  + _when(m_first["s_title"] != "", " – " + m_first["s_title"])
                  + _when((m_first["s_start"] != "") & (m_first["s_end"] != ""),
                          " (du " + m_first["s_start"] + " au " + m_first["s_end"] + ")"))
        m_lines = m.groupby(["gidx", "sub"], sort=False)["line"].agg("\n".join)
        m_blocks = (m_head + "\n" + m_lines).groupby(level=0, sort=False).agg("\n\n".join)
        m_rules = m.groupby("gidx")["rule"].agg(lambda s: sorted(set(s)))
        m_sources = mail_src.groupby("gidx")["source"].agg(lambda s: sorted(set(s)))
        m_sessions = mail_src.groupby("gidx")["sub"].nunique()
        m_listed = m.groupby("gidx").size()
        for gidx, block in m_blocks.items():
            mails[gidx] = _mail_text(
                ctx.run_date, block, int(by_group_sev.loc[gidx, "error"]), int(by_group_sev.loc[gidx, "warning"]),
                int(m_sessions.loc[gidx]), m_rules.loc[gidx], m_sources.loc[gidx],
                int(by_group_sev.loc[gidx, "error"]) + int(by_group_sev.loc[gidx, "warning"]) - int(m_listed.loc[gidx]),
            )

    # --- assemble
    parts: list[str] = [_HEAD.replace("{title}", esc(f"Rapport qualité du {_fr_date(ctx.run_date)}"))]
    parts.append(
        '<header class="top"><p class="kicker">Passerelle · contrôle quotidien de l\'offre de formation</p>'
        f"<h1>Rapport qualité du {esc(_fr_long_date(ctx.run_date))}</h1>"
        f'<p class="meta">Contrôle n° <code>{esc(ctx.run_id)}</code> · extraits du {esc(_fr_date(ctx.run_date))}</p>'
        '<p class="explain"><span class="badge b-error">Erreur</span> la session n\'est pas publiée ce jour '
        "(si elle l'était déjà, les partenaires gardent sa dernière bonne version) · "
        '<span class="badge b-warning">Avertissement</span> la session est publiée mais un point est à vérifier · '
        '<span class="badge b-info">Information</span> pour mémoire.</p></header>'
    )
    parts.append('<main><section class="overview" aria-labelledby="h-synth"><h2 id="h-synth">Synthèse</h2>')
    parts.append(_cards(ctx, counts))
    parts.append('<h3>Évolution</h3>' + _trend(ctx, counts))
    parts.append(_overview_table(groups, by_group_sev, subs_per_group))
    parts.append("<h3>Fichiers reçus</h3>" + _inputs_table(ctx.inputs or []))
    parts.append(ctx.deliveries_section)
    parts.append("</section>")

    parts.append(_filters(groups, by_group_sev, rule_counts, counts))
    parts.append('<section id="constats" aria-labelledby="h-constats"><h2 id="h-constats">Constats par organisme</h2>')
    if not len(f):
        parts.append('<p class="allgood">Aucun constat ce jour : toutes les sessions lues sont conformes.</p>')
    for gidx, name in enumerate(groups):
        parts.append(_group_section(gidx, name, by_group_sev, subs_per_group, group_blocks, mails, listed_by_sev))
    parts.append('<p id="nomatch" class="muted" hidden>Aucun constat ne correspond aux filtres.</p></section>')

    parts.append('<section class="legend" aria-labelledby="h-rules"><h2 id="h-rules">Les règles de contrôle</h2>'
                 '<p class="muted">Liste générée à partir du registre des règles de Passerelle.</p>')
    parts.append(_legend(rule_counts))
    parts.append("</section></main>")
    parts.append(_FOOT)
    return "".join(parts)


def write_report(ctx: ReportContext, path: Path | str) -> Path:
    """Render and write the report (UTF-8)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_report(ctx), encoding="utf-8")
    tmp.replace(path)
    return path


def _mail_text(run_date: date, block: str, n_err: int, n_warn: int, n_sessions: int,
               rules: list[str], sources: list[str], omitted: int) -> str:
    tools = [SOURCE_LABEL.get(s, s) for s in sources if s]
    tool = f"l'outil du financeur ({' / '.join(tools)})" if tools else "l'outil du financeur"
    found = []
    if n_err:
        found.append(_plural(n_err, "erreur", "erreurs"))
    if n_warn:
        found.append(_plural(n_warn, "point à vérifier", "points à vérifier"))
    lines = [
        "Bonjour,",
        "",
        f"Lors du contrôle quotidien du {_fr_date(run_date)} de l'offre de formation saisie dans {tool}, "
        f"nous avons relevé {' et '.join(found)} sur "
        f"{'une de vos sessions' if n_sessions <= 1 else _n(n_sessions) + ' de vos sessions'}.",
    ]
    if n_err:
        lines.append("Les sessions en erreur ne sont pas publiées tant qu'elles ne sont pas corrigées ; "
                     "les points à vérifier n'empêchent pas la publication.")
    lines += ["", block]
    if omitted > 0:
        lines += ["", f"… et {_n(omitted)} autre(s) point(s), que nous pouvons vous transmettre sur demande."]
    lines += ["", f"Merci de corriger ces points dans {tool} :"]
    for rid in rules:
        r = BY_ID.get(rid)
        if r is not None:
            lines.append(f"  - {r.title} : {r.fix}")
    lines += [
        "",
        "Les corrections seront prises en compte lors du prochain contrôle quotidien.",
        "Nous restons à votre disposition pour toute question.",
        "",
        "Bien cordialement,",
        "L'équipe qualité de l'offre de formation du Carif",
    ]
    return "\n".join(lines)


def _overview_table(groups: list[str], by_sev: pd.DataFrame, subs: pd.Series) -> str:
    if not groups:
        return ""
    order = sorted(range(len(groups)),
                   key=lambda i: (-int(by_sev.loc[i, "error"]), -int(by_sev.loc[i, "warning"]), i))
    out = ['<h3>Organismes concernés</h3><table class="orgs"><thead><tr><th scope="col">Organisme</th>'
           '<th scope="col" class="num">Sessions ou fichiers</th><th scope="col" class="num">Erreurs</th>'
           '<th scope="col" class="num">Avertissements</th><th scope="col" class="num">Infos</th></tr></thead><tbody>']
    for i in order:
        e, w, n = (int(by_sev.loc[i, s]) for s in SEVERITIES)
        out.append(
            f'<tr><th scope="row"><a href="#org-{i}">{esc(groups[i])}</a></th><td class="num">{_n(subs.loc[i])}</td>'
            f'<td class="num{" t-error" if e else ""}">{_n(e)}</td><td class="num{" t-warning" if w else ""}">{_n(w)}</td>'
            f'<td class="num">{_n(n)}</td></tr>'
        )
    out.append("</tbody></table>")
    return "".join(out)


def _filters(groups: list[str], by_sev: pd.DataFrame, rule_counts: dict, counts: dict) -> str:
    opts_body = "".join(
        f'<option value="{i}">{esc(g)} ({_n(int(by_sev.loc[i].sum()))})</option>' for i, g in enumerate(groups)
    )
    opts_rule = "".join(
        f'<option value="{esc(r)}">{esc(r)} – {esc(BY_ID[r].title if r in BY_ID else "Règle inconnue")} '
        f"({_n(rule_counts[r])})</option>"
        for r in sorted(rule_counts)
    )
    sev_boxes = "".join(
        f'<label class="chk"><input type="checkbox" name="sev" value="{s}" checked> '
        f'<span class="badge b-{s}">{SEV_LABEL[s]}</span> {_n(counts.get(s, 0))}</label>'
        for s in SEVERITIES
    )
    return (
        '<form class="filters" id="filters" role="search" onsubmit="return false">'
        '<div class="frow f3"><label class="grow">Rechercher <input type="search" id="f-q" placeholder="n° de '
        'session, intitulé, valeur, message…"></label>'
        '<label>Organisme <select id="f-body"><option value="">Tous les organismes</option>'
        f"{opts_body}</select></label>"
        f'<label>Règle <select id="f-rule"><option value="">Toutes les règles</option>{opts_rule}</select></label></div>'
        f'<div class="frow"><fieldset><legend>Gravité</legend>{sev_boxes}</fieldset>'
        '<span class="spacer"></span><span class="btns"><button type="button" id="f-reset">Effacer les filtres</button>'
        '<button type="button" id="f-expand">Tout déplier</button>'
        '<button type="button" id="f-collapse">Tout replier</button></span></div>'
        '<p id="f-count" class="fcount muted" aria-live="polite"></p>'
        '<p class="printonly" id="f-print"></p></form>'
    )


def _group_section(gidx: int, name: str, by_sev: pd.DataFrame, subs: pd.Series, blocks: pd.Series,
                   mails: dict[int, str], listed_by_sev: pd.DataFrame) -> str:
    e, w, n = (int(by_sev.loc[gidx, s]) for s in SEVERITIES)
    is_files = name == FILES_GROUP
    sub_label = _plural(int(subs.loc[gidx]), "fichier", "fichiers") if is_files else \
        _plural(int(subs.loc[gidx]), "session concernée", "sessions concernées")
    badges = "".join(
        f'<span class="count c-{s}">{_plural(c, SEV_LABEL[s].lower(), SEV_LABEL_PLURAL[s])}</span>'
        for s, c in (("error", e), ("warning", w), ("info", n)) if c
    )
    notes = []
    for sev in SEVERITIES:
        total = int(by_sev.loc[gidx, sev])
        listed = int(listed_by_sev.loc[gidx, sev]) if gidx in listed_by_sev.index else 0
        if listed < total:
            notes.append(f"{_n(listed)} {SEV_LABEL_PLURAL[sev]} sur {_n(total)}")
    note = (f'<p class="capnote">Affichage limité : {", ".join(notes)} sont détaillés ici. '
            "La liste complète est dans le fichier <code>issues.csv</code> du même contrôle.</p>") if notes else ""
    intro = ""
    if is_files:
        intro = ('<p class="muted">Problèmes sur les fichiers reçus eux-mêmes ou sur des lignes qui n\'ont pas pu '
                 "être rattachées à une session : à voir avec l'émetteur de l'extrait.</p>")
    elif name == UNKNOWN_GROUP:
        intro = ('<p class="muted">Sessions dont l\'organisme formateur n\'est pas renseigné ou qui ne figurent '
                 "plus dans les extraits du jour.</p>")
    mail = ""
    if gidx in mails:
        mail = (
            f'<div class="mail"><div class="mailhead"><h4 id="mail-h-{gidx}">Message à envoyer à l\'organisme</h4>'
            f'<button type="button" class="copy" data-target="mail-{gidx}">Copier le message</button></div>'
            f'<pre class="mailtext" id="mail-{gidx}" aria-labelledby="mail-h-{gidx}">{esc(mails[gidx])}</pre></div>'
        )
    return (
        f'<section class="org" id="org-{gidx}" data-b="{gidx}">'
        f'<div class="orghead"><h3>{esc(name)}</h3><div class="orgmeta">{esc(sub_label)} {badges}</div>'
        f'<button type="button" class="toggle" aria-expanded="true" aria-controls="orgbody-{gidx}">Replier</button></div>'
        f'<div class="orgbody" id="orgbody-{gidx}">{intro}{note}{mail}{blocks.get(gidx, "")}</div></section>'
    )


_CSS = """
:root{--ink:#1d2433;--muted:#5a6478;--line:#d7dce5;--bg:#f5f7fa;--card:#fff;--accent:#1f4e8c;
--err:#b42318;--err-bg:#fdecea;--warn:#93370d;--warn-badge:#b54708;--warn-bg:#fff4e0;--info:#175cd3;--info-bg:#eaf2ff;
--good:#067647}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif;
font-size:16px;line-height:1.5;color:var(--ink);background:var(--bg)}
header.top{background:#17335c;color:#fff;padding:22px 32px 18px}
header.top h1{margin:2px 0 4px;font-size:1.75rem;line-height:1.25}
header.top .kicker{margin:0;font-size:.85rem;letter-spacing:.04em;text-transform:uppercase;opacity:.85}
header.top .meta{margin:0 0 10px;opacity:.9}
header.top code{background:rgba(255,255,255,.14);padding:1px 6px;border-radius:4px;color:#fff}
header.top .explain{margin:0;font-size:.92rem;max-width:1100px}
main{max-width:1200px;margin:0 auto;padding:8px 32px 48px}
h2{font-size:1.4rem;margin:28px 0 12px;color:#17335c;border-bottom:2px solid var(--line);padding-bottom:4px}
h3{font-size:1.12rem;margin:22px 0 8px}
code{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,"Liberation Mono",monospace;font-size:.9em}
.muted{color:var(--muted)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(190px,1fr));gap:12px;margin:10px 0}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px;border-top:4px solid var(--accent)}
.card.c-error{border-top-color:var(--err)}.card.c-warning{border-top-color:var(--warn-badge)}.card.c-info{border-top-color:var(--info)}
.clabel{font-size:.9rem;color:var(--muted);font-weight:600}
.cvalue{font-size:2rem;font-weight:700;line-height:1.2;font-variant-numeric:tabular-nums}
.c-error .cvalue{color:var(--err)}.c-warning .cvalue{color:var(--warn)}.c-info .cvalue{color:var(--info)}
.csub{font-size:.84rem;color:var(--muted)}
.delta{font-size:.82rem;font-weight:600;white-space:nowrap}
.delta.bad{color:var(--err)}.delta.good{color:var(--good)}.delta.flat{color:var(--muted)}
table{border-collapse:collapse;width:100%;background:var(--card);font-size:.93rem;margin:6px 0 10px}
caption{text-align:left;color:var(--muted);font-size:.88rem;padding:4px 0}
th,td{border-bottom:1px solid var(--line);padding:6px 10px;text-align:left;vertical-align:top}
thead th{background:#eef1f6;font-size:.85rem;color:#334}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.current{background:#f0f5ff;font-weight:600}
td.t-error{color:var(--err);font-weight:700}td.t-warning{color:var(--warn);font-weight:700}
.chart{width:100%;max-width:720px;height:auto;background:var(--card);border:1px solid var(--line);border-radius:8px}
.chart .grid{stroke:#e3e7ee;stroke-width:1}.chart .axis{font-size:11px;fill:#5a6478}
.chart .line{fill:none;stroke-width:2.5}.chart .l-error{stroke:var(--err)}.chart .l-warning{stroke:var(--warn-badge)}
.chart .pt{fill:#fff;stroke-width:2}
.legend-line{font-size:.85rem;color:var(--muted);margin:2px 0 10px}
.key{display:inline-block;width:14px;height:4px;vertical-align:middle;margin:0 4px 0 10px;border-radius:2px}
.key.k-error{background:var(--err)}.key.k-warning{background:var(--warn-badge)}
.badge{display:inline-block;font-size:.75rem;font-weight:700;padding:1px 8px;border-radius:999px;color:#fff;
letter-spacing:.02em;white-space:nowrap;-webkit-print-color-adjust:exact;print-color-adjust:exact}
.b-error{background:var(--err)}.b-warning{background:var(--warn-badge)}.b-info{background:var(--info)}
.filters{position:sticky;top:0;z-index:5;background:#fff;border:1px solid var(--line);border-radius:10px;
padding:10px 14px;margin:24px 0 8px;box-shadow:0 2px 8px rgba(20,30,50,.08)}
.frow{display:flex;flex-wrap:wrap;gap:10px 16px;align-items:center;margin:2px 0}
.filters label{font-size:.88rem;font-weight:600;color:#334;display:flex;gap:6px;align-items:center}
.frow.f3{display:grid;grid-template-columns:minmax(220px,2fr) minmax(160px,1fr) minmax(160px,1fr);gap:10px 16px}
.f3 label{flex-direction:column;align-items:stretch;gap:2px}
.f3 select,.f3 input{width:100%}
.fcount{margin:4px 0 0;font-size:.85rem}
@media (max-width:800px){.frow.f3{grid-template-columns:1fr}}
.filters select,.filters input[type=search]{font:inherit;font-size:.92rem;padding:5px 8px;border:1px solid #9aa3b2;border-radius:6px}
.btns{display:flex;gap:8px;flex-wrap:wrap}
.filters fieldset{border:0;padding:0;margin:0;display:flex;gap:12px;align-items:center}
.filters legend{float:left;font-size:.88rem;font-weight:600;margin-right:6px}
.filters .chk{font-weight:400}
.spacer{flex:1}
button{font:inherit;font-size:.88rem;padding:5px 12px;border-radius:6px;border:1px solid #9aa3b2;background:#fff;color:var(--ink);cursor:pointer}
button:hover{background:#eef1f6}
:focus-visible{outline:3px solid #f0a500;outline-offset:2px}
.org{background:var(--card);border:1px solid var(--line);border-radius:10px;margin:16px 0;overflow:hidden}
.orghead{display:flex;flex-wrap:wrap;align-items:center;gap:8px 14px;padding:10px 16px;background:#eef2f8;border-bottom:1px solid var(--line)}
.orghead h3{margin:0;font-size:1.15rem;color:#17335c}
.orgmeta{flex:1;font-size:.88rem;color:var(--muted);display:flex;flex-wrap:wrap;gap:6px;align-items:center}
.count{font-weight:700;padding:1px 8px;border-radius:6px}
.count.c-error{color:var(--err);background:var(--err-bg)}.count.c-warning{color:var(--warn);background:var(--warn-bg)}
.count.c-info{color:var(--info);background:var(--info-bg)}
.orgbody{padding:6px 16px 14px}
.org.collapsed .orgbody{display:none}
.capnote{background:#fff8e6;border-left:4px solid var(--warn-badge);padding:6px 10px;font-size:.9rem}
.sess{margin:14px 0 6px}
.sess h4{margin:0 0 6px;font-size:1rem;display:flex;flex-wrap:wrap;gap:4px 10px;align-items:baseline}
.skey{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.88rem;background:#eef1f6;border-radius:4px;padding:0 6px;color:#2c3e60}
.stitle{font-weight:700}.dates{font-weight:400;color:var(--muted);font-size:.92rem}
ul.fl{list-style:none;margin:0;padding:0}
li.f{border-left:4px solid var(--line);background:#fbfcfd;margin:0 0 8px;padding:6px 12px;border-radius:0 6px 6px 0}
li.s-error{border-left-color:var(--err)}li.s-warning{border-left-color:var(--warn-badge)}li.s-info{border-left-color:var(--info)}
li.f p{margin:2px 0}
.fh{display:flex;flex-wrap:wrap;gap:8px;align-items:center}
.rid{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem;color:var(--muted)}
.rt{font-weight:700}
.msg{font-size:.97rem}
.fix{font-size:.92rem;color:#24405f}
.where{font-size:.86rem;color:var(--muted)}
.lbl{font-weight:700;color:#334}
.file,.fld{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em}
.val{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em;background:#fff3c4;color:#3d2c00;padding:0 3px;border-radius:3px;word-break:break-all}
.mail{border:1px solid #c9d6ea;border-radius:8px;background:#f7faff;margin:10px 0 14px}
.mailhead{display:flex;align-items:center;justify-content:space-between;gap:8px;padding:6px 12px;border-bottom:1px solid #c9d6ea}
.mailhead h4{margin:0;font-size:.95rem;color:#17335c}
.mailtext{margin:0;padding:10px 12px;white-space:pre-wrap;font-family:inherit;font-size:.9rem;max-height:15em;overflow:auto}
.copy.done{background:#e7f6ec;border-color:var(--good);color:var(--good)}
.allgood{background:#e7f6ec;border:1px solid #a6dcb8;padding:10px 14px;border-radius:8px;color:#05512f;font-weight:600}
.rules th[scope=row]{font-family:ui-monospace,Menlo,Consolas,monospace;white-space:nowrap}
.printonly{display:none}
[hidden]{display:none!important}
@media (max-width:700px){main{padding:8px 12px 40px}header.top{padding:16px}}
@media print{
@page{margin:14mm 12mm}
body{background:#fff;font-size:10.5pt}
header.top{background:#fff;color:var(--ink);padding:0 0 8px;border-bottom:2px solid #17335c}
header.top code{background:none;color:var(--ink);padding:0}
main{max-width:none;padding:0}
.filters{position:static;box-shadow:none;border:0;padding:0;margin:0}
.filters .frow,.fcount,.toggle,.copy{display:none!important}
.orgbody{display:flex;flex-direction:column}.orgbody>.mail{order:2}
.printonly{display:block;font-style:italic}
.printonly:empty{display:none}
.org{break-before:page;border:0;border-radius:0;overflow:visible}
.org.collapsed .orgbody{display:flex}
.orghead{background:none;padding:0 0 4px;border-bottom:2px solid #17335c}
.orgbody{padding:4px 0}
.mailtext{max-height:none;overflow:visible}
li.f,.sess h4,.card,tr{break-inside:avoid}
.sess h4{break-after:avoid}
.legend{break-before:page}
.chart{max-width:560px}
a{color:inherit;text-decoration:none}
}
"""

_JS = r"""
(function(){
'use strict';
var $=function(id){return document.getElementById(id);};
var orgs=[].slice.call(document.querySelectorAll('section.org'));
var model=orgs.map(function(o){
  return {el:o,b:o.getAttribute('data-b'),sess:[].slice.call(o.querySelectorAll('.sess')).map(function(s){
    var h=s.querySelector('h4');
    return {el:s,head:h?h.textContent:'',items:[].slice.call(s.querySelectorAll('li.f')).map(function(li){
      return {el:li,s:li.getAttribute('data-s'),r:li.getAttribute('data-r'),t:null};})};})};});
var total=0;model.forEach(function(o){o.sess.forEach(function(s){total+=s.items.length;});});
function norm(x){x=x.toLowerCase();return x.normalize?x.normalize('NFD').replace(/[\u0300-\u036f]/g,''):x;}
var fb=$('f-body'),fr=$('f-rule'),fq=$('f-q'),cnt=$('f-count'),pr=$('f-print');
var sevs=[].slice.call(document.querySelectorAll('input[name=sev]'));
function fmt(n){return String(n).replace(/\B(?=(\d{3})+(?!\d))/g,'\u202f');}
function apply(){
  var b=fb.value,r=fr.value,q=norm(fq.value.trim()),on={},shown=0,any=false;
  sevs.forEach(function(c){on[c.value]=c.checked;});
  model.forEach(function(o){
    var oShown=0;
    if(b&&o.b!==b){o.el.hidden=true;return;}
    o.sess.forEach(function(s){
      var sShown=0,hq=q&&norm(s.head).indexOf(q)>=0;
      s.items.forEach(function(it){
        var ok=on[it.s]!==false&&(!r||it.r===r);
        if(ok&&q&&!hq){if(it.t===null)it.t=norm(it.el.textContent);ok=it.t.indexOf(q)>=0;}
        it.el.hidden=!ok;if(ok)sShown++;});
      s.el.hidden=sShown===0;oShown+=sShown;});
    o.el.hidden=oShown===0&&o.sess.length>0;shown+=oShown;if(oShown)any=true;});
  var filtered=b||r||q||sevs.some(function(c){return !c.checked;});
  cnt.textContent=filtered?(fmt(shown)+' constat(s) affiché(s) sur '+fmt(total)):(fmt(total)+' constat(s) détaillé(s)');
  $('nomatch').hidden=any||total===0;
  var desc=[];
  if(b)desc.push('organisme : '+fb.options[fb.selectedIndex].text);
  if(r)desc.push('règle : '+fr.options[fr.selectedIndex].text);
  if(q)desc.push('recherche : « '+fq.value.trim()+' »');
  var off=sevs.filter(function(c){return !c.checked;}).map(function(c){return c.parentNode.textContent.trim();});
  if(off.length)desc.push('masqués : '+off.join(', '));
  pr.textContent=desc.length?('Filtres appliqués à cette impression : '+desc.join(' ; ')):'';
}
var timer=null;
fq.addEventListener('input',function(){clearTimeout(timer);timer=setTimeout(apply,150);});
[fb,fr].concat(sevs).forEach(function(e){e.addEventListener('change',apply);});
$('f-reset').addEventListener('click',function(){fb.value='';fr.value='';fq.value='';sevs.forEach(function(c){c.checked=true;});apply();});
function setOpen(o,open){o.classList.toggle('collapsed',!open);var t=o.querySelector('.toggle');
  if(t){t.setAttribute('aria-expanded',open?'true':'false');t.textContent=open?'Replier':'Déplier';}}
orgs.forEach(function(o){var t=o.querySelector('.toggle');if(t)t.addEventListener('click',function(){
  setOpen(o,o.classList.contains('collapsed'));});});
$('f-expand').addEventListener('click',function(){orgs.forEach(function(o){setOpen(o,true);});});
$('f-collapse').addEventListener('click',function(){orgs.forEach(function(o){setOpen(o,false);});});
[].slice.call(document.querySelectorAll('a[href^="#org-"]')).forEach(function(a){a.addEventListener('click',function(){
  var o=document.getElementById(a.getAttribute('href').slice(1));if(o){o.hidden=false;setOpen(o,true);}});});
function copied(btn){var old=btn.textContent;btn.textContent='Copié ✓';btn.classList.add('done');
  setTimeout(function(){btn.textContent=old;btn.classList.remove('done');},2000);}
[].slice.call(document.querySelectorAll('button.copy')).forEach(function(btn){btn.addEventListener('click',function(){
  var pre=document.getElementById(btn.getAttribute('data-target'));var text=pre.textContent;
  function fallback(){var ta=document.createElement('textarea');ta.value=text;ta.setAttribute('readonly','');
    ta.style.position='fixed';ta.style.left='-9999px';document.body.appendChild(ta);ta.select();
    try{document.execCommand('copy');copied(btn);}catch(e){}document.body.removeChild(ta);}
  if(navigator.clipboard&&window.isSecureContext){navigator.clipboard.writeText(text).then(function(){copied(btn);},fallback);}
  else{fallback();}});});
apply();
})();
"""

_HEAD = (
    '<!DOCTYPE html>\n<html lang="fr"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    '<meta name="color-scheme" content="light">'
    "<title>{title}</title><style>" + _CSS + "</style></head><body>"
)
_FOOT = '<footer class="muted" style="text-align:center;font-size:.8rem;padding:0 0 24px">Généré par Passerelle.</footer><script>' + _JS + "</script></body></html>\n"
