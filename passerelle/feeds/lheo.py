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

LHEO hierarchy (``formation`` > ``action`` > ``session``) and identifiers:
``formation/@numero`` = ``formation_key``, ``action/@numero`` = ``action_key``,
``session/@numero`` = ``session_key``. An EOS session whose action has no row in ``actions``
gets its LHEO action derived from its own ``action_key``, training body, SIRET, address and
entry mode.

Memory does not grow with the feed: sessions are visited in ``(formation_key, action_key,
session_key)`` order through a sort index, converted to Python objects a chunk at a time, and
each ``<formation>`` is produced as text (exactly what lxml would serialise for the same tree,
indented) and written out in ~1 MB batches. Output bytes are deterministic: stable order, no
timestamp, UTF-8 with an XML declaration, two-space indentation.

The ``extras`` vocabulary (``<extras info="passerelle">`` on every session) is documented in
:data:`EXTRAS_DOC` and in the README.
"""

from __future__ import annotations

import functools
import itertools
import re
import textwrap
from collections.abc import Iterator
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

from passerelle import model

NS = "http://lheo.gouv.fr/2.3"
PROFILES = ("carif", "pole_emploi")
PUBLICATION_STATUSES = {"current": "courant", "kept": "conserve", "vanished": "disparue"}
CHANGES = {"created": "creation", "updated": "modification", "cancelled": "annulation"}
RECRUITMENT_CODES = {
    model.RECRUITMENT_OPEN: "1",
    model.RECRUITMENT_CLOSED: "2",
    model.RECRUITMENT_SUSPENDED: "3",
}
ENTRY_CODES = {model.ENTRY_FIXED: "0", model.ENTRY_PERMANENT: "1"}

# LHEO values we have no source for. Each one is what real Intercarif feeds carry.
UNKNOWN_TEXT = "-"  # objectif / resultats-attendus / contenu / rythme / alternance / conditions
# FORMACODE V12 public code carried by the Région-financed action of the real Intercarif feed
# (reference/lheo/samples/trefle-formation.xml, action 07_123324, code-financeur 2).
PUBLIC_VISE_CODE = "80006"
PUBLIC_VISE_REF = "V12"
NIVEAU_ENTREE_UNKNOWN = "0"  # dict-niveaux 0 "information non communiquée"
PARCOURS_GROUP = "1"  # dict-type-parcours 1 "en groupe"
PARCOURS_INDIVIDUAL = "2"  # dict-type-parcours 2 "individualisé" (only permanent-entry actions)
MODALITES_ENSEIGNEMENT_PRESENTIEL = "0"
NDA_UNKNOWN = "00000000000"  # numero-activite is mandatory (11 characters)
SIRET_UNKNOWN = "00000000000000"  # SIRET-organisme-formation is mandatory (14 characters)
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
_F_COLS = [
    "formation_key", "marche_numero", "title", "lot_title", "objective", "content", "prerequisites",
    "formacode", "rome", "certifying", "rncp", "hours_centre", "hours_company",
    "holder_name", "holder_siret", "holder_nda", "financer",
]  # fmt: skip
_A_COLS = [
    "action_key", "organisme_formateur", "siret_formateur", "address_line", "postcode", "city",
    "insee_code", "entry_mode", "hours_centre", "hours_company",
]  # fmt: skip
_S_COLS = [
    "session_key", "action_key", "formation_key", "source", "marche_numero", "title",
    "organisme_formateur", "siret_formateur", "site", "address_line", "address_complement",
    "postcode", "city", "insee_code", "start_date", "end_date", "prescription_start",
    "prescription_end", "entry_mode", "places", "places_region", "places_pole_emploi",
    "hours_centre_avg", "hours_company_avg", "cancelled", "recruitment_state", "contact_name",
    "contact_phone", "contact_email", "financer",
]  # fmt: skip
_E_COLS = [
    "event_key", "session_key", "event_type", "is_information_collective", "start_date",
    "start_time", "end_time", "places", "cancelled", "address_line", "postcode", "city",
]  # fmt: skip


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
        if name in df.columns:
            arr = pa.array(df[name].astype(object).where(df[name].notna(), None).tolist(), type=pa.string())
        else:
            arr = pa.nulls(len(df), pa.string())
        table = table.append_column(name, arr)
    return table


# French overseas departments share the 0 + 9 digits national plan with their own country code.
_OVERSEAS_REGIONS = ("RE", "YT", "GP", "MQ", "GF")
_OVERSEAS_PREFIXES = frozenset({"262", "263", "269", "590", "594", "596", "639", "690", "691", "692", "693", "694", "696", "697"})


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
        "insee": src.get("insee_code"),
    }


def _present(value) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value)) and str(value).strip() != ""


def _clean(value) -> str | None:
    """Text safe for XML 1.0, stripped; None when empty."""
    if value.__class__ is str and _XML_INVALID.search(value) is None:  # the common case, same answer
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


def _lheo_date(value, default: str) -> str:
    if value is None:
        return default
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"


def _whole(value) -> str | None:
    """LHEO counts and hours are ``xs:long``: round half up to a whole number."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
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


def _adresse(out: list[str], ind: str, addr: dict, denomination: str | None = None) -> None:
    """``<adresse>``: ligne 1..4 (50 characters each), codepostal, ville, code-INSEE-commune.

    The postcode is written as received: a session without a 5-digit postcode cannot be
    published (DQ015 error), so a bad one here is an upstream bug that validation must catch.
    """
    i2 = ind + "  "
    out.append(f"{ind}<adresse>")
    if denomination:
        out.append(_leaf(i2, "denomination", _text(denomination, 255)))
    lines: list[str] = []
    for part in (addr.get("line"), addr.get("complement")):
        text = _clean(part)
        if text:
            lines.extend([text] if len(text) <= 50 else textwrap.wrap(text, 50, break_long_words=True))
    for line in (lines or [UNKNOWN_TEXT])[:4]:
        out.append(f"{i2}<ligne>{_esc(line)}</ligne>")
    out.append(_leaf(i2, "codepostal", _clean(addr.get("postcode")) or ""))
    out.append(_leaf(i2, "ville", _text(addr.get("city"), 50)))
    insee = _clean(addr.get("insee"))
    if insee and _INSEE.match(insee):
        out.append(f"{i2}<code-INSEE-commune>{_esc(insee)}</code-INSEE-commune>")
    out.append(f"{ind}</adresse>")


def _contact(out: list[str], ind: str, tag: str, session: dict | None) -> None:
    """A ``contact-*`` element from a session's contact: nom, telfixe or portable, courriel."""
    i2 = ind + "  "
    i3 = i2 + "  "
    inner: list[str] = []
    if session is not None:
        name = _text(session.get("contact_name"), 50, default=None)
        if name:
            inner.append(f"{i3}<nom>{_esc(name)}</nom>")
        phone = format_phone(_clean(session.get("contact_phone")))
        if phone:
            phone = phone[:25]
            kind = "portable" if is_mobile(phone) else "telfixe"
            inner.append(f"{i3}<{kind}>\n{i3}  <numtel>{_esc(phone)}</numtel>\n{i3}</{kind}>")
        mail = _clean(session.get("contact_email"))
        if mail and 3 <= len(mail) <= 160:
            inner.append(f"{i3}<courriel>{_esc(mail)}</courriel>")
    out.append(f"{ind}<{tag}>")
    if inner:
        out.append(f"{i2}<coordonnees>")
        out.extend(inner)
        out.append(f"{i2}</coordonnees>")
    else:
        out.append(f"{i2}<coordonnees/>")
    out.append(f"{ind}</{tag}>")


def _has_contact(session: dict) -> bool:
    return _present(session.get("contact_name")) or _present(session.get("contact_phone"))


def _event_type(event: dict) -> str:
    if event.get("is_information_collective"):
        return "information-collective"
    raw = (_clean(event.get("event_type")) or "").lower()
    return EVENT_TYPES.get(raw, "autre")


def _event_place(event: dict) -> str | None:
    parts = [_clean(event.get("address_line")), " ".join(p for p in (_clean(event.get("postcode")), _clean(event.get("city"))) if p)]
    text = ", ".join(p for p in parts if p)
    return text or None


def _session(out: list[str], ind: str, s: dict, action: dict | None, formation: dict | None, *, profile: str,
             delta: bool) -> None:  # fmt: skip
    i2 = ind + "  "
    i3 = i2 + "  "
    i4 = i3 + "  "
    out.append(f'{ind}<session numero="{_attr(s["session_key"])}">')
    out.append(f"{i2}<periode>\n{i3}<debut>{_lheo_date(s.get('start_date'), DATE_UNKNOWN_START)}</debut>\n"
               f"{i3}<fin>{_lheo_date(s.get('end_date'), DATE_UNKNOWN_END)}</fin>\n{i2}</periode>")
    out.append(f"{i2}<adresse-inscription>")
    _adresse(out, i3, pick_address(s, action), denomination=_clean(s.get("site")))
    out.append(f"{i2}</adresse-inscription>")
    if s.get("prescription_start") is not None or s.get("prescription_end") is not None:
        out.append(f"{i2}<periode-inscription>\n{i3}<periode>\n"
                   f"{i4}<debut>{_lheo_date(s.get('prescription_start'), DATE_UNKNOWN_START)}</debut>\n"
                   f"{i4}<fin>{_lheo_date(s.get('prescription_end'), DATE_UNKNOWN_END)}</fin>\n"
                   f"{i3}</periode>\n{i2}</periode-inscription>")
    cancelled = bool(s.get("cancelled")) or (delta and s.get("change") == "cancelled")
    state = "2" if cancelled else RECRUITMENT_CODES.get(s.get("recruitment_state") or "", "1")
    out.append(f"{i2}<etat-recrutement>{state}</etat-recrutement>")
    if _has_contact(s):
        _contact(out, i2, "contact-session", s)

    out.append(f'{i2}<extras info="passerelle">')
    out.append(f'{i3}<extra info="annulee">{"1" if cancelled else "0"}</extra>')
    out.append(f'{i3}<extra info="public">{"0" if (cancelled or state == "2") else "1"}</extra>')
    status = s.get("publication_status") or "current"
    if status not in PUBLICATION_STATUSES:
        raise ValueError(f"session {s['session_key']}: unknown publication_status {status!r}")
    out.append(f'{i3}<extra info="statut-publication">{PUBLICATION_STATUSES[status]}</extra>')
    if delta:
        change = s.get("change")
        if change not in CHANGES:
            raise ValueError(f"session {s['session_key']}: delta feed needs change in {sorted(CHANGES)}, got {change!r}")
        out.append(f'{i3}<extra info="mouvement">{CHANGES[change]}</extra>')
    if profile == "pole_emploi":
        marche = _clean(s.get("marche_numero")) or _clean((formation or {}).get("marche_numero"))
        if marche:
            out.append(f'{i3}<extra info="numero-marche">{_esc(marche)}</extra>')
        out.append(f'{i3}<extra info="places-pole-emploi">{int(s.get("places_pole_emploi") or 0)}</extra>')
    events = s.get("_events") or []
    if events:
        i5 = i4 + "  "
        out.append(f'{i3}<extras info="evenements">')
        for ev in events:
            out.append(f'{i4}<extras info="evenement" numero="{_attr(ev["event_key"])}">')
            out.append(f'{i5}<extra info="type">{_event_type(ev)}</extra>')
            if ev.get("start_date") is not None:
                out.append(f'{i5}<extra info="date">{_lheo_date(ev["start_date"], DATE_UNKNOWN_START)}</extra>')
            for info, col in (("heure-debut", "start_time"), ("heure-fin", "end_time")):
                value = _clean(ev.get(col))
                if value:
                    out.append(f'{i5}<extra info="{info}">{_esc(value)}</extra>')
            place = _event_place(ev)
            if place:
                out.append(f'{i5}<extra info="lieu">{_esc(place)}</extra>')
            if ev.get("places") is not None:
                out.append(f'{i5}<extra info="places">{int(ev["places"])}</extra>')
            out.append(f'{i5}<extra info="annule">{"1" if ev.get("cancelled") else "0"}</extra>')
            out.append(f"{i4}</extras>")
        out.append(f"{i3}</extras>")
    out.append(f"{i2}</extras>")
    out.append(f"{ind}</session>")


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
                best = (key, {"line": ev.get("address_line"), "postcode": pc_, "city": ev.get("city")})
    return best[1] if best else None


_SIRET_SEPARATORS = re.compile(r"[\s.\-]")
_NON_DIGITS = re.compile(r"\D")


def _action(out: list[str], ind: str, action_key: str, sessions: list[dict], action: dict | None,
            formation: dict | None, *, profile: str, delta: bool, run_date: date | None) -> None:  # fmt: skip
    first = sessions[0]
    a = action or {}
    i2 = ind + "  "
    i3 = i2 + "  "
    out.append(f'{ind}<action numero="{_attr(action_key)}">')
    out.append(f"{i2}<rythme-formation>{UNKNOWN_TEXT}</rythme-formation>")
    out.append(f'{i2}<code-public-vise ref="{PUBLIC_VISE_REF}">{PUBLIC_VISE_CODE}</code-public-vise>')
    out.append(f"{i2}<niveau-entree-obligatoire>0</niveau-entree-obligatoire>")
    hours_company = a.get("hours_company")
    if hours_company is None:
        hours_company = first.get("hours_company_avg")
    if hours_company is None and formation:
        hours_company = formation.get("hours_company")
    hours_centre = a.get("hours_centre")
    if hours_centre is None:
        hours_centre = first.get("hours_centre_avg")
    if hours_centre is None and formation:
        hours_centre = formation.get("hours_centre")
    alternance = UNKNOWN_TEXT
    if hours_company:
        alternance = f"{_whole(hours_company)} heures en entreprise"
    out.append(f"{i2}<modalites-alternance>{_esc(alternance)}</modalites-alternance>")
    out.append(f"{i2}<modalites-enseignement>{MODALITES_ENSEIGNEMENT_PRESENTIEL}</modalites-enseignement>")
    out.append(_leaf(i2, "conditions-specifiques", _text((formation or {}).get("prerequisites"), 3000)))
    out.append(f"{i2}<prise-en-charge-frais-possible>1</prise-en-charge-frais-possible>")
    # the action's own place when it has one, else its first session's
    has_place = action is not None and (_present(a.get("postcode")) or _present(a.get("city")))
    place = pick_address({}, action) if has_place else pick_address(first, None)
    out.append(f"{i2}<lieu-de-formation>\n{i3}<coordonnees>")
    _adresse(out, i3 + "  ", place, denomination=_clean(first.get("site")))
    out.append(f"{i3}</coordonnees>\n{i2}</lieu-de-formation>")
    entry = a.get("entry_mode") or first.get("entry_mode")
    out.append(f"{i2}<modalites-entrees-sorties>{ENTRY_CODES.get(entry or '', '0')}</modalites-entrees-sorties>")
    for s in sessions:
        _session(out, i2, s, action, formation, profile=profile, delta=delta)
    info_address = _next_information_address(sessions, run_date)
    if info_address:
        out.append(f"{i2}<adresse-information>")
        _adresse(out, i3, info_address)
        out.append(f"{i2}</adresse-information>")
    for d in _next_information_dates(sessions, run_date):
        out.append(f"{i2}<date-information>\n{i3}<date>{_lheo_date(d, DATE_UNKNOWN_START)}</date>\n{i2}</date-information>")
    if hours_centre is not None:
        out.append(_leaf(i2, "nombre-heures-centre", _whole(hours_centre)))
    if hours_company is not None:
        out.append(_leaf(i2, "nombre-heures-entreprise", _whole(hours_company)))

    out.append(f"{i2}<organisme-formateur>")
    siret = _clean(a.get("siret_formateur")) or _clean(first.get("siret_formateur")) or ""
    out.append(f"{i3}<SIRET-formateur>\n{i3}  " + _leaf("", "SIRET", _SIRET_SEPARATORS.sub("", siret))
               + f"\n{i3}</SIRET-formateur>")
    name = _clean(a.get("organisme_formateur")) or _clean(first.get("organisme_formateur"))
    out.append(_leaf(i3, "raison-sociale-formateur", _text(name, 250)))
    contact_session = next((s for s in sessions if _has_contact(s)), None)
    if contact_session is not None:
        _contact(out, i3, "contact-formateur", contact_session)
    out.append(f"{i2}</organisme-formateur>")

    live = [s for s in sessions if not s.get("cancelled")]
    buyer = _clean((formation or {}).get("financer")) or _clean(first.get("financer")) or model.FINANCER_REGION
    financers = [(buyer, sum(int(_first_not_none(s.get("places_region"), s.get("places"), 0)) for s in live))]
    if profile == "pole_emploi" and buyer != model.FINANCER_POLE_EMPLOI:
        pe = sum(int(s.get("places_pole_emploi") or 0) for s in live)
        if pe > 0:
            financers.append((model.FINANCER_POLE_EMPLOI, pe))
    for code, places in financers:
        out.append(f"{i2}<organisme-financeur>\n{i3}<code-financeur>{_esc(code)}</code-financeur>\n"
                   f"{i3}<nb-places-financees>{places}</nb-places-financees>\n{i2}</organisme-financeur>")
    out.append(f"{ind}</action>")


def _first_not_none(*values):
    for v in values:
        if v is not None:
            return v
    return None


_FORMATION_INDENT = "    "  # level 2: lheo > offres > formation


def _formation(formation_key: str, sessions: list[dict], formation: dict | None, actions: dict[str, dict | None],
               *, profile: str, delta: bool, run_date: date | None) -> str:  # fmt: skip
    """One ``<formation>`` as text (first line indented, no trailing newline)."""
    f = formation or {}
    first = sessions[0]
    ind = _FORMATION_INDENT
    i2 = ind + "  "
    i3 = i2 + "  "
    out: list[str] = [f'{ind}<formation xmlns="{NS}" numero="{_attr(formation_key)}">']
    domaine: list[str] = []
    formacode = _clean(f.get("formacode"))
    if formacode and _DIGITS5.match(formacode):
        domaine.append(f"{i3}<code-FORMACODE>{_esc(formacode)}</code-FORMACODE>")
    rome = _clean(f.get("rome"))
    if rome and _ROME.match(rome.upper()):
        domaine.append(f"{i3}<code-ROME>{_esc(rome.upper())}</code-ROME>")
    if domaine:
        out.append(f"{i2}<domaine-formation>")
        out.extend(domaine)
        out.append(f"{i2}</domaine-formation>")
    else:
        out.append(f"{i2}<domaine-formation/>")
    title = _clean(f.get("title")) or _clean(first.get("title")) or _clean(f.get("lot_title"))
    out.append(_leaf(i2, "intitule-formation", _text(title, 255)))
    out.append(_leaf(i2, "objectif-formation", _text(f.get("objective"), 3000)))
    out.append(f"{i2}<resultats-attendus>{UNKNOWN_TEXT}</resultats-attendus>")
    out.append(_leaf(i2, "contenu-formation", _text(f.get("content"), 3000)))
    out.append(f"{i2}<certifiante>{'1' if f.get('certifying') else '0'}</certifiante>")
    _contact(out, i2, "contact-formation", next((s for s in sessions if _has_contact(s)), None))
    by_action = [(k, list(g)) for k, g in itertools.groupby(sessions, key=lambda s: s["action_key"])]
    entries = {(actions.get(k) or {}).get("entry_mode") or g[0].get("entry_mode") for k, g in by_action}
    parcours = PARCOURS_INDIVIDUAL if entries == {model.ENTRY_PERMANENT} else PARCOURS_GROUP
    out.append(f"{i2}<parcours-de-formation>{parcours}</parcours-de-formation>")
    out.append(f"{i2}<code-niveau-entree>{NIVEAU_ENTREE_UNKNOWN}</code-niveau-entree>")
    rncp = (_clean(f.get("rncp")) or "").upper().replace(" ", "")
    if _RNCP.match(rncp):
        tag = "code-RS" if rncp.startswith("RS") else "code-RNCP"
        out.append(f"{i2}<certification>\n{i3}<{tag}>{_esc(rncp)}</{tag}>\n{i2}</certification>")
    for action_key, group in by_action:
        _action(out, i2, action_key, group, actions.get(action_key), f,
                profile=profile, delta=delta, run_date=run_date)  # fmt: skip

    nda = _NON_DIGITS.sub("", _clean(f.get("holder_nda")) or "")
    siret = _NON_DIGITS.sub("", _clean(f.get("holder_siret")) or "")
    holder_name = _esc(_text(f.get("holder_name"), 250))
    out.append(
        f"{i2}<organisme-formation-responsable>\n"
        f"{i3}<numero-activite>{nda if len(nda) == 11 else NDA_UNKNOWN}</numero-activite>\n"
        f"{i3}<SIRET-organisme-formation>\n{i3}  <SIRET>{siret if len(siret) == 14 else SIRET_UNKNOWN}</SIRET>\n"
        f"{i3}</SIRET-organisme-formation>\n"
        f"{i3}<nom-organisme>{holder_name}</nom-organisme>\n"
        f"{i3}<raison-sociale>{holder_name}</raison-sociale>\n"
        f"{i3}<coordonnees-organisme>\n{i3}  <coordonnees/>\n{i3}</coordonnees-organisme>\n"
        f"{i3}<contact-organisme>\n{i3}  <coordonnees/>\n{i3}</contact-organisme>\n"
        f"{i2}</organisme-formation-responsable>"
    )
    out.append(f"{ind}</formation>")
    return "\n".join(out)


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
        rows = self.table.take(np.repeat(lo - offsets, n) + np.arange(total)).to_pylist()
        return [rows[o : o + k] for o, k in zip(offsets.tolist(), n.tolist(), strict=True)]


def _iter_sessions(sessions: pa.Table, order: np.ndarray, events: _EventIndex, formations: pa.Table,
                   actions: pa.Table) -> Iterator[dict]:  # fmt: skip
    """Sessions in ``order`` as dicts, a chunk at a time, each with its events (``_events``),
    its formation row (``_formation``) and its action row (``_action``, None when absent)."""
    for start in range(0, len(order), _CHUNK):
        positions = order[start : start + _CHUNK]
        rows = sessions.take(positions).to_pylist()
        f_rows = _rows_by_position(formations, [r["_f"] for r in rows])
        a_rows = _rows_by_position(actions, [r["_a"] for r in rows])
        for row, evs in zip(rows, events.for_positions(positions), strict=True):
            row["_events"] = evs
            row["_formation"] = f_rows.get(row["_f"])
            row["_action"] = a_rows.get(row["_a"])
            yield row


def _rows_by_position(table: pa.Table, positions: list[int]) -> dict[int, dict]:
    wanted = sorted({p for p in positions if p >= 0})
    if not wanted:
        return {}
    return dict(zip(wanted, table.take(wanted).to_pylist(), strict=True))


def write_lheo(path: Path, formations: pd.DataFrame, actions: pd.DataFrame, sessions: pd.DataFrame,
               events: pd.DataFrame, *, profile: str, delta: bool = False,
               run_date: date | None = None) -> int:  # fmt: skip
    """Write an LHEO 2.3 feed and return the number of sessions written.

    ``run_date``: when given, ``date-information`` lists the next information collective
    dates on or after it (max 3); without it, the first three known dates.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown LHEO profile {profile!r}; expected one of {PROFILES}")
    f_table = to_table(formations, model.FORMATIONS).select(_F_COLS)
    a_table = to_table(actions, model.ACTIONS).select(_A_COLS)
    s_table = to_table(sessions, model.SESSIONS, ("publication_status", "change"))
    s_table = s_table.select(_S_COLS + ["publication_status", "change"])
    e_table = to_table(events, model.EVENTS).select(_E_COLS)

    _check_caller_columns(s_table, delta)

    order = _sort_index(s_table, ["formation_key", "action_key", "session_key"])
    f_pos = _index_in(s_table.column("formation_key"), f_table.column("formation_key").combine_chunks())
    a_pos = _index_in(s_table.column("action_key"), a_table.column("action_key").combine_chunks())
    s_table = s_table.append_column("_f", pa.array(f_pos)).append_column("_a", pa.array(a_pos))
    event_index = _EventIndex(e_table, s_table.column("session_key"))
    del e_table, f_pos, a_pos

    with open(Path(path), "wb") as fh:
        written = _stream(fh, s_table, order, event_index, f_table, a_table,
                          profile=profile, delta=delta, run_date=run_date)  # fmt: skip
        fh.write(b"\n")
    return written


def _check_caller_columns(s_table: pa.Table, delta: bool) -> None:
    """Refuse bad caller columns before anything is written."""
    status = s_table.column("publication_status")
    bad = pc.drop_null(pc.filter(status, pc.invert(pc.is_in(status, pa.array(list(PUBLICATION_STATUSES))))))
    if len(bad):
        raise ValueError(f"publication_status must be one of {sorted(PUBLICATION_STATUSES)}, got {bad[0].as_py()!r}")
    if delta:
        change = s_table.column("change")
        bad = pc.filter(change, pc.invert(pc.fill_null(pc.is_in(change, pa.array(list(CHANGES))), False)))
        if len(bad):
            raise ValueError(f"the delta feed needs change in {sorted(CHANGES)} on every session, got {bad[0].as_py()!r}")


_HEAD = f"<?xml version='1.0' encoding='UTF-8'?>\n<lheo xmlns=\"{NS}\">\n  <offres>".encode()
_TAIL = b"\n  </offres>\n</lheo>"
_FLUSH_CHARS = 1 << 20


def _stream(fh, s_table: pa.Table, order: np.ndarray, event_index: _EventIndex, f_table: pa.Table,
            a_table: pa.Table, *, profile: str, delta: bool, run_date: date | None) -> int:  # fmt: skip
    """Write the document; one ``<formation>`` in memory at a time (buffered by ~1 MB)."""
    written = 0
    fh.write(_HEAD)
    buf: list[str] = []
    size = 0
    stream = _iter_sessions(s_table, order, event_index, f_table, a_table)
    for formation_key, rows in itertools.groupby(stream, key=lambda s: s["formation_key"]):
        group = list(rows)
        action_map: dict[str, dict | None] = {}
        for s in group:
            action_map.setdefault(s["action_key"], s["_action"])
        text = _formation(formation_key, group, group[0]["_formation"], action_map,
                          profile=profile, delta=delta, run_date=run_date)  # fmt: skip
        buf.append("\n")
        buf.append(text)
        size += len(text)
        written += len(group)
        if size > _FLUSH_CHARS:
            fh.write("".join(buf).encode("utf-8"))
            buf.clear()
            size = 0
    fh.write("".join(buf).encode("utf-8"))
    fh.write(_TAIL)
    return written
