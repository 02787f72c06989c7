"""How a source declares itself: plain frozen data, written once in the source's own module.

A source module (``passerelle/sources/<name>.py``) ends with ``SPEC = Source(...)``; the
registry (:mod:`passerelle.sources.registry`) lists the modules. Nothing else in Passerelle
names a source: the inbox, the raw assets, the canonical build, row conservation, the rules,
the GX contract, the report and the CLI iterate the registry and read these fields.

This module imports nothing from the readers (a reader imports it to declare itself).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

# the <producer> of a per-producer source (``lheo_<producer>_<YYYYMMDD>.xml``)
PRODUCER_PATTERN = r"[a-z][a-z0-9]*"

LOT_PERIOD = "période du lot jusqu'à sa fin d'exécution"


@dataclass(frozen=True)
class ExtractKind:
    """One kind of extract file: ``<source>_<kind>_<YYYYMMDD>.<extension>``.

    For a per-producer source (:attr:`Source.per_producer`) the ``<kind>`` of the file name is
    the producer (any name matching :data:`PRODUCER_PATTERN`) and ``name`` is only a label.
    """

    name: str
    extensions: tuple[str, ...]  # lower case, without the leading dot ("csv", "xml.gz")
    description: str  # English, for engineers (Dagster asset description)
    reader: Callable[..., Any]  # (path, ...) -> ExtractRead; path None: no extract in the inbox
    asset: str  # the Dagster raw asset reading this kind
    sessions: bool = False  # carries the source's sessions: a session missing from it vanished
    required: bool = True  # a complete day needs it (optional kinds are read when present)
    daily: bool = True  # dated the day itself; False: one dated on or before the day will do
    label: str = ""  # French name of the kind where the source has several ("sessions", "événements")


@dataclass(frozen=True)
class RuleParameters:
    """What the rules need to know about a source, as data (the rules never test a name).

    Every flag describes the records of this source; ``None`` means "the check does not apply".
    """

    # DQ002: marché number on the sessions / formations: (regex, what is expected, in French)
    session_marche: tuple[str, str] | None = None
    formation_marche: tuple[str, str] | None = None
    # DQ002: a formation's action number starts with its contract number
    action_number_prefixed: bool = False
    # DQ016: the sessions carry the trainer's SIRET as a required column
    trainer_siret_required: bool = False
    # DQ019: the formations announce how many sessions they plan (``sessions_planned``)
    plans_sessions: bool = False
    # DQ019: the finalised sessions of this source are counted against those plans
    fills_plans: bool = False
    # DQ020: a session must find its action among the actions read (False: actions derived)
    action_required: bool = False
    # DQ020: how a session names its formation: "dossier_lot_action" or "action_number"
    formation_reference: str = "action_number"
    # DQ001: what the parent period of a session is, in French
    parent_period: str = LOT_PERIOD
    # DQ003: a cancelled session is one with 0 places (the value shown is the places)
    cancelled_by_places: bool = False


def _frozen(mapping: Mapping[str, Mapping[str, str]]) -> Mapping[str, Mapping[str, str]]:
    return MappingProxyType({k: MappingProxyType(dict(v)) for k, v in mapping.items()})


@dataclass(frozen=True)
class Source:
    """One source of extracts."""

    name: str  # lower case, the <source> of the file names and the prefix of its keys
    label: str  # French, as Carif staff call it (report, messages)
    kinds: tuple[ExtractKind, ...]
    # canonical table -> canonical field -> the field as named in the extract (findings)
    field_names: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    rules: RuleParameters = field(default_factory=RuleParameters)
    # regex of the session keys this source makes (GX contract on core_sessions)
    session_key_pattern: str | None = None
    # the kind in the file name is the producer; each producer is a source of its own for the
    # life of its sessions, named ``<name>:<producer>`` (keys ``<name>:<producer>:…``)
    per_producer: bool = False
    # one LHEO action per formation × body × place, derived from the sessions (not read)
    derives_actions: bool = False
    formacode_default: str = "V14"  # PASSERELLE_FORMACODE_VERSION_<NAME> overrides it
    # session fields this source fills for (nearly) every session: the GX contract expects them
    # mostly present on its sessions (a reader that lost a column fails it); a source whose
    # format makes them optional (LHEO: contacts on the formation) leaves them out
    filled_fields: tuple[str, ...] = ("contact_name", "start_date")

    def __post_init__(self) -> None:
        object.__setattr__(self, "field_names", _frozen(self.field_names))
        if not re.fullmatch(r"[a-z]+", self.name):
            raise ValueError(f"a source name is lower-case letters: {self.name!r}")
        if self.per_producer and len(self.kinds) != 1:
            raise ValueError(f"a per-producer source has one kind of extract: {self.name}")

    @property
    def carries_sessions(self) -> bool:
        return any(k.sessions for k in self.kinds)

    def identity(self, kind: str) -> str:
        """The source name records read from a ``<name>_<kind>`` extract carry."""
        return f"{self.name}:{kind}" if self.per_producer else self.name

    def kind(self, kind: str) -> ExtractKind | None:
        if self.per_producer:
            return self.kinds[0] if re.fullmatch(PRODUCER_PATTERN, kind) else None
        return next((k for k in self.kinds if k.name == kind), None)

    def field_name(self, canonical: str, table: str = "sessions") -> str:
        return self.field_names.get(table, {}).get(canonical, canonical)
