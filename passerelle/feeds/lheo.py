"""LHEO 2.3 feed writer (CARIF full and delta feeds, Pôle emploi feed).

One streaming writer, two profiles:

- ``carif``: the whole catalogue. Sessions whose recruitment is closed (``Fermé``) or that are
  cancelled are present but flagged not public (``extra info="public"`` = 0).
- ``pole_emploi``: every session exported to the applications (recruitment open, suspended or
  closed) plus, per session, the marché / convention number and the places financed by
  Pôle emploi, and an ``organisme-financeur`` code 4 on the action when it has such places.

The caller decides which sessions are published (``sessions`` is already filtered) and adds
two columns to the canonical SESSIONS table: ``publication_status`` (``current`` | ``kept`` |
``vanished``) and, for the delta feed only, ``change`` (``created`` | ``updated`` |
``cancelled``).

:func:`write_lheo` writes one feed to a path. :func:`write_lheo_feeds` writes several feeds of
the same publication (typically CARIF full, CARIF delta and Pôle emploi) to open binary sinks
in one pass over the sessions, each target getting the bytes :func:`write_lheo` would write
for it: a delta target takes the sessions whose ``change`` is not null. Each session is
converted to Python once and the text that does not depend on the feed (most of a session,
formation and action text shared by targets with the same sessions) is built once.

LHEO hierarchy (``formation`` > ``action`` > ``session``) and identifiers:
``formation/@numero`` = ``formation_key``, ``action/@numero`` = ``action_key``,
``session/@numero`` = ``session_key``. An EOS session whose action has no row in ``actions``
gets its LHEO action derived from its own ``action_key``, training body, SIRET, address and
entry mode.

Memory does not grow with the feed: sessions are visited in ``(formation_key, action_key,
session_key)`` order through a sort index, converted to Python objects a chunk at a time, and
each ``<formation>`` is produced as text (exactly what lxml would serialise for the same tree,
indented) and written out in ~1 MB batches per target. Output bytes are deterministic: stable
order, no timestamp, UTF-8 with an XML declaration, two-space indentation.

The ``extras`` vocabulary (``<extras info="passerelle">`` on every session) is documented in
:data:`EXTRAS_DOC` and in the README.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

from passerelle import model
from passerelle.organisations import NUMERO_NAME, NUMERO_SIRET, UNKNOWN_SIRET, normalise_names
from passerelle.sources.base import formacode_version

NS = "http://lheo.gouv.fr/2.3"
PROFILES = ("carif", "pole_emploi")
PUBLICATION_STATUSES = {"current": "courant", "kept": "conserve", "vanished": "disparue", "withdrawn": "retiree"}
CHANGES = {"created": "creation", "updated": "modification", "cancelled": "annulation", "withdrawn": "retrait"}
WITHDRAWN = "withdrawn"  # publication_status and change of a session withdrawn today (delta feed only)
RECRUITMENT_CODES = {
    model.RECRUITMENT_OPEN: "1",
    model.RECRUITMENT_CLOSED: "2",
    model.RECRUITMENT_SUSPENDED: "3",
}
ENTRY_CODES = {model.ENTRY_FIXED: "0", model.ENTRY_PERMANENT: "1"}

# LHEO values we have no source for. Each one is what real Intercarif feeds carry.
UNKNOWN_TEXT = "-"  # objectif / resultats-attendus / contenu / rythme / alternance / conditions
# FORMACODE public code « Demandeur d'emploi », carried by the Région-financed action of the real
# Intercarif feed (reference/lheo/samples/trefle-formation.xml, action 07_123324, code-financeur 2,
# then in V12); the code is the same in V14, the version consumers expect (data·inclusion's
# stg_carif_oref__formacode_v14__publics and its accepted_values [V14] test).
PUBLIC_VISE_CODE = "80006"
PUBLIC_VISE_REF = "V14"
NIVEAU_ENTREE_UNKNOWN = "0"  # dict-niveaux 0 "information non communiquée"
# dict-type-contact 4 "Accueil": the sources' contact is the one who receives the candidates and
# the prescriptions (EOS, SIGMA « Contact nom / tél / mail »); consumers sort contacts by type
# (data·inclusion's int_carif_oref__services_v1 prefers 3, then 0, then 4) and require one.
TYPE_CONTACT = "4"
_TYPED_CONTACTS = frozenset({"contact-formation", "contact-formateur", "contact-organisme"})
PARCOURS_GROUP = "1"  # dict-type-parcours 1 "en groupe"
PARCOURS_INDIVIDUAL = "2"  # dict-type-parcours 2 "individualisé" (only permanent-entry actions)
MODALITES_ENSEIGNEMENT_PRESENTIEL = "0"
NDA_UNKNOWN = "00000000000"  # numero-activite is mandatory (11 characters)
SIRET_UNKNOWN = UNKNOWN_SIRET  # SIRET-organisme-formation is mandatory (14 characters)
DATE_UNKNOWN_START = "00000000"  # LHEO: unknown start date
DATE_UNKNOWN_END = "99999999"  # LHEO: unknown end date
MAX_DATE_INFORMATION = 3  # LHEO action/date-information maxOccurs

EVENT_TYPES = {"test": "test", "bilan": "bilan", "entretien": "entretien"}

EXTRAS_DOC = """\
<extras info="passerelle">                       on every <session>, always in this order
  <extra info="annulee">0|1</extra>              1 = session cancelled (DQ003); etat-recrutement is then 2
  <extra info="public">0|1</extra>               0 = not shown to the public: recruitment closed
                                                 (Fermé, DQ021) or cancelled
  <extra info="statut-publication">courant|conserve|disparue</extra>
                                                 courant = from today's extract; conserve = last good
                                                 version kept because today's has errors;
                                                 disparue = gone from today's extract without a
                                                 cancellation (DQ022), kept as last published
  <extra info="mouvement">creation|modification|annulation</extra>   delta feed only
  <extra info="numero-marche">M2214701</extra>   Pôle emploi feed only: marché / convention number
  <extra info="places-pole-emploi">3</extra>     Pôle emploi feed only: places financed by Pôle emploi
  <extras info="evenements">                     only when the session has events
    <extras info="evenement" numero="<event_key>">   one per event, by date then time
      <extra info="type">information-collective|test|bilan|entretien|autre</extra>
      <extra info="date">AAAAMMJJ</extra>        when known
      <extra info="heure-debut">HH:MM</extra>    when known
      <extra info="heure-fin">HH:MM</extra>      when known
      <extra info="lieu">12 rue X, 63000 Clermont-Ferrand</extra>   when known
      <extra info="places">12</extra>            when known
      <extra info="annule">0|1</extra>           1 = cancelled (DQ014: information collective with 0 places)
    </extras>
  </extras>
</extras>
"""

_CHUNK = 1024  # sessions converted to Python objects at a time
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_DIGITS5 = re.compile(r"^\d{5}$")
_INSEE = re.compile(r"^(\d{5}|2[AB]\d{3})$")
_ROME = re.compile(r"^[A-Z]\d{4}$")
_RNCP = re.compile(r"^(RNCP\d{1,6}|RS\d{1,8})$")
_PHONE_CHARS = re.compile(r"^\+?[\d\s.\-()/\u00a0]+$")

# --- columns each writer needs ----------------------------------------------------------------
_PLACE = ["commune_code", "departement", "region", "country"]  # from the COG (passerelle.reference.cog)
_F_COLS = [
    "formation_key", "source", "marche_numero", "title", "lot_title", "objective", "content", "prerequisites",
    "formacode", "formacode_ref", "nsf", "rome", "certifying", "rncp", "certifinfo", "hours_centre",
    "hours_company", "holder_name", "holder_siret", "holder_nda", "financer",
]  # fmt: skip
_A_COLS = [
    "action_key", "organisme_formateur", "siret_formateur", "address_line", "postcode", "city",
    *_PLACE, "entry_mode", "hours_centre", "hours_company",
]  # fmt: skip
_S_COLS = [
    "session_key", "action_key", "formation_key", "source", "marche_numero", "title",
    "organisme_formateur", "siret_formateur", "site", "address_line", "address_complement",
    "postcode", "city", *_PLACE, "start_date", "end_date", "prescription_start",
    "prescription_end", "entry_mode", "places", "places_region", "places_pole_emploi",
    "hours_centre_avg", "hours_company_avg", "cancelled", "recruitment_state", "contact_name",
    "contact_phone", "contact_email", "financer",
]  # fmt: skip
SESSION_COLUMNS = tuple(_S_COLS)  # the session columns this writer reads (see catalog.feed_session_columns)
_E_COLS = [
    "event_key", "session_key", "event_type", "is_information_collective", "start_date",
    "start_time", "end_time", "places", "cancelled", "address_line", "postcode", "city", *_PLACE,
]  # fmt: skip
# LHEO datecrea / datemaj of formations, actions and sessions (publishable.select): first
# published and last content change. Optional columns of the caller, beside the canonical ones.
DATE_COLUMNS = ("since_date", "changed_date")


# ============================================================================================
# shared helpers (also used by the Mission Locale CSV)
# ============================================================================================


def to_table(df: pd.DataFrame, schema: pa.Schema, extra: tuple[str, ...] = ()) -> pa.Table:
    """``df`` conformed to ``schema`` (see :func:`model.conform`) plus the ``extra`` columns
    given by the caller (as strings; absent ones are null). Other columns the caller keeps for
    its own bookkeeping (``content_hash``...) are ignored."""
    base = df[[c for c in df.columns if c in schema.names]]
    table = model.conform(base, schema)
    for name in extra:
        if name in df.columns and name in DATE_COLUMNS:
            arr = pa.array(df[name], from_pandas=True)
            arr = arr.cast(pa.date32()) if not pa.types.is_date32(arr.type) else arr
        elif name in DATE_COLUMNS:
            arr = pa.nulls(len(df), pa.date32())
        elif name in df.columns:
            arr = pa.array(df[name].astype(object).where(df[name].notna(), None).tolist(), type=pa.string())
        else:
            arr = pa.nulls(len(df), pa.string())
        table = table.append_column(name, arr)
    return table


# French overseas departments share the 0 + 9 digits national plan with their own country code.
_OVERSEAS_REGIONS = ("RE", "YT", "GP", "MQ", "GF")
# A metropolitan number written 0X XX XX XX XX (0X then four pairs, all separated by the same
# space, dot or dash, or not at all): its national format is the same ten digits by pairs.
# 08 numbers (0 800 12 34 56) and the overseas prefixes below go through phonenumbers.
_FR_PLAIN_PHONE = re.compile(r"0([1-79])([ .\-]?)([0-9][0-9])\2([0-9][0-9])\2([0-9][0-9])\2([0-9][0-9])")
_OVERSEAS_PREFIXES = frozenset(
    {"262", "263", "269", "590", "594", "596", "639", "690", "691", "692", "693", "694", "696", "697"}
)


@functools.lru_cache(maxsize=65536)
def format_phone(raw: str | None) -> str | None:
    """A phone number in its national format: ``04 73 19 36 38`` for metropolitan France.

    Overseas numbers keep their own national format (``0262 12 34 56`` for La Réunion, also
    when written ``0262123456`` or ``+262 262 12 34 56``; ``40 12 34 56`` for Polynesia). A value
    that is not a phone number (letters, two numbers, too short...) is returned stripped but
    otherwise as received.
    """
    if raw is None:
        return None
    text = str(raw).strip()
    if not text:
        return None
    if not _PHONE_CHARS.match(text):
        return text
    plain = _FR_PLAIN_PHONE.fullmatch(text)
    if plain is not None and plain[1] + plain[3] not in _OVERSEAS_PREFIXES:
        # what phonenumbers answers for this shape, without its parsing (~50 µs a number)
        return f"0{plain[1]} {plain[3]} {plain[4]} {plain[5]} {plain[6]}"
    try:
        number = phonenumbers.parse(text, "FR")
    except phonenumbers.NumberParseException:
        return text
    if number.country_code == 33 and str(number.national_number)[:3] in _OVERSEAS_PREFIXES:
        for region in _OVERSEAS_REGIONS:
            candidate = phonenumbers.parse("0" + str(number.national_number), region)
            if phonenumbers.is_valid_number(candidate):
                number = candidate
                break
    if not phonenumbers.is_possible_number(number):
        return text
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


@functools.lru_cache(maxsize=65536)
def is_mobile(formatted: str) -> bool:
    """French mobile numbers (06, 07) go in ``portable``, the others in ``telfixe``."""
    digits = re.sub(r"\D", "", formatted)
    return len(digits) == 10 and digits[:2] in ("06", "07")


def pick_address(session: dict, action: dict | None) -> dict:
    """The session's own address when it has one (postcode or city), else its action's."""
    if action is None or _present(session.get("postcode")) or _present(session.get("city")):
        src = session
    else:
        src = action
    return {
        "line": src.get("address_line"),
        "complement": src.get("address_complement") if src is session else None,
        "postcode": src.get("postcode"),
        "city": src.get("city"),
        "insee": src.get("commune_code"),
    }


def _present(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value)) and str(value).strip() != ""


def _clean(value) -> str | None:
    """Text safe for XML 1.0, stripped; None when empty."""
    # the common case, same answer: a printable string has none of the characters XML refuses
    if value.__class__ is str and (value.isprintable() or _XML_INVALID.search(value) is None):
        return value.strip() or None
    if not _present(value):
        return None
    text = _XML_INVALID.sub("", str(value)).strip()
    return text or None


def _text(value, maxlen: int, default: str | None = UNKNOWN_TEXT) -> str | None:
    text = _clean(value)
    if text is None:
        return default
    if len(text) > maxlen:
        text = text[: maxlen - 1].rstrip() + "…"
    return text


@functools.lru_cache(maxsize=4096)
def _lheo_date(value, default: str) -> str:
    if value is None:
        return default
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"


def _whole(value) -> str | None:
    """LHEO counts and hours are ``xs:long``: round half up to a whole number."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return _whole_of(float(value))


@functools.lru_cache(maxsize=4096)
def _whole_of(value: float) -> str:
    return str(int(Decimal(repr(value)).quantize(_ONE, rounding=ROUND_HALF_UP)))


_ONE = Decimal(1)


# ============================================================================================
# XML building
# ============================================================================================
#
# Each ``<formation>`` is produced directly as text, line by line, exactly as lxml serialises
# the same tree after ``etree.indent(space="  ", level=2)`` (the writer used to build one lxml
# tree per formation: building, indenting and serialising it cost ~0.3 ms per session). The
# escaping is lxml's: ``& < >`` and CR in text; ``& < > "``, TAB, LF and CR in attributes.
# An element without text nor child is written ``<tag/>``, one with empty text ``<tag></tag>``.


def _esc(text: str) -> str:
    """Element text as lxml escapes it."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    return text


def _attr(value: str) -> str:
    """Attribute value as lxml escapes it; refuses what lxml refuses (control characters)."""
    value = str(value)
    if _XML_INVALID.search(value):
        raise ValueError("All strings must be XML compatible: Unicode or ASCII, no NULL bytes or control characters")
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    if '"' in value:
        value = value.replace('"', "&quot;")
    if "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\t", "&#9;").replace("\n", "&#10;").replace("\r", "&#13;")
    return value


def _leaf(ind: str, tag: str, text: str | None) -> str:
    if text is None:
        return f"{ind}<{tag}/>"
    return f"{ind}<{tag}>{_esc(text)}</{tag}>"


# Indentation of each level (``lheo > offres > formation > action > session > extras > extra``):
# every ``<formation>`` sits at level 2, so each element's indentation is fixed.
_I1 = "  " * 3  # children of <formation>; <action>
_I2 = "  " * 4  # children of <action>; <session>
_I3 = "  " * 5  # children of <session>
_I4 = "  " * 6  # children of <extras info="passerelle">
_I5 = "  " * 7
_I6 = "  " * 8


@functools.lru_cache(maxsize=1 << 14, typed=True)
def _adresse_text(ind: str, line, complement, postcode, city, insee, departement, region, country, denomination) -> str:
    """``<adresse>`` as text (see :func:`_adresse`); the same address recurs on many sessions."""
    i2 = ind + "  "
    out = [f"{ind}<adresse>"]
    if denomination:
        out.append(_leaf(i2, "denomination", _text(denomination, 255)))
    lines: list[str] = []
    for part in (line, complement):
        text = _clean(part)
        if text:
            lines.extend([text] if len(text) <= 50 else textwrap.wrap(text, 50, break_long_words=True))
    for text in (lines or [UNKNOWN_TEXT])[:4]:
        out.append(f"{i2}<ligne>{_esc(text)}</ligne>")
    out.append(_leaf(i2, "codepostal", _clean(postcode) or ""))
    out.append(_leaf(i2, "ville", _text(city, 50)))
    # département, commune and région from the COG, all or nothing (DQ026: not guessed)
    insee = _clean(insee)
    departement = _clean(departement)
    region = _clean(region)
    if insee and departement and region and _INSEE.match(insee):
        out.append(f"{i2}<departement>{_esc(departement)}</departement>")
        out.append(f"{i2}<code-INSEE-commune>{_esc(insee)}</code-INSEE-commune>")
        out.append(f"{i2}<region>{_esc(region)}</region>")
    country = _clean(country)
    if country:
        out.append(f"{i2}<pays>{_esc(country)}</pays>")
    out.append(f"{ind}</adresse>")
    return "\n".join(out)


def _place_of(row: dict, complement: bool = True) -> tuple:
    """The address fields of a canonical row (session, action or event), in :func:`_adresse_text` order."""
    return (
        row.get("address_line"),
        row.get("address_complement") if complement else None,
        row.get("postcode"),
        row.get("city"),
        row.get("commune_code"),
        row.get("departement"),
        row.get("region"),
        row.get("country"),
    )


def _adresse(out: list[str], ind: str, addr: dict, denomination: str | None = None) -> None:
    """``<adresse>``: ligne 1..4 (50 characters each), codepostal, ville, then the commune's
    département, INSEE code and région and the country when the COG resolved them.

    The postcode is written as received: a session without a 5-digit postcode cannot be
    published (DQ015 error), so a bad one here is an upstream bug that validation must catch.
    """
    out.append(_adresse_text(ind, *_place_of(addr), denomination))


def _session_place(s: dict, action: dict | None) -> tuple:
    """:func:`pick_address`'s choice as address fields: the session's own address when it has
    one (postcode or city), else its action's."""
    if action is None or _present(s["postcode"]) or _present(s["city"]):
        return _place_of(s)
    return _place_of(action, complement=False)


def _session_adresse(ind: str, s: dict, action: dict | None) -> str:
    """:func:`pick_address` (session's own address, else its action's) then ``<adresse>``."""
    return _adresse_text(ind, *_session_place(s, action), _clean(s["site"]))


@functools.lru_cache(maxsize=1 << 14, typed=True)
def _contact_text(ind: str, tag: str, name, phone, email, place: tuple | None = None) -> str:
    """A ``contact-*`` (or ``coordonnees-organisme``) element: ``coordonnees`` with nom, the
    address ``place`` (see :func:`_place_of`) when given, telfixe or portable, courriel. The
    same contact recurs on many sessions."""
    i2 = ind + "  "
    i3 = i2 + "  "
    inner: list[str] = []
    name = _text(name, 50, default=None)
    if name:
        inner.append(f"{i3}<nom>{_esc(name)}</nom>")
    if place is not None:
        inner.append(_adresse_text(i3, *place, None))
    reach = _reach_text(i3, phone, email)
    if reach:
        inner.append(reach[1:])
    # typed where consumers sort contacts (formation, formateur, organisme); not on each session
    kind = f"{i2}<type-contact>{TYPE_CONTACT}</type-contact>\n" if tag in _TYPED_CONTACTS else ""
    if inner:
        return f"{ind}<{tag}>\n{kind}{i2}<coordonnees>\n" + "\n".join(inner) + f"\n{i2}</coordonnees>\n{ind}</{tag}>"
    return f"{ind}<{tag}>\n{kind}{i2}<coordonnees/>\n{ind}</{tag}>"


@functools.lru_cache(maxsize=1 << 14, typed=True)
def _reach_text(ind: str, phone, email) -> str:
    """The telfixe or portable and courriel lines of a ``coordonnees`` (after its address), with
    a leading newline; empty when neither is known."""
    out = ""
    phone = format_phone(_clean(phone))
    if phone:
        phone = phone[:25]
        kind = "portable" if is_mobile(phone) else "telfixe"
        out += f"\n{ind}<{kind}>\n{ind}  <numtel>{_esc(phone)}</numtel>\n{ind}</{kind}>"
    mail = _clean(email)
    if mail and 3 <= len(mail) <= 160:
        out += f"\n{ind}<courriel>{_esc(mail)}</courriel>"
    return out


def _contact(out: list[str], ind: str, tag: str, session: dict | None) -> None:
    """A ``contact-*`` element from a session's contact: nom, telfixe or portable, courriel."""
    if session is None:
        out.append(_contact_text(ind, tag, None, None, None))
    else:
        out.append(_contact_text(ind, tag, session.get("contact_name"), session.get("contact_phone"),
                                 session.get("contact_email")))  # fmt: skip


def _has_contact(session: dict) -> bool:
    return _present(session.get("contact_name")) or _present(session.get("contact_phone"))


def _event_type(event: dict) -> str:
    if event.get("is_information_collective"):
        return "information-collective"
    raw = (_clean(event.get("event_type")) or "").lower()
    return EVENT_TYPES.get(raw, "autre")


def _event_place(event: dict) -> str | None:
    parts = [
        _clean(event.get("address_line")),
        " ".join(p for p in (_clean(event.get("postcode")), _clean(event.get("city"))) if p),
    ]
    text = ", ".join(p for p in parts if p)
    return text or None


# --- <session> -------------------------------------------------------------------------------
#
# A session's text is the same in every feed but for a few ``extras`` lines, so it is built in
# parts, once: the head (down to the ``statut-publication`` extra), the ``mouvement`` line (delta
# feed), the Pôle emploi lines and the tail (events, closing tags). Session dates arrive already
# formatted ``AAAAMMJJ`` (see :func:`_lheo_dates`).

_MOUVEMENT = {k: f'{_I4}<extra info="mouvement">{v}</extra>'.encode() for k, v in CHANGES.items()}
_STATUT = {k: f'{_I4}<extra info="statut-publication">{v}</extra>' for k, v in PUBLICATION_STATUSES.items()}


def _dates_attrs(row: dict) -> str:
    """`` datecrea="AAAAMMJJ" datemaj="AAAAMMJJ"`` when the caller gave the dates (first
    published, last content change), else nothing: LHEO's ``00000000`` is never written."""
    out = ""
    for attr, col in (("datecrea", "since_date"), ("datemaj", "changed_date")):
        value = row.get(col)
        if value is not None and not isinstance(value, str):
            value = _lheo_date(value, "")
        if value:
            out += f' {attr}="{value}"'
    return out


def formation_dates(row: dict) -> bool:
    """True when the row carries its own LHEO dates."""
    return row.get("since_date") is not None or row.get("changed_date") is not None


def _span_attrs(sessions: list[dict]) -> str:
    """The dates of an element that has no row of its own (a formation or action only its
    sessions describe): created with its first session, changed with its last change."""
    created = [s["since_date"] for s in sessions if s.get("since_date")]
    changed = [s["changed_date"] for s in sessions if s.get("changed_date")]
    return _dates_attrs(
        {"since_date": min(created) if created else None, "changed_date": max(changed) if changed else None}
    )


def _session_head(s: dict, action: dict | None, cancelled: bool) -> bytes:
    ind, i2, i3, i4 = _I2, _I3, _I4, _I5
    status = s["publication_status"] or "current"
    closed = cancelled or status == WITHDRAWN  # never open without extras: LHEO etat-recrutement 2
    out = [
        f'{ind}<session numero="{_attr(s["session_key"])}"{_dates_attrs(s)}>\n'
        f"{i2}<periode>\n{i3}<debut>{s['start_date'] or DATE_UNKNOWN_START}</debut>\n"
        f"{i3}<fin>{s['end_date'] or DATE_UNKNOWN_END}</fin>\n{i2}</periode>\n"
        f"{i2}<adresse-inscription>",
        _session_adresse(i3, s, action),
        f"{i2}</adresse-inscription>",
    ]
    if s["prescription_start"] is not None or s["prescription_end"] is not None:
        out.append(f"{i2}<periode-inscription>\n{i3}<periode>\n"
                   f"{i4}<debut>{s['prescription_start'] or DATE_UNKNOWN_START}</debut>\n"
                   f"{i4}<fin>{s['prescription_end'] or DATE_UNKNOWN_END}</fin>\n"
                   f"{i3}</periode>\n{i2}</periode-inscription>")  # fmt: skip
    state = "2" if closed else RECRUITMENT_CODES.get(s["recruitment_state"] or "", "1")
    out.append(f"{i2}<etat-recrutement>{state}</etat-recrutement>")
    if _has_contact(s):
        out.append(_contact_text(i2, "contact-session", s["contact_name"], s["contact_phone"], s["contact_email"]))
    if status not in PUBLICATION_STATUSES:
        raise ValueError(f"session {s['session_key']}: unknown publication_status {status!r}")
    out.append(f'{i2}<extras info="passerelle">\n'
               f'{i3}<extra info="annulee">{"1" if cancelled else "0"}</extra>\n'
               f'{i3}<extra info="public">{"0" if (cancelled or state == "2") else "1"}</extra>\n'
               f"{_STATUT[status]}")  # fmt: skip
    return "\n".join(out).encode()


def _session_pole_emploi(s: dict, formation: dict) -> bytes:
    marche = _clean(s["marche_numero"]) or _clean(formation.get("marche_numero"))
    places = f'{_I4}<extra info="places-pole-emploi">{int(s["places_pole_emploi"] or 0)}</extra>'
    if marche:
        return f'{_I4}<extra info="numero-marche">{_esc(marche)}</extra>\n{places}'.encode()
    return places.encode()


_SESSION_END = f"{_I3}</extras>\n{_I2}</session>".encode()


def _session_tail(s: dict) -> bytes:
    events = s["_events"]
    if not events:
        return _SESSION_END
    i3, i4, i5 = _I4, _I5, _I6
    out = [f'{i3}<extras info="evenements">']
    for ev in events:
        out.append(f'{i4}<extras info="evenement" numero="{_attr(ev["event_key"])}">')
        out.append(f'{i5}<extra info="type">{_event_type(ev)}</extra>')
        if ev.get("start_date") is not None:
            out.append(f'{i5}<extra info="date">{_lheo_date(ev["start_date"], DATE_UNKNOWN_START)}</extra>')
        for info, col in (("heure-debut", "start_time"), ("heure-fin", "end_time")):
            value = _clean(ev.get(col))
            if value:
                out.append(f'{i5}<extra info="{info}">{_esc(value)}</extra>')
        place = _text(_event_place(ev), 255, None)  # an extra holds 255 characters at most
        if place:
            out.append(f'{i5}<extra info="lieu">{_esc(place)}</extra>')
        if ev.get("places") is not None:
            out.append(f'{i5}<extra info="places">{int(ev["places"])}</extra>')
        out.append(f'{i5}<extra info="annule">{"1" if ev.get("cancelled") else "0"}</extra>')
        out.append(f"{i4}</extras>")
    out.append(f"{i3}</extras>")
    return ("\n".join(out) + "\n").encode() + _SESSION_END


def _session_parts(s: dict, formation: dict, delta: bool, pole_emploi: bool) -> tuple:
    action = s["_action"]
    cancelled = bool(s["cancelled"])
    head = _session_head(s, action, cancelled)
    head_delta = mouvement = None
    if delta:
        change = s["change"]
        if change is not None:  # a moved session (the others are not in the delta feed)
            if change not in CHANGES:
                raise ValueError(
                    f"session {s['session_key']}: delta feed needs change in {sorted(CHANGES)}, got {change!r}"
                )
            mouvement = _MOUVEMENT[change]
            # cancelled since the last publication, whatever today's flag says
            head_delta = _session_head(s, action, True) if change == "cancelled" and not cancelled else head
    pe = _session_pole_emploi(s, formation) if pole_emploi else None
    return (head, head_delta, mouvement, pe, _session_tail(s))


# --- <action> --------------------------------------------------------------------------------


def _next_information_dates(sessions: list[dict], run_date: date | None) -> list[date]:
    dates = set()
    for s in sessions:
        if s.get("cancelled"):
            continue
        for ev in s.get("_events") or []:
            d = ev.get("start_date")
            if ev.get("is_information_collective") and not ev.get("cancelled") and d is not None:
                if run_date is None or d >= run_date:
                    dates.add(d)
    return sorted(dates)[:MAX_DATE_INFORMATION]


def _next_information_address(sessions: list[dict], run_date: date | None) -> dict | None:
    best = None
    for s in sessions:
        if s.get("cancelled"):
            continue
        for ev in s.get("_events") or []:
            d = ev.get("start_date")
            if not (ev.get("is_information_collective") and not ev.get("cancelled") and d is not None):
                continue
            if run_date is not None and d < run_date:
                continue
            pc_ = _clean(ev.get("postcode"))
            if not (pc_ and _DIGITS5.match(pc_) and _clean(ev.get("city"))):
                continue
            key = (d, ev.get("start_time") or "", ev["event_key"])
            if best is None or key < best[0]:
                best = (key, ev)
    return best[1] if best else None


_SIRET_SEPARATORS = re.compile(r"[\s.\-]")
_NON_DIGITS = re.compile(r"\D")

_ACTION_FIXED = (
    f"{_I2}<rythme-formation>{UNKNOWN_TEXT}</rythme-formation>\n"
    f'{_I2}<code-public-vise ref="{PUBLIC_VISE_REF}">{PUBLIC_VISE_CODE}</code-public-vise>\n'
    f"{_I2}<niveau-entree-obligatoire>0</niveau-entree-obligatoire>"
)


def _financeur(code: str, places: int) -> str:
    return (f"{_I2}<organisme-financeur>\n{_I3}<code-financeur>{_esc(code)}</code-financeur>\n"
            f"{_I3}<nb-places-financees>{places}</nb-places-financees>\n{_I2}</organisme-financeur>")  # fmt: skip


def _action_parts(action_key: str, sessions: list[dict], texts: list[tuple], action: dict | None, f: dict,
                  conditions: str, run_date: date | None, pole_emploi: bool, orgs: _Orgs) -> tuple:  # fmt: skip
    """One ``<action>`` in parts: (head, session parts, tail, carif end, Pôle emploi end). The
    sessions go between head and tail; the end (``organisme-financeur``, closing tag) is the
    only part that depends on the feed."""
    first = sessions[0]
    a = action or {}
    ind, i2, i3 = _I1, _I2, _I3
    hours_company = a.get("hours_company")
    if hours_company is None:
        hours_company = first["hours_company_avg"]
    if hours_company is None and f:
        hours_company = f.get("hours_company")
    hours_centre = a.get("hours_centre")
    if hours_centre is None:
        hours_centre = first["hours_centre_avg"]
    if hours_centre is None and f:
        hours_centre = f.get("hours_centre")
    alternance = UNKNOWN_TEXT
    if hours_company:
        alternance = f"{_whole(hours_company)} heures en entreprise"
    elif hours_company is not None and not (isinstance(hours_company, float) and math.isnan(hours_company)):
        alternance = "Sans période en entreprise"  # the source says 0 hours
    # the action's own place when it has one, else its first session's
    site = _clean(first["site"])
    if action is not None and (_present(a.get("postcode")) or _present(a.get("city"))):
        where = _place_of(a, complement=False)
        if not _clean(where[0]) and _clean(first["postcode"]) == _clean(where[2]):
            # no street for the action (a SIGMA composante): its first session's, at that postcode
            where = (first["address_line"], *where[1:])
    else:
        where = _place_of(first)
    place = _adresse_text(i3 + "  ", *where, site)
    # the training body at that place: one name and one numero per SIRET, no borrowed SIRET
    # (organisations), its contact from the sources (its card, else the action's first contact)
    siret = orgs.siret(_clean(a.get("siret_formateur")) or _clean(first["siret_formateur"]))
    name = orgs.name(siret, _clean(a.get("organisme_formateur")) or _clean(first["organisme_formateur"]))
    card = orgs.card(siret)
    if card is None:
        contact_session = next((s for s in sessions if _has_contact(s)), None)
        if contact_session is not None:
            card = (
                contact_session["contact_name"],
                contact_session["contact_phone"],
                contact_session["contact_email"],
                where,
            )
    reach = _reach_text(i3 + "  ", card[1], card[2]) if card is not None else ""
    entry = a.get("entry_mode") or first["entry_mode"]
    head = "\n".join((
        f'{ind}<action numero="{_attr(action_key)}"{_dates_attrs(a) if action else _span_attrs(sessions)}>',
        _ACTION_FIXED,
        f"{i2}<modalites-alternance>{_esc(alternance)}</modalites-alternance>",
        f"{i2}<modalites-enseignement>{MODALITES_ENSEIGNEMENT_PRESENTIEL}</modalites-enseignement>",
        conditions,
        f"{i2}<prise-en-charge-frais-possible>1</prise-en-charge-frais-possible>",
        f"{i2}<lieu-de-formation>\n{i3}<coordonnees>",
        place + reach,
        f"{i3}</coordonnees>\n{i2}</lieu-de-formation>",
        f"{i2}<modalites-entrees-sorties>{ENTRY_CODES.get(entry or '', '0')}</modalites-entrees-sorties>",
    )).encode()  # fmt: skip

    out: list[str] = []
    info_address = _next_information_address(sessions, run_date)
    if info_address:
        out.append(f"{i2}<adresse-information>")
        _adresse(out, i3, info_address)
        out.append(f"{i2}</adresse-information>")
    for d in _next_information_dates(sessions, run_date):
        out.append(
            f"{i2}<date-information>\n{i3}<date>{_lheo_date(d, DATE_UNKNOWN_START)}</date>\n{i2}</date-information>"
        )
    if hours_centre is not None:
        out.append(_leaf(i2, "nombre-heures-centre", _whole(hours_centre)))
    if hours_company is not None:
        out.append(_leaf(i2, "nombre-heures-entreprise", _whole(hours_company)))
    out.append(f'{i2}<organisme-formateur numero="{_attr(orgs.numero(siret, name))}">')
    out.append(f"{i3}<SIRET-formateur>\n{i3}  <SIRET>{siret or UNKNOWN_SIRET}</SIRET>\n{i3}</SIRET-formateur>")
    out.append(_leaf(i3, "raison-sociale-formateur", _text(name, 250)))
    if card is not None:
        out.append(_contact_text(i3, "contact-formateur", *card))
    out.append(f"{i2}</organisme-formateur>")
    tail = "\n".join(out).encode()

    live = [s for s in sessions if not s["cancelled"]]
    buyer = _clean(f.get("financer")) or _clean(first["financer"]) or model.FINANCER_REGION
    carif = _financeur(buyer, sum(int(_first_not_none(s["places_region"], s["places"], 0)) for s in live))
    end_carif = f"{carif}\n{ind}</action>".encode()
    end_pe = end_carif
    if pole_emploi and buyer != model.FINANCER_POLE_EMPLOI:
        pe = sum(int(s["places_pole_emploi"] or 0) for s in live)
        if pe > 0:
            end_pe = f"{carif}\n{_financeur(model.FINANCER_POLE_EMPLOI, pe)}\n{ind}</action>".encode()
    return (head, texts, tail, end_carif, end_pe)


def _first_not_none(*values):
    for v in values:
        if v is not None:
            return v
    return None


# --- organisations ---------------------------------------------------------------------------


class _Orgs:
    """Names, numeros and coordinates of the training bodies of a publication, by SIRET (see
    :func:`passerelle.organisations.cards`): one name per SIRET, a numero stable from day to
    day, and the contact and place the sources give for each body."""

    def __init__(self, table: pd.DataFrame | None):
        self.names: dict[str, str] = {}
        self.cards: dict[str, tuple] = {}
        if table is None or table.empty:
            return
        rows = table.astype(object).where(table.notna(), None)
        for r in rows.to_dict("records"):
            siret = r["siret"]
            self.names[siret] = r["name"]
            if r.get("contact_name") is not None or r.get("contact_phone") is not None:
                place = _place_of(r) if r.get("postcode") is not None or r.get("city") is not None else None
                self.cards[siret] = (r.get("contact_name"), r.get("contact_phone"), r.get("contact_email"), place)

    @staticmethod
    @functools.lru_cache(maxsize=1 << 14)
    def siret(raw: str | None) -> str | None:
        """The SIRET when it is 14 digits (separators removed), else None (unknown)."""
        if raw is None:
            return None
        digits = _SIRET_SEPARATORS.sub("", raw)
        return digits if len(digits) == 14 and digits.isdigit() else None

    def name(self, siret: str | None, given: str | None) -> str | None:
        return self.names.get(siret, given) if siret else given

    @staticmethod
    @functools.lru_cache(maxsize=1 << 14)
    def numero(siret: str | None, name: str | None) -> str:
        if siret:
            return NUMERO_SIRET + siret
        return NUMERO_NAME + ("-".join(normalise_names(pd.Series([name or ""])).fillna("INCONNU").iloc[0].split()))

    def card(self, siret: str | None) -> tuple | None:
        return self.cards.get(siret) if siret else None


# --- <formation> -----------------------------------------------------------------------------

_FORMATION_INDENT = "    "  # level 2: lheo > offres > formation
_NSF = re.compile(r"^\d{3}$")
_CERTIFINFO = re.compile(r"^\d{1,10}$")


def _codes(value, pattern: re.Pattern, limit: int, upper: bool = False) -> list[str]:
    """The codes of a space-separated canonical field that match ``pattern``, at most ``limit``."""
    text = _clean(value) or ""
    codes = [c.upper() if upper else c for c in text.split()]
    return [c for c in codes if pattern.match(c)][:limit]


class _Formation:
    """The text of one ``<formation>`` for every feed: what depends only on the formation row is
    built once; what depends on its sessions is built once per distinct list of sessions (the
    full feeds share one, the delta feed another unless every session moved); an action whose
    sessions all moved is shared between both lists."""

    def __init__(
        self,
        formation_key: str,
        formation: dict | None,
        run_date: date | None,
        pole_emploi: bool,
        orgs: _Orgs | None = None,
    ):
        f = self.f = formation or {}
        self.run_date = run_date
        self.pole_emploi = pole_emploi
        self.orgs = orgs or _Orgs(None)
        self.actions: dict[str, tuple[tuple, tuple]] = {}
        ind = _FORMATION_INDENT
        i2 = ind + "  "
        i3 = i2 + "  "
        self.numero = _attr(formation_key)
        out: list[str] = [f'{ind}<formation numero="{self.numero}"{_dates_attrs(f)}>']
        domaine: list[str] = []
        ref = _clean(f.get("formacode_ref")) or formacode_version(f.get("source") or "")
        for i, code in enumerate(_codes(f.get("formacode"), _DIGITS5, 5)):
            tag = ' tag="principal"' if i == 0 else ""
            domaine.append(f'{i3}<code-FORMACODE ref="{_attr(ref)}"{tag}>{code}</code-FORMACODE>')
        domaine.extend(f"{i3}<code-NSF>{code}</code-NSF>" for code in _codes(f.get("nsf"), _NSF, 3))
        domaine.extend(f"{i3}<code-ROME>{code}</code-ROME>" for code in _codes(f.get("rome"), _ROME, 5, upper=True))
        if domaine:
            out.append(f"{i2}<domaine-formation>")
            out.extend(domaine)
            out.append(f"{i2}</domaine-formation>")
        else:
            out.append(f"{i2}<domaine-formation/>")
        self.opening = "\n".join(out)
        self.title = _clean(f.get("title"))
        self.lot_title = _clean(f.get("lot_title"))
        self.middle = "\n".join((
            _leaf(i2, "objectif-formation", _text(f.get("objective"), 3000)),
            f"{i2}<resultats-attendus>{UNKNOWN_TEXT}</resultats-attendus>",
            _leaf(i2, "contenu-formation", _text(f.get("content"), 3000)),
            f"{i2}<certifiante>{'1' if f.get('certifying') else '0'}</certifiante>",
        ))  # fmt: skip
        out = [f"{i2}<code-niveau-entree>{NIVEAU_ENTREE_UNKNOWN}</code-niveau-entree>"]
        certification = []
        rncp = (_clean(f.get("rncp")) or "").upper().replace(" ", "")
        if _RNCP.match(rncp) and not rncp.startswith("RS"):
            certification.append(f"{i3}<code-RNCP>{_esc(rncp)}</code-RNCP>")
        certification.extend(
            f"{i3}<code-CERTIFINFO>{code}</code-CERTIFINFO>" for code in _codes(f.get("certifinfo"), _CERTIFINFO, 1)
        )
        if _RNCP.match(rncp) and rncp.startswith("RS"):
            certification.append(f"{i3}<code-RS>{_esc(rncp)}</code-RS>")
        if certification:
            out.append(f"{i2}<certification>\n" + "\n".join(certification) + f"\n{i2}</certification>")
        self.niveau = "\n".join(out)
        self.conditions = _leaf(_I2, "conditions-specifiques", _text(f.get("prerequisites"), 3000))
        nda = _NON_DIGITS.sub("", _clean(f.get("holder_nda")) or "")
        self.holder_siret = self.orgs.siret(_clean(f.get("holder_siret")))
        self.holder_name = self.orgs.name(self.holder_siret, _clean(f.get("holder_name")))
        name = _esc(_text(self.holder_name, 250) or "")
        self.holder_head = (
            f'{i2}<organisme-formation-responsable numero="{_attr(self.orgs.numero(self.holder_siret, self.holder_name))}">\n'
            f"{i3}<numero-activite>{nda if len(nda) == 11 else NDA_UNKNOWN}</numero-activite>\n"
            f"{i3}<SIRET-organisme-formation>\n{i3}  <SIRET>{self.holder_siret or SIRET_UNKNOWN}</SIRET>\n"
            f"{i3}</SIRET-organisme-formation>\n"
            f"{i3}<nom-organisme>{name}</nom-organisme>\n"
            f"{i3}<raison-sociale>{name}</raison-sociale>"
        )
        card = self.orgs.card(self.holder_siret)
        self.closing = self._closing(card) if card is not None else None

    def _opening_for(self, sessions: list[dict]) -> str:
        """The opening of a formation that has no row of its own: its dates from its sessions."""
        first, rest = self.opening.split("\n", 1)
        return f'{_FORMATION_INDENT}<formation numero="{self.numero}"{_span_attrs(sessions)}>\n{rest}'

    def _closing(self, card: tuple) -> bytes:
        """The responsible body's coordinates (its place, phone and mail) and contact (the
        person, phone and mail), then the end of the formation."""
        ind = _FORMATION_INDENT
        i2, i3 = ind + "  ", ind + "    "
        name, phone, mail, place = card
        return "\n".join((
            self.holder_head,
            _contact_text(i3, "coordonnees-organisme", None, phone, mail, place),
            _contact_text(i3, "contact-organisme", name, phone, mail),
            f"{i2}</organisme-formation-responsable>",
            f"{ind}</formation>",
        )).encode()  # fmt: skip

    def layout(self, sessions: list[dict], texts: list[tuple]) -> tuple[bytes, list[tuple], bytes]:
        """(head, action parts, closing) for this list of sessions (in feed order, not empty)."""
        f = self.f
        i2 = _FORMATION_INDENT + "  "
        first = sessions[0]
        title = self.title or _clean(first["title"]) or self.lot_title
        contact = next((s for s in sessions if _has_contact(s)), None)
        actions = []
        entries = set()
        start = 0
        for action_key, group in itertools.groupby(sessions, key=operator.itemgetter("action_key")):
            n = len(list(group))
            group_sessions = sessions[start : start + n]
            group_texts = texts[start : start + n]
            start += n
            action = group_sessions[0]["_action"]
            entries.add((action or {}).get("entry_mode") or group_sessions[0]["entry_mode"])
            members = tuple(x["session_key"] for x in group_sessions)
            known = self.actions.get(action_key)
            if known is not None and known[0] == members:  # the same sessions
                actions.append(known[1])
                continue
            parts = _action_parts(action_key, group_sessions, group_texts, action, f, self.conditions,
                                  self.run_date, self.pole_emploi, self.orgs)  # fmt: skip
            self.actions[action_key] = (members, parts)
            actions.append(parts)
        parcours = PARCOURS_INDIVIDUAL if entries == {model.ENTRY_PERMANENT} else PARCOURS_GROUP
        head = "\n".join((
            self.opening if formation_dates(self.f) else self._opening_for(sessions),
            _leaf(i2, "intitule-formation", _text(title, 255)),
            self.middle,
            _contact_text(i2, "contact-formation", *_contact_fields(contact)),
            f"{i2}<parcours-de-formation>{parcours}</parcours-de-formation>",
            self.niveau,
        )).encode()  # fmt: skip
        closing = self.closing
        if closing is None:  # a holder no session describes (no SIRET): the formation's first contact
            c = contact or first
            closing = self._closing(
                (c["contact_name"], c["contact_phone"], c["contact_email"], _session_place(c, c["_action"]))
            )
        return (head, actions, closing)


def _contact_fields(session: dict | None) -> tuple:
    if session is None:
        return (None, None, None)
    return (session["contact_name"], session["contact_phone"], session["contact_email"])


# Which parts of a session's text (head, delta head, mouvement, Pôle emploi lines, tail: see
# :func:`_session_parts`) each kind of feed writes, keyed by (delta, pole_emploi).
_SESSION_PICK = {
    (False, False): operator.itemgetter(0, 4),
    (False, True): operator.itemgetter(0, 3, 4),
    (True, False): operator.itemgetter(1, 2, 4),
    (True, True): operator.itemgetter(1, 2, 3, 4),
}


def _render(layout: tuple, delta: bool, pole_emploi: bool) -> bytes:
    """One feed's ``<formation>`` (first line indented, no trailing newline) from its layout."""
    head, actions, closing = layout
    pick = _SESSION_PICK[(delta, pole_emploi)]
    out = [head]
    append, extend = out.append, out.extend
    for a_head, texts, a_tail, end_carif, end_pe in actions:
        append(a_head)
        for parts in texts:
            extend(pick(parts))
        append(a_tail)
        append(end_pe if pole_emploi else end_carif)
    append(closing)
    return b"\n".join(out)


# ============================================================================================
# streaming
# ============================================================================================


def _sort_index(table: pa.Table, keys: list[str]) -> np.ndarray:
    if table.num_rows == 0:
        return np.empty(0, dtype=np.int64)
    return pc.sort_indices(table, sort_keys=[(k, "ascending") for k in keys]).to_numpy()


def _index_in(keys: pa.ChunkedArray | pa.Array, values: pa.Array) -> np.ndarray:
    """Position of each key in ``values`` (first occurrence), -1 when absent."""
    idx = pc.index_in(keys, value_set=values)
    return pc.fill_null(idx, -1).to_numpy(zero_copy_only=False).astype(np.int64)


class _EventIndex:
    """Events sorted by session, date, time and key, with each session's run of rows."""

    def __init__(self, events: pa.Table, session_keys: pa.ChunkedArray):
        n_sessions = len(session_keys)
        self.lo = np.zeros(n_sessions, dtype=np.int64)
        self.n = np.zeros(n_sessions, dtype=np.int64)
        self.table = events
        if events.num_rows == 0 or n_sessions == 0:
            return
        self.table = events.take(_sort_index(events, ["session_key", "start_date", "start_time", "event_key"]))
        ree = pc.run_end_encode(self.table.column("session_key").combine_chunks())
        ends = ree.run_ends.to_numpy().astype(np.int64)
        starts = np.concatenate([[0], ends[:-1]])
        idx = _index_in(session_keys, ree.values)
        has = idx >= 0
        ii = np.where(has, idx, 0)
        self.lo = np.where(has, starts[ii], 0)
        self.n = np.where(has, ends[ii] - starts[ii], 0)

    def for_positions(self, positions: np.ndarray) -> list[list[dict]]:
        lo, n = self.lo[positions], self.n[positions]
        total = int(n.sum())
        if total == 0:
            return [[] for _ in positions]
        offsets = np.concatenate([[0], np.cumsum(n)[:-1]])
        rows = _pylist(self.table.take(np.repeat(lo - offsets, n) + np.arange(total)))
        return [rows[o : o + k] for o, k in zip(offsets.tolist(), n.tolist(), strict=True)]


def _pylist(table: pa.Table) -> list[dict]:
    """``table.to_pylist()``, faster: column by column, then one dict per row."""
    names = table.column_names
    return [dict(zip(names, row)) for row in zip(*(c.to_pylist() for c in table.columns))]


def _iter_sessions(sessions: pa.Table, order: np.ndarray, events: _EventIndex, formations: pa.Table,
                   actions: pa.Table) -> Iterator[dict]:  # fmt: skip
    """Sessions in ``order`` as dicts, a chunk at a time, each with its events (``_events``),
    its formation row (``_formation``) and its action row (``_action``, None when absent)."""
    names = sessions.column_names
    for start in range(0, len(order), _CHUNK):
        positions = order[start : start + _CHUNK]
        chunk = sessions.take(positions)
        columns = [c.to_pylist() for c in chunk.columns]
        f_pos, a_pos = columns[names.index("_f")], columns[names.index("_a")]
        f_rows = _rows_by_position(formations, f_pos)
        a_rows = _rows_by_position(actions, a_pos)
        for values, evs, f, a in zip(zip(*columns), events.for_positions(positions), f_pos, a_pos, strict=True):
            row = dict(zip(names, values))
            row["_events"] = evs
            row["_formation"] = f_rows.get(f)
            row["_action"] = a_rows.get(a)
            yield row


def _rows_by_position(table: pa.Table, positions: list[int]) -> dict[int, dict]:
    wanted = sorted({p for p in positions if p >= 0})
    if not wanted:
        return {}
    return dict(zip(wanted, _pylist(table.take(wanted)), strict=True))


_SESSION_DATES = ("start_date", "end_date", "prescription_start", "prescription_end", *DATE_COLUMNS)


def _lheo_dates(table: pa.Table) -> pa.Table:
    """The session date columns as LHEO dates (``AAAAMMJJ`` text, null when unknown), computed
    by Arrow rather than one Python date at a time."""
    for name in _SESSION_DATES:
        col = table.column(name)
        number = pc.add(pc.add(pc.multiply(pc.year(col), 10000), pc.multiply(pc.month(col), 100)), pc.day(col))
        text = pc.utf8_lpad(pc.cast(number, pa.string()), 8, "0")
        table = table.set_column(table.schema.get_field_index(name), name, text)
    return table


@dataclass(frozen=True)
class LheoTarget:
    """One LHEO feed to write: where, which profile, full or delta."""

    sink: BinaryIO  # an open binary file-like object with .write(bytes); never seeked nor closed here
    profile: str  # "carif" | "pole_emploi"
    delta: bool = False  # True: only the sessions whose ``change`` is not null (the delta feed)


def write_lheo(path: Path, formations: pd.DataFrame, actions: pd.DataFrame, sessions: pd.DataFrame,
               events: pd.DataFrame, *, profile: str, delta: bool = False,
               run_date: date | None = None, organisations: pd.DataFrame | None = None) -> int:  # fmt: skip
    """Write an LHEO 2.3 feed and return the number of sessions written.

    ``run_date``: when given, ``date-information`` lists the next information collective
    dates on or after it (max 3); without it, the first three known dates.

    ``organisations``: the names, numeros and coordinates of the training bodies by SIRET
    (:func:`passerelle.organisations.cards` of the whole publication, so that the full and
    delta feeds describe a body the same way); computed from the tables given when None.

    The delta feed (``delta``) needs a valid ``change`` on every session of ``sessions``. A
    full feed leaves out the sessions withdrawn today (``change`` = ``withdrawn``).
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown LHEO profile {profile!r}; expected one of {PROFILES}")
    tables = _tables(formations, actions, sessions, events)
    _check_caller_columns(tables[2], delta)  # before the file is created
    orgs = _orgs_of(organisations, formations, actions, sessions)
    with open(Path(path), "wb") as fh:
        [written] = _write_feeds([LheoTarget(fh, profile, delta)], *tables, run_date=run_date, orgs=orgs)
    return written


def _orgs_of(
    organisations: pd.DataFrame | None, formations: pd.DataFrame, actions: pd.DataFrame, sessions: pd.DataFrame
) -> _Orgs:
    if organisations is None:
        from passerelle.organisations import cards

        organisations = cards(formations, sessions, actions)
    return _Orgs(organisations)


def write_lheo_feeds(targets: list[LheoTarget], formations: pd.DataFrame, actions: pd.DataFrame,
                     sessions: pd.DataFrame, events: pd.DataFrame, *, run_date: date | None = None,
                     organisations: pd.DataFrame | None = None) -> list[int]:  # fmt: skip
    """Write several LHEO feeds of the same publication in one pass over the sessions; returns
    the number of sessions written to each target.

    Each target gets exactly the bytes :func:`write_lheo` writes to its file (the document and
    a newline): a full target all of ``sessions``, a delta target those whose ``change`` is not
    null (a document without any formation when none moved; the caller decides what to do with
    it). The sinks are written in ~1 MB batches, never seeked nor closed.

    Bad caller columns raise ``ValueError`` before anything is written: a
    ``publication_status`` outside :data:`PUBLICATION_STATUSES` on a session some target
    publishes, a non-null ``change`` outside :data:`CHANGES` when a target is a delta.
    """
    targets = list(targets)
    for t in targets:
        if t.profile not in PROFILES:
            raise ValueError(f"unknown LHEO profile {t.profile!r}; expected one of {PROFILES}")
    if not targets:
        return []
    f_table, a_table, s_table, e_table = _tables(formations, actions, sessions, events)
    any_full = not all(t.delta for t in targets)
    if not any_full:  # only the moved sessions are needed
        s_table = s_table.filter(pc.is_valid(s_table.column("change")))
    _check_target_columns(s_table, any(t.delta for t in targets))
    orgs = _orgs_of(organisations, formations, actions, sessions)
    return _write_feeds(targets, f_table, a_table, s_table, e_table, run_date=run_date, orgs=orgs)


def _tables(formations, actions, sessions, events) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table]:
    f_table = to_table(formations, model.FORMATIONS, DATE_COLUMNS).select(_F_COLS + list(DATE_COLUMNS))
    a_table = to_table(actions, model.ACTIONS, DATE_COLUMNS).select(_A_COLS + list(DATE_COLUMNS))
    s_table = to_table(sessions, model.SESSIONS, ("publication_status", "change", *DATE_COLUMNS))
    s_table = s_table.select(_S_COLS + ["publication_status", "change", *DATE_COLUMNS])
    e_table = to_table(events, model.EVENTS).select(_E_COLS)
    return f_table, a_table, s_table, e_table


def _check_caller_columns(s_table: pa.Table, delta: bool) -> None:
    """Refuse bad caller columns before anything is written (:func:`write_lheo`: a delta
    feed needs a valid ``change`` on every session)."""
    _check_publication_status(s_table)
    if delta:
        change = s_table.column("change")
        bad = pc.filter(change, pc.invert(pc.fill_null(pc.is_in(change, pa.array(list(CHANGES))), False)))
        if len(bad):
            raise ValueError(
                f"the delta feed needs change in {sorted(CHANGES)} on every session, got {bad[0].as_py()!r}"
            )


def _check_target_columns(s_table: pa.Table, delta: bool) -> None:
    """Refuse bad caller columns before anything is written (:func:`write_lheo_feeds`: a null
    ``change`` only keeps the session out of the delta feed)."""
    _check_publication_status(s_table)
    if delta:
        change = s_table.column("change")
        unknown = pc.and_(pc.is_valid(change), pc.invert(pc.is_in(change, pa.array(list(CHANGES)))))
        bad = pc.filter(change, unknown)
        if len(bad):
            raise ValueError(f"the delta feed needs change in {sorted(CHANGES)} (or null), got {bad[0].as_py()!r}")


def _check_publication_status(s_table: pa.Table) -> None:
    status = s_table.column("publication_status")
    bad = pc.drop_null(pc.filter(status, pc.invert(pc.is_in(status, pa.array(list(PUBLICATION_STATUSES))))))
    if len(bad):
        raise ValueError(f"publication_status must be one of {sorted(PUBLICATION_STATUSES)}, got {bad[0].as_py()!r}")


_HEAD = f"<?xml version='1.0' encoding='UTF-8'?>\n<lheo xmlns=\"{NS}\">\n  <offres>".encode()
_TAIL = b"\n  </offres>\n</lheo>"
_FLUSH_CHARS = 1 << 20  # bytes buffered per target before a write


def _write_all(sink, data: bytes) -> None:
    """``sink.write(data)``, also on a raw (unbuffered) file that may take only part of it."""
    written = sink.write(data)
    if written is None or written >= len(data):
        return
    view = memoryview(data)
    while written < len(data):
        n = sink.write(view[written:])
        if not n:
            raise OSError(f"the LHEO feed sink took no bytes ({written} of {len(data)} written)")
        written += n


def _write_feeds(targets: list[LheoTarget], f_table: pa.Table, a_table: pa.Table, s_table: pa.Table,
                 e_table: pa.Table, *, run_date: date | None, orgs: _Orgs | None = None) -> list[int]:  # fmt: skip
    """Write each target's document in one pass over the sessions (checked already)."""
    s_table = _lheo_dates(s_table)
    order = _sort_index(s_table, ["formation_key", "action_key", "session_key"])
    f_pos = _index_in(s_table.column("formation_key"), f_table.column("formation_key").combine_chunks())
    a_pos = _index_in(s_table.column("action_key"), a_table.column("action_key").combine_chunks())
    s_table = s_table.append_column("_f", pa.array(f_pos)).append_column("_a", pa.array(a_pos))
    event_index = _EventIndex(e_table, s_table.column("session_key"))
    del e_table, f_pos, a_pos

    any_full = not all(t.delta for t in targets)
    any_delta = any(t.delta for t in targets)
    pole_emploi = any(t.profile == "pole_emploi" for t in targets)
    modes = [(t.delta, t.profile == "pole_emploi") for t in targets]
    written = [0] * len(targets)
    buffers: list[list[bytes]] = [[] for _ in targets]
    sizes = [0] * len(targets)
    for t in targets:
        _write_all(t.sink, _HEAD)
    stream = _iter_sessions(s_table, order, event_index, f_table, a_table)
    for formation_key, rows in itertools.groupby(stream, key=operator.itemgetter("formation_key")):
        group = list(rows)
        f = group[0]["_formation"]
        texts = [_session_parts(s, f or {}, any_delta, pole_emploi) for s in group]
        formation = _Formation(formation_key, f, run_date, pole_emploi, orgs)
        full = moved = None
        n_full = n_moved = len(group)
        if any_full:  # a session withdrawn today is only in the delta
            listed = [i for i, s in enumerate(group) if s["change"] != WITHDRAWN]
            n_full = len(listed)
            if n_full == len(group):
                full = moved = formation.layout(group, texts)
            elif listed:
                full = formation.layout([group[i] for i in listed], [texts[i] for i in listed])
        if any_delta:
            if any_full:
                keep = [i for i, s in enumerate(group) if s["change"] is not None]
                n_moved = len(keep)
                if not keep:
                    moved = None
                elif n_moved != len(group) or full is None or n_full != len(group):
                    moved = formation.layout([group[i] for i in keep], [texts[i] for i in keep])
            else:  # only moved sessions were streamed
                moved = formation.layout(group, texts)
        for i, (delta, pe) in enumerate(modes):
            layout = moved if delta else full
            if layout is None:
                continue
            data = _render(layout, delta, pe)
            buf = buffers[i]
            buf.append(b"\n")
            buf.append(data)
            sizes[i] += len(data)
            written[i] += n_moved if delta else n_full
            if sizes[i] > _FLUSH_CHARS:
                _write_all(targets[i].sink, b"".join(buf))
                buf.clear()
                sizes[i] = 0
    for t, buf in zip(targets, buffers, strict=True):
        buf.append(_TAIL)
        buf.append(b"\n")  # the file ends with a newline after the document
        _write_all(t.sink, b"".join(buf))
    return written
