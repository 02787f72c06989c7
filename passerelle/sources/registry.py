"""The registry of sources: one entry per source module, in reading order.

Adding a source: a module under ``passerelle/sources/`` ending with ``SPEC = Source(...)``
(:mod:`passerelle.sources.spec`), and one line in :data:`_MODULES`. Everything that lists
sources iterates :func:`sources` (inbox, raw assets, canonical build, conservation, rules,
GX contract, report, CLI, bench).

The order is the reading order of a day (it fixes the order of the reads, hence of the
findings before they are sorted): the offer first, then the session extracts.
"""

from __future__ import annotations

import importlib
import re
from functools import cache

import pandas as pd

from passerelle.sources.spec import PRODUCER_PATTERN, ExtractKind, Source

_MODULES = (
    "passerelle.sources.sam",
    "passerelle.sources.eos",
    "passerelle.sources.sigma",
    "passerelle.sources.lheo",
)


@cache
def sources() -> tuple[Source, ...]:
    return tuple(importlib.import_module(m).SPEC for m in _MODULES)


@cache
def _by_name() -> dict[str, Source]:
    return {s.name: s for s in sources()}


def names() -> tuple[str, ...]:
    return tuple(s.name for s in sources())


def spec(source: str) -> Source | None:
    """The declaration of ``source`` (a per-producer identity ``lheo:<producer>`` included)."""
    return _by_name().get(str(source).split(":", 1)[0])


def fixed_kinds() -> list[tuple[Source, ExtractKind]]:
    """Every (source, kind) whose file name is fixed (not per producer), in reading order."""
    return [(s, k) for s in sources() if not s.per_producer for k in s.kinds]


def kind_of(source: str, kind: str) -> ExtractKind | None:
    s = spec(source)
    return s.kind(kind) if s is not None and ":" not in source else None


def session_kinds() -> set[tuple[str, str]]:
    """(source, kind) of the fixed extracts that carry sessions."""
    return {(s.name, k.name) for s, k in fixed_kinds() if k.sessions}


def carries_sessions(source: str, kind: str) -> bool:
    k = kind_of(source, kind)
    return bool(k and k.sessions)


def session_sources() -> list[Source]:
    return [s for s in sources() if s.carries_sessions]


def per_row(source: pd.Series, value) -> pd.Series:
    """``value(spec)`` for each row's source, looked up once per distinct source."""
    uniques = source.astype("string").dropna().unique()
    mapping = {}
    for u in uniques:
        s = spec(u)
        mapping[u] = value(s) if s is not None else None
    return source.astype("string").map(mapping)


def rule_flag(rows: pd.DataFrame, name: str) -> pd.Series:
    """Per row, the boolean rule parameter ``name`` of its source (False for an unknown source)."""
    out = per_row(rows["source"], lambda s: bool(getattr(s.rules, name)))
    return out.fillna(False).astype(bool)


def rule_value(rows: pd.DataFrame, name: str) -> pd.Series:
    """Per row, the rule parameter ``name`` of its source (None for an unknown source)."""
    return per_row(rows["source"], lambda s: getattr(s.rules, name))


def source_of_keys(keys: pd.Series) -> pd.Series:
    """The source identity of each key: its prefix, or ``<name>:<producer>`` for a
    per-producer source (keys ``lheo:<producer>:<numero>``)."""
    text = keys.astype("string")
    parts = text.str.split(":", n=2)
    head = parts.str[0]
    producers = {s.name for s in sources() if s.per_producer}
    if not producers:
        return head
    two = head + ":" + parts.str[1].fillna("")
    return head.mask(head.isin(list(producers)).fillna(False), two)


def source_name_pattern() -> str:
    """A regex every ``source`` value of the canonical sessions matches."""
    alts = [re.escape(s.name) + (f":{PRODUCER_PATTERN}" if s.per_producer else "") for s in session_sources()]
    return r"^(?:" + "|".join(alts) + r")$"


def session_key_pattern() -> str:
    """A regex every session key matches (the alternatives each source declares)."""
    alts = [s.session_key_pattern for s in session_sources() if s.session_key_pattern]
    return r"^(?:" + "|".join(alts) + r")$"


def filling(field: str) -> list[str]:
    """Names of the session sources that declare ``field`` among their filled fields."""
    return [s.name for s in session_sources() if field in s.filled_fields]


def label(source: str) -> str:
    """The French label of a source identity (``Intercarif (LHEO)`` for ``lheo:intercarif``)."""
    s = spec(source)
    if s is None:
        return str(source)
    if s.per_producer and ":" in str(source):
        return f"{s.label} {str(source).split(':', 1)[1]}"
    return s.label


def field_name(source: str, canonical: str, table: str = "sessions") -> str:
    s = spec(source)
    return s.field_name(canonical, table) if s is not None else canonical


class Labels:
    """``get(source, default)`` -> the French label of a source identity (a read-only mapping
    for templates: ``source_label.get(src, src)``)."""

    def get(self, source: str, default: str | None = None) -> str | None:
        return label(source) if spec(source) is not None else default

    def __getitem__(self, source: str) -> str:
        if spec(source) is None:
            raise KeyError(source)
        return label(source)


LABELS = Labels()


def sessions_read(read: dict) -> int:
    """Sessions read in a ``{"source": count}`` summary: the sources that carry sessions."""
    return sum(int(v or 0) for k, v in (read or {}).items() if (s := spec(k)) is not None and s.carries_sessions)


def read_parts(read: dict) -> tuple[list[dict], list[dict]]:
    """The read counts of a summary as (session sources, offer-only sources), each
    ``{"source", "label", "n"}`` in reading order; fixed session sources always appear."""
    read = read or {}
    sessions, offers = [], []
    for s in sources():
        if s.per_producer:
            for k in sorted(k for k in read if str(k).startswith(s.name + ":")):
                sessions.append({"source": k, "label": label(k), "n": int(read.get(k, 0) or 0)})
        elif s.carries_sessions:
            sessions.append({"source": s.name, "label": s.label, "n": int(read.get(s.name, 0) or 0)})
        else:
            offers.append({"source": s.name, "label": s.label, "n": int(read.get(s.name, 0) or 0)})
    return sessions, offers
