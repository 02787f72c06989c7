"""Which sessions go to the consumers today, and what changed since the last publication.

Severity semantics of ``rules.md``:
- a session with an ``error`` finding is not published today; if it was published before, the
  consumers keep its last good version (``kept``, re-emitted from the store);
- a session that was published and has vanished from an extract read today stays published
  as it was (``vanished``, DQ022); when its source extract could not be read at all today, it
  is ``kept`` as well (a broken extract never wipes the catalogue);
- a session whose workflow state does not allow publication (EOS ``A finaliser``, SIGMA
  ``En attente d'émission``) is not published (DQ018), unless it was published before, in which
  case its last published version is kept.

Every session read today ends in exactly one of: published, quarantined, not publishable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from passerelle.lifecycle import GRACE_DAYS_DEFAULT, expired, vanished_since
from passerelle.lifecycle import withdrawn as withdrawn_after
from passerelle.model import EVENTS, SESSIONS, conform, empty_frame, to_frame

STATUS_CURRENT = "current"  # from today's extract
STATUS_KEPT = "kept"  # last good version re-emitted
STATUS_VANISHED = "vanished"  # DQ022: gone from today's extract without cancellation
STATUS_WITHDRAWN = "withdrawn"  # vanished past the grace period: only in the delta, announced as withdrawn

CHANGE_CREATED = "created"
CHANGE_UPDATED = "updated"
CHANGE_CANCELLED = "cancelled"
CHANGE_WITHDRAWN = "withdrawn"


@dataclass
class PreviousPublication:
    """The catalogue as last published (from the store)."""

    run_date: date | None
    state: pd.DataFrame  # session_key, content_hash, status, since_date
    payloads: pd.DataFrame  # session_key, content_hash, payload (JSON) — for the keys asked

    @classmethod
    def none(cls) -> PreviousPublication:
        return cls(
            None,
            pd.DataFrame({"session_key": [], "content_hash": [], "status": [], "since_date": []}),
            pd.DataFrame({"session_key": [], "content_hash": [], "payload": []}),
        )


@dataclass
class Publication:
    sessions: pd.DataFrame  # SESSIONS + publication_status + content_hash
    events: pd.DataFrame  # EVENTS of the published sessions
    formations: pd.DataFrame
    actions: pd.DataFrame
    state: pd.DataFrame  # session_key, content_hash, status, since_date (for the store)
    counts: dict
    versions: pd.DataFrame | None = None  # session_key, content_hash, classes of every session read today
    withdrawn: pd.DataFrame | None = None  # sessions withdrawn today (only in the delta feed)
    entities: pd.DataFrame | None = None  # kind, entity_key, content_hash, since_date, changed_date (for the store)

    @property
    def lheo_sessions(self) -> pd.DataFrame:
        """The sessions the LHEO writer streams for the full and delta feeds at once: the
        published ones and today's withdrawals (which only the delta writes)."""
        if self.withdrawn is None or not len(self.withdrawn):
            return self.sessions
        return pd.concat([self.sessions, self.withdrawn], ignore_index=True)

    @property
    def delta(self) -> pd.DataFrame:
        """The sessions that moved since the last publication (``change`` set). Computed when
        asked, not kept: on a first national run every session moved, and a stored copy would
        double the catalogue in memory for the whole run."""
        moved = self.sessions["change"].notna().to_numpy(dtype=bool)
        if moved.all() and (self.withdrawn is None or not len(self.withdrawn)):
            return self.sessions  # a first publication: the catalogue itself, not a copy
        delta = self.sessions[moved]
        if self.withdrawn is not None and len(self.withdrawn):
            delta = pd.concat([delta, self.withdrawn], ignore_index=True).sort_values("session_key", kind="stable")
        return delta.reset_index(drop=True)


def classify(sessions: pd.DataFrame, error_keys: set[str]) -> pd.Series:
    """published | quarantined | not_publishable for every session read today."""
    out = pd.Series("published", index=sessions.index, dtype="string")
    has_error = sessions["session_key"].isin(error_keys)
    out[has_error.to_numpy(dtype=bool)] = "quarantined"
    not_pub = ~sessions["workflow_publishable"].astype("boolean").fillna(False)
    out[not_pub.to_numpy(dtype=bool)] = "not_publishable"
    return out


def _json_escape(text: pa.Array) -> pa.Array:
    """JSON string bodies: backslash, quote and control characters escaped (RFC 8259)."""
    if not pc.any(pc.match_substring_regex(text, _NEEDS_ESCAPE)).as_py():
        return text  # most columns (keys, codes, dates as text): nothing to escape
    text = pc.replace_substring(text, "\\", "\\\\")
    text = pc.replace_substring(text, '"', '\\"')
    if pc.any(pc.match_substring_regex(text, "[\\x00-\\x1f]")).as_py():
        for code in range(0x20):
            text = pc.replace_substring(text, chr(code), _CONTROL_ESCAPES.get(code, f"\\u{code:04x}"))
    return text


_NEEDS_ESCAPE = '[\\x00-\\x1f"\\\\]'
_CONTROL_ESCAPES = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"}


def _json_values(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """The JSON text of each value of one column (``null`` for a missing value)."""
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        out = _join(_lit('"'), _json_escape(pc.cast(col, pa.large_string())), _lit('"'))
    elif pa.types.is_date(t) or pa.types.is_timestamp(t):
        out = _join(_lit('"'), pc.cast(col, pa.large_string()), _lit('"'))
    elif pa.types.is_boolean(t) or pa.types.is_integer(t):
        out = pc.cast(col, pa.large_string())
    elif pa.types.is_floating(t):
        finite = pc.is_finite(col)  # NaN and infinities are not JSON: null
        out = pc.if_else(finite, pc.cast(col, pa.large_string()), pa.scalar(None, pa.large_string()))
    else:  # anything else (lists, structs...): the standard encoder, value by value
        import json

        out = pa.array(
            [None if v is None else json.dumps(v, ensure_ascii=False, default=str) for v in col.to_pylist()],
            pa.large_string(),
        )
    return pc.fill_null(out, _lit("null"))


def _lit(text: str) -> pa.Scalar:
    return pa.scalar(text, pa.large_string())


def _join(*parts) -> pa.ChunkedArray:
    """Element-wise concatenation of large-string arrays and scalars."""
    return pc.binary_join_element_wise(*parts, _lit(""))


def json_lines(df: pd.DataFrame) -> pd.Series:
    """One compact JSON object per row, keys in column order, missing values as ``null``.

    Vectorised with Arrow string kernels (column by column: escape, quote, join), about ten
    times faster than ``DataFrame.to_json`` on the canonical tables; dates are ISO
    ``YYYY-MM-DD``, which :func:`frames_from_payloads` reads back.
    """
    if df.empty:
        return pd.Series([], dtype="string", index=df.index)
    return _string_series(_json_lines(df), df.index)


def _json_lines(df: pd.DataFrame) -> pa.ChunkedArray | pa.Array:
    import json

    table = pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False)
    parts = []
    for i, name in enumerate(table.column_names):
        key = ("{" if i == 0 else ",") + json.dumps(str(name), ensure_ascii=False) + ":"
        parts += [_lit(key), _json_values(table.column(i))]
    return _join(*parts, _lit("}"))  # one pass over all the columns


def _array(values) -> pa.Array:
    """One Arrow array from a pandas Series or an Arrow (chunked) array."""
    if isinstance(values, pd.Series):
        values = pa.array(values, from_pandas=True)
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _string_series(values: pa.ChunkedArray | pa.Array, index: pd.Index) -> pd.Series:
    """A pandas ``string`` Series over Arrow text, without a round trip through Python objects."""
    return pd.Series(pd.arrays.ArrowStringArray(pc.cast(_array(values), pa.large_string())), index=index)


def build_payloads(sessions: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
    """JSON payload per session: ``{"session": {...}, "events": [...]}`` (the last good version),
    its events in the order given. Arrow kernels end to end: a million payloads are built
    without one Python string per payload."""
    if sessions.empty:
        return pd.Series([], dtype="string", index=sessions.index)
    s_json = _json_lines(sessions)
    if events.empty:
        ev = pa.repeat(_lit(""), len(sessions))
    else:
        e_json = _json_lines(events)
        keys = _array(events["session_key"])
        order = pc.sort_indices(keys)  # a stable sort: each session's events keep their order
        runs = pc.run_end_encode(keys.take(order))
        run_ends = runs.run_ends.to_numpy().astype(np.int64)
        per_key = pa.LargeListArray.from_arrays(
            pa.array(np.concatenate([[0], run_ends]), pa.int64()), _array(pc.take(e_json, order))
        )
        joined = pc.binary_join(per_key, _lit(","))
        where = pc.index_in(_array(sessions["session_key"]), value_set=runs.values)
        ev = pc.fill_null(pc.take(joined, where), _lit(""))
    payload = _join(_lit('{"session":'), s_json, _lit(',"events":['), ev, _lit("]}"))
    return _string_series(payload, sessions.index)


def entity_payloads(df: pd.DataFrame) -> pd.Series:
    """JSON payload per formation or action record."""
    return json_lines(df)


def frames_from_payloads(payloads, schema) -> pd.DataFrame:
    """Rebuild canonical records from stored JSON (session, event, formation or action rows)."""
    import json

    rows = [json.loads(p) if isinstance(p, str) else p for p in payloads]
    if not rows:
        return empty_frame(schema)
    df = pd.DataFrame.from_records(rows, columns=schema.names)
    for f in schema:
        if str(f.type) == "date32[day]":
            df[f.name] = pd.to_datetime(df[f.name], errors="coerce").dt.date
    return to_frame(conform(df, schema))


def sessions_from_payloads(payloads: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    import json

    sess: list[dict] = []
    evs: list[dict] = []
    for text in payloads.to_numpy(dtype=object):
        p = json.loads(text)
        sess.append(p["session"])
        evs.extend(p.get("events") or [])
    return frames_from_payloads(sess, SESSIONS), frames_from_payloads(evs, EVENTS)


def source_of(keys: pd.Series) -> pd.Series:
    """The source identity a key belongs to (``eos``, ``lheo:<producer>``: the registry's)."""
    from passerelle.sources.registry import source_of_keys

    return source_of_keys(keys)


def keys_to_restore(
    sessions: pd.DataFrame,
    classes: pd.Series,
    previous_state: pd.DataFrame,
    sources_read: set[str],
    ended: pd.Series | None = None,
) -> pd.DataFrame:
    """Previously published sessions that must be re-emitted from the store today.

    ``ended``: per session of today (aligned on ``sessions``), True when it has expired today
    (see :mod:`passerelle.lifecycle`): its last version is not re-emitted, it has left.

    Returns ``session_key, content_hash, publication_status (kept | vanished), since_date``,
    ``changed_date``, ``vanished_date`` (the last two from the last publication, when known).
    """
    cols = ["session_key", "content_hash", "publication_status", "since_date", "changed_date", "vanished_date"]
    if previous_state is None or previous_state.empty:
        return pd.DataFrame({c: pd.Series([], dtype="string") for c in cols})
    prev = previous_state
    today_class = pd.Series(classes.to_numpy(), index=sessions["session_key"].to_numpy())
    in_today = prev["session_key"].isin(today_class.index)
    not_published_today = in_today & prev["session_key"].map(today_class).ne("published").fillna(False)
    if ended is not None and ended.any():
        gone = set(sessions.loc[ended.to_numpy(dtype=bool), "session_key"])
        not_published_today &= ~prev["session_key"].isin(gone)
    missing = ~in_today
    source_read = source_of(prev["session_key"]).isin(sources_read).fillna(False)
    out = prev[not_published_today | missing].copy()
    out["publication_status"] = STATUS_KEPT
    vanished = (missing & source_read).loc[out.index]
    out.loc[vanished.to_numpy(dtype=bool), "publication_status"] = STATUS_VANISHED
    for c in ("changed_date", "vanished_date"):
        if c not in out:
            out[c] = None
    # the first day missing: kept from the last publication while the session stays vanished
    was_vanished = out["status"].astype("string").eq(STATUS_VANISHED).fillna(False) if "status" in out else False
    out["vanished_date"] = out["vanished_date"].where(
        out["publication_status"].eq(STATUS_VANISHED) & was_vanished, None
    )
    return out[cols].reset_index(drop=True)


def _dates_of(keys: pd.Series, prev: pd.DataFrame, column: str) -> pd.Series:
    """``prev[column]`` looked up by session key (NaT when absent), aligned on ``keys``; Arrow
    lookups (a national catalogue: a million keys, no Python object per date)."""
    if column not in prev or prev.empty or keys.empty:
        return pd.Series(pd.NaT, index=keys.index, dtype="datetime64[s]")
    values = prev[column]
    if isinstance(values.dtype, pd.ArrowDtype) and pa.types.is_date(values.dtype.pyarrow_dtype):
        days = pc.cast(_array(values), pa.timestamp("s"))
    else:
        days = pa.array(
            pd.to_datetime(values.astype(object), errors="coerce").to_numpy().astype("datetime64[s]"),
            pa.timestamp("s"),
            from_pandas=True,
        )
    where = pc.index_in(_array(keys.astype("string")), value_set=_array(prev["session_key"].astype("string")))
    found = pc.take(days, where).to_numpy(zero_copy_only=False).astype("datetime64[s]")
    return pd.Series(found, index=keys.index, dtype="datetime64[s]")


def _as_date32(values: pd.Series) -> pd.Series:
    return pd.Series(
        pa.array(pd.to_datetime(values).to_numpy().astype("datetime64[D]"), pa.date32(), from_pandas=True),
        index=values.index,
        dtype=pd.ArrowDtype(pa.date32()),
    )


def select(
    sessions: pd.DataFrame,
    events: pd.DataFrame,
    formations: pd.DataFrame,
    actions: pd.DataFrame,
    hashes: pd.Series,
    classes: pd.Series,
    previous_state: pd.DataFrame,
    restore: pd.DataFrame,
    restored_sessions: pd.DataFrame,
    restored_events: pd.DataFrame,
    restored_formations: pd.DataFrame,
    restored_actions: pd.DataFrame,
    run_date: date,
    quarantined_rows: int = 0,
    columns: list[str] | None = None,
    *,
    previous_entities: pd.DataFrame | None = None,
    grace: int = GRACE_DAYS_DEFAULT,
    ended: pd.Series | None = None,
) -> Publication:
    """Assemble today's publication from today's sessions and the restored last good versions.

    ``columns``: the session columns the publication keeps (those the feeds read, see
    :func:`passerelle.feeds.catalog.feed_session_columns`); all of them when None. The others
    stay in the canonical tables: a national publication is then ~40 % smaller in memory.

    The life of a session (:mod:`passerelle.lifecycle`): ``ended`` marks today's sessions that
    have expired (classified not publishable by the caller); a restored version that has
    expired is dropped as well; a vanished session past its ``grace`` days is withdrawn: it is
    only in the delta (``change`` = ``withdrawn``), in :attr:`Publication.withdrawn`.
    Every published session and entity gets its ``since_date`` (first published, LHEO
    ``datecrea``) and ``changed_date`` (last content change, ``datemaj``), carried over from
    the last publication (``previous_state``, ``previous_entities``).
    """
    if columns is not None:
        kept = set(columns)
        sessions = sessions[[c for c in sessions.columns if c in kept]]
        restored_sessions = restored_sessions[[c for c in restored_sessions.columns if c in kept]]
    prev = previous_state if previous_state is not None else PreviousPublication.none().state
    prev_hash = pd.Series(prev["content_hash"].to_numpy(), index=prev["session_key"].to_numpy())
    prev_keys = set(prev["session_key"])

    published = classes.eq("published").to_numpy(dtype=bool)
    current = sessions[published].copy()
    current["content_hash"] = hashes[published].to_numpy()
    current["publication_status"] = STATUS_CURRENT

    keys = current["session_key"]
    before = keys.map(prev_hash)
    change = pd.Series(pd.NA, index=current.index, dtype="string")
    change[before.isna().to_numpy(dtype=bool)] = CHANGE_CREATED
    changed = before.notna() & before.ne(current["content_hash"])
    change[changed.to_numpy(dtype=bool)] = CHANGE_UPDATED
    cancelled = current["cancelled"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    change[change.notna().to_numpy(dtype=bool) & cancelled] = CHANGE_CANCELLED
    current["change"] = change

    restored = restored_sessions.copy()
    expired_restored = 0
    withdrawn = restored.iloc[:0]
    if len(restored):
        meta = restore.set_index("session_key")
        restored["content_hash"] = restored["session_key"].map(meta["content_hash"])
        restored["publication_status"] = restored["session_key"].map(meta["publication_status"])
        restored["change"] = pd.Series(pd.NA, index=restored.index, dtype="string")
        gone = expired(restored, run_date).to_numpy(dtype=bool)
        expired_restored = int(restored.loc[gone, "session_key"].isin(prev_keys).sum())
        restored = restored[~gone]
        vanished = restored["publication_status"].eq(STATUS_VANISHED).fillna(False).to_numpy(dtype=bool)
        status_before = (
            restored["session_key"].map(pd.Series(prev["status"].to_numpy(), index=prev["session_key"].to_numpy()))
            if len(prev)
            else None
        )
        since_v = vanished_since(
            status_before if status_before is not None else pd.Series(None, index=restored.index, dtype="string"),
            _dates_of(restored["session_key"], prev, "vanished_date"),
            run_date,
        )
        out = vanished & withdrawn_after(since_v, run_date, grace).to_numpy(dtype=bool)
        restored["vanished_date"] = pd.Series(since_v, index=restored.index).where(vanished, None)
        withdrawn = restored[out].copy()
        withdrawn["publication_status"] = STATUS_WITHDRAWN
        withdrawn["change"] = CHANGE_WITHDRAWN
        restored = restored[~out]
    all_sessions = pd.concat([current, restored], ignore_index=True) if len(restored) else current
    all_sessions = _sorted_by(all_sessions, "session_key")

    # dates: first published, last content change (a change of today, else carried over)
    skeys = all_sessions["session_key"]
    since = _dates_of(skeys, prev, "since_date").fillna(pd.Timestamp(run_date))
    prev_changed = _dates_of(skeys, prev, "changed_date").fillna(_dates_of(skeys, prev, "since_date"))
    moved_today = all_sessions["change"].notna().to_numpy(dtype=bool)
    changed_on = prev_changed.where(~moved_today, pd.Timestamp(run_date)).fillna(pd.Timestamp(run_date))
    all_sessions["since_date"] = _as_date32(since)
    all_sessions["changed_date"] = _as_date32(changed_on)
    if "vanished_date" in all_sessions:
        vd = all_sessions["vanished_date"]
        all_sessions = all_sessions.drop(columns="vanished_date")
    else:
        vd = pd.Series(None, index=all_sessions.index, dtype=object)
    if len(withdrawn):
        w_keys = withdrawn["session_key"]
        withdrawn["since_date"] = _as_date32(_dates_of(w_keys, prev, "since_date").fillna(pd.Timestamp(run_date)))
        withdrawn["changed_date"] = _as_date32(pd.Series(pd.Timestamp(run_date), index=withdrawn.index))
        withdrawn = _sorted_by(withdrawn.drop(columns="vanished_date"), "session_key")

    # Store state: one row per published session with its movement on this date.
    status = all_sessions["change"].astype("string")
    status = status.fillna(
        pd.Series(
            ["unchanged" if s == STATUS_CURRENT else s for s in all_sessions["publication_status"]],
            index=all_sessions.index,
            dtype="string",
        )
    )
    state = pd.DataFrame(
        {
            "session_key": all_sessions["session_key"].astype("string"),
            "content_hash": all_sessions["content_hash"].astype("string"),
            "status": status,
            "since_date": all_sessions["since_date"],
            "changed_date": all_sessions["changed_date"],
            "vanished_date": _as_date32(pd.Series(vd.to_numpy(), index=all_sessions.index)),
        }
    )

    pub_keys = set(all_sessions["session_key"])
    feed_keys = pub_keys | set(withdrawn["session_key"]) if len(withdrawn) else pub_keys
    ev = events[events["session_key"].isin(current["session_key"]).to_numpy(dtype=bool)]
    if len(restored_events):
        ev = pd.concat(
            [ev, restored_events[restored_events["session_key"].isin(feed_keys).to_numpy(dtype=bool)]],
            ignore_index=True,
        )
    ev = _sorted_by(ev, "event_key")

    in_feeds = pd.concat([all_sessions, withdrawn], ignore_index=True) if len(withdrawn) else all_sessions
    form = _union_by_key(formations, restored_formations, "formation_key")
    form = form[form["formation_key"].isin(set(in_feeds["formation_key"]))].reset_index(drop=True)
    act = _union_by_key(actions, restored_actions, "action_key")
    act = act[act["action_key"].isin(set(in_feeds["action_key"]))].reset_index(drop=True)
    form, act, entities = entity_dates(form, act, all_sessions, previous_entities, run_date)

    n_ended = int(ended.sum()) if ended is not None else 0
    expired_today = expired_restored
    if ended is not None and n_ended:
        expired_today += int(sessions.loc[ended.to_numpy(dtype=bool), "session_key"].isin(prev_keys).sum())
    n_published = int(published.sum())
    counts = {
        "read": int(len(sessions)) + quarantined_rows,
        "published": n_published,
        "quarantined": int(classes.eq("quarantined").sum()) + quarantined_rows,
        "not_publishable": int(classes.eq("not_publishable").sum()),
        "cancelled": int(current["cancelled"].astype("boolean").fillna(False).sum()),
        "kept": int((all_sessions["publication_status"] == STATUS_KEPT).sum()),
        "vanished": int((all_sessions["publication_status"] == STATUS_VANISHED).sum()),
        "in_feeds": len(pub_keys),
        "created": int((state["status"] == CHANGE_CREATED).sum()),
        "updated": int((state["status"] == CHANGE_UPDATED).sum()),
        "cancelled_today": int((state["status"] == CHANGE_CANCELLED).sum()),
        "ended": n_ended,  # read today, period over: not publishable (counted there)
        "expired": expired_today,  # published last time, left today because their period is over
        "withdrawn": int(len(withdrawn)),  # vanished past the grace period: announced by the delta
    }
    return Publication(all_sessions, ev, form, act, state, counts, withdrawn=withdrawn, entities=entities)


# --- formations and actions: hashes as published, first published, last changed ---------------


def _entity_hashes(
    records: pd.DataFrame, key: str, child_parent: pd.Series, child_key: pd.Series, child_hash: pd.Series
) -> pd.Series:
    """sha256 of each record as published: its fields (lineage and COG columns excluded) and the
    keys and hashes of its children (sessions of an action, actions of a formation), by child
    key. Arrow kernels; one Python call per record only for the digest."""
    from passerelle.canonical import DERIVED, LINEAGE, _row_strings, _sha256

    if records.empty:
        return pd.Series([], index=records.index, dtype="string")
    skip = {*LINEAGE, *DERIVED, *DATES}
    own = pc.cast(
        _row_strings(records, [c for c in records.columns if c not in skip]).combine_chunks(), pa.large_string()
    )
    children = pa.table(
        {
            "parent": _array(child_parent.astype("string")),
            "text": _join(
                pc.cast(_array(child_key.astype("string")), pa.large_string()),
                _lit("="),
                pc.cast(_array(child_hash.astype("string")), pa.large_string()),
            ),
        }
    )
    children = children.filter(pc.and_(pc.is_valid(children["parent"]), pc.is_valid(children["text"])))
    if children.num_rows:
        children = children.take(pc.sort_indices(children, sort_keys=[("parent", "ascending"), ("text", "ascending")]))
        runs = pc.run_end_encode(children["parent"].combine_chunks())
        offsets = np.concatenate([[0], runs.run_ends.to_numpy().astype(np.int64)])
        joined = pc.binary_join(
            pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), children["text"].combine_chunks()), _lit(",")
        )
        where = pc.index_in(_array(records[key].astype("string")), value_set=runs.values)
        own = _join(own, _lit("\x1d"), pc.fill_null(pc.take(joined, where), _lit("")))
    return pd.Series(_sha256(pa.chunked_array([own])), index=records.index, dtype="string")


DATES = ("since_date", "changed_date")


def entity_dates(
    formations: pd.DataFrame,
    actions: pd.DataFrame,
    sessions: pd.DataFrame,
    previous: pd.DataFrame | None,
    run_date: date,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The formations and actions with ``since_date`` (first published) and ``changed_date``
    (the day their published content last changed: their record, or any action or session
    under them), and the state to store (``kind, entity_key, content_hash, since_date,
    changed_date``)."""
    a_hash = _entity_hashes(
        actions, "action_key", sessions["action_key"], sessions["session_key"], sessions["content_hash"]
    )
    f_hash = _entity_hashes(formations, "formation_key", actions["formation_key"], actions["action_key"], a_hash)
    prev = (
        previous
        if previous is not None and len(previous)
        else pd.DataFrame({c: [] for c in ("kind", "entity_key", "content_hash", "since_date", "changed_date")})
    )
    out = []
    states = []
    for kind, df, key, hashes in (
        ("formation", formations, "formation_key", f_hash),
        ("action", actions, "action_key", a_hash),
    ):
        p = prev[prev["kind"] == kind].rename(columns={"entity_key": "session_key"})
        keys = df[key].astype("string")
        before = keys.map(pd.Series(p["content_hash"].to_numpy(), index=p["session_key"].to_numpy()))
        same = before.notna() & before.eq(hashes)
        since = _dates_of(keys, p, "since_date").fillna(pd.Timestamp(run_date))
        kept = _dates_of(keys, p, "changed_date").fillna(_dates_of(keys, p, "since_date"))
        changed = kept.where(same.to_numpy(dtype=bool), pd.Timestamp(run_date)).fillna(pd.Timestamp(run_date))
        df = df.copy()
        df["since_date"] = _as_date32(since)
        df["changed_date"] = _as_date32(changed)
        out.append(df)
        states.append(
            pd.DataFrame(
                {
                    "kind": kind,
                    "entity_key": keys.to_numpy(),
                    "content_hash": hashes.to_numpy(),
                    "since_date": df["since_date"].to_numpy(),
                    "changed_date": df["changed_date"].to_numpy(),
                }
            )
        )
    entities = pd.concat(states, ignore_index=True)
    entities["since_date"] = _as_date32(entities["since_date"])
    entities["changed_date"] = _as_date32(entities["changed_date"])
    return out[0], out[1], entities


def _sorted_by(df: pd.DataFrame, key: str) -> pd.DataFrame:
    """``df`` stably sorted by ``key``, with a fresh index; not copied when already in order
    (today's canonical tables are sorted by their keys: at a million rows a copy is 500 MB)."""
    if not df[key].is_monotonic_increasing:
        df = df.sort_values(key, kind="stable")
    return df.reset_index(drop=True)


def _union_by_key(today: pd.DataFrame, restored: pd.DataFrame, key: str) -> pd.DataFrame:
    if restored is None or restored.empty:
        return today
    extra = restored[~restored[key].isin(set(today[key]))]
    return pd.concat([today, extra], ignore_index=True).sort_values(key, kind="stable").reset_index(drop=True)
