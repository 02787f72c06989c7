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
each ``<formation>`` subtree is built, written with ``xmlfile.write`` and dropped. Output bytes
are deterministic: stable order, no timestamp, UTF-8 with an XML declaration, two-space
indentation.

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
from lxml import etree

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
    return str(int(Decimal(repr(float(value))).quantize(_ONE, rounding=ROUND_HALF_UP)))


_ONE = Decimal(1)


# ============================================================================================
# XML building
# ============================================================================================


_QNAMES: dict[str, str] = {}


def _q(tag: str) -> str:
    qname = _QNAMES.get(tag)
    if qname is None:
        qname = _QNAMES[tag] = f"{{{NS}}}{tag}"
    return qname


_SubElement = etree.SubElement


def _sub(parent, tag: str, text: str | None = None, **attrs) -> etree._Element:
    el = _SubElement(parent, _QNAMES.get(tag) or _q(tag), attrs) if attrs else _SubElement(parent, _QNAMES.get(tag) or _q(tag))
    if text is not None:
        el.text = text
    return el


def _adresse(parent, addr: dict, denomination: str | None = None) -> None:
    """``<adresse>``: ligne 1..4 (50 characters each), codepostal, ville, code-INSEE-commune.

    The postcode is written as received: a session without a 5-digit postcode cannot be
    published (DQ015 error), so a bad one here is an upstream bug that validation must catch.
    """
    adresse = _sub(parent, "adresse")
    if denomination:
        _sub(adresse, "denomination", _text(denomination, 255))
    lines: list[str] = []
    for part in (addr.get("line"), addr.get("complement")):
        text = _clean(part)
        if text:
            lines.extend([text] if len(text) <= 50 else textwrap.wrap(text, 50, break_long_words=True))
    for line in (lines or [UNKNOWN_TEXT])[:4]:
        _sub(adresse, "ligne", line)
    _sub(adresse, "codepostal", _clean(addr.get("postcode")) or "")
    _sub(adresse, "ville", _text(addr.get("city"), 50))
    insee = _clean(addr.get("insee"))
    if insee and _INSEE.match(insee):
        _sub(adresse, "code-INSEE-commune", insee)


def _contact(parent, tag: str, session: dict | None) -> None:
    """A ``contact-*`` element from a session's contact: nom, telfixe or portable, courriel."""
    contact = _sub(parent, tag)
    coord = _sub(contact, "coordonnees")
    if session is None:
        return
    name = _text(session.get("contact_name"), 50, default=None)
    if name:
        _sub(coord, "nom", name)
    phone = format_phone(_clean(session.get("contact_phone")))
    if phone:
        phone = phone[:25]
        tel = _sub(coord, "portable" if is_mobile(phone) else "telfixe")
        _sub(tel, "numtel", phone)
    mail = _clean(session.get("contact_email"))
    if mail and 3 <= len(mail) <= 160:
        _sub(coord, "courriel", mail)


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


def _extra(parent, info: str, value: str, **attrs) -> None:
    _sub(parent, "extra", value, info=info, **attrs)


def _session(parent, s: dict, action: dict | None, formation: dict | None, *, profile: str, delta: bool) -> None:
    el = _sub(parent, "session", numero=s["session_key"])
    periode = _sub(el, "periode")
    _sub(periode, "debut", _lheo_date(s.get("start_date"), DATE_UNKNOWN_START))
    _sub(periode, "fin", _lheo_date(s.get("end_date"), DATE_UNKNOWN_END))
    inscription = _sub(el, "adresse-inscription")
    _adresse(inscription, pick_address(s, action), denomination=_clean(s.get("site")))
    if s.get("prescription_start") is not None or s.get("prescription_end") is not None:
        pi = _sub(_sub(el, "periode-inscription"), "periode")
        _sub(pi, "debut", _lheo_date(s.get("prescription_start"), DATE_UNKNOWN_START))
        _sub(pi, "fin", _lheo_date(s.get("prescription_end"), DATE_UNKNOWN_END))
    cancelled = bool(s.get("cancelled")) or (delta and s.get("change") == "cancelled")
    state = "2" if cancelled else RECRUITMENT_CODES.get(s.get("recruitment_state") or "", "1")
    _sub(el, "etat-recrutement", state)
    if _has_contact(s):
        _contact(el, "contact-session", s)

    extras = _sub(el, "extras", info="passerelle")
    _extra(extras, "annulee", "1" if cancelled else "0")
    _extra(extras, "public", "0" if (cancelled or state == "2") else "1")
    status = s.get("publication_status") or "current"
    if status not in PUBLICATION_STATUSES:
        raise ValueError(f"session {s['session_key']}: unknown publication_status {status!r}")
    _extra(extras, "statut-publication", PUBLICATION_STATUSES[status])
    if delta:
        change = s.get("change")
        if change not in CHANGES:
            raise ValueError(f"session {s['session_key']}: delta feed needs change in {sorted(CHANGES)}, got {change!r}")
        _extra(extras, "mouvement", CHANGES[change])
    if profile == "pole_emploi":
        marche = _clean(s.get("marche_numero")) or _clean((formation or {}).get("marche_numero"))
        if marche:
            _extra(extras, "numero-marche", marche)
        _extra(extras, "places-pole-emploi", str(int(s.get("places_pole_emploi") or 0)))
    events = s.get("_events") or []
    if events:
        evs = _sub(extras, "extras", info="evenements")
        for ev in events:
            one = _sub(evs, "extras", info="evenement", numero=ev["event_key"])
            _extra(one, "type", _event_type(ev))
            if ev.get("start_date") is not None:
                _extra(one, "date", _lheo_date(ev["start_date"], DATE_UNKNOWN_START))
            for info, col in (("heure-debut", "start_time"), ("heure-fin", "end_time")):
                value = _clean(ev.get(col))
                if value:
                    _extra(one, info, value)
            place = _event_place(ev)
            if place:
                _extra(one, "lieu", place)
            if ev.get("places") is not None:
                _extra(one, "places", str(int(ev["places"])))
            _extra(one, "annule", "1" if ev.get("cancelled") else "0")


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


def _action(parent, action_key: str, sessions: list[dict], action: dict | None, formation: dict | None,
            *, profile: str, delta: bool, run_date: date | None) -> None:  # fmt: skip
    first = sessions[0]
    a = action or {}
    el = _sub(parent, "action", numero=action_key)
    _sub(el, "rythme-formation", UNKNOWN_TEXT)
    _sub(el, "code-public-vise", PUBLIC_VISE_CODE, ref=PUBLIC_VISE_REF)
    _sub(el, "niveau-entree-obligatoire", "0")
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
    _sub(el, "modalites-alternance", alternance)
    _sub(el, "modalites-enseignement", MODALITES_ENSEIGNEMENT_PRESENTIEL)
    _sub(el, "conditions-specifiques", _text((formation or {}).get("prerequisites"), 3000))
    _sub(el, "prise-en-charge-frais-possible", "1")
    # the action's own place when it has one, else its first session's
    has_place = action is not None and (_present(a.get("postcode")) or _present(a.get("city")))
    place = pick_address({}, action) if has_place else pick_address(first, None)
    lieu = _sub(el, "lieu-de-formation")
    _adresse(_sub(lieu, "coordonnees"), place, denomination=_clean(first.get("site")))
    entry = a.get("entry_mode") or first.get("entry_mode")
    _sub(el, "modalites-entrees-sorties", ENTRY_CODES.get(entry or "", "0"))
    for s in sessions:
        _session(el, s, action, formation, profile=profile, delta=delta)
    info_address = _next_information_address(sessions, run_date)
    if info_address:
        _adresse(_sub(el, "adresse-information"), info_address)
    for d in _next_information_dates(sessions, run_date):
        _sub(_sub(el, "date-information"), "date", _lheo_date(d, DATE_UNKNOWN_START))
    if hours_centre is not None:
        _sub(el, "nombre-heures-centre", _whole(hours_centre))
    if hours_company is not None:
        _sub(el, "nombre-heures-entreprise", _whole(hours_company))

    formateur = _sub(el, "organisme-formateur")
    siret = _clean(a.get("siret_formateur")) or _clean(first.get("siret_formateur")) or ""
    _sub(_sub(formateur, "SIRET-formateur"), "SIRET", re.sub(r"[\s.\-]", "", siret))
    name = _clean(a.get("organisme_formateur")) or _clean(first.get("organisme_formateur"))
    _sub(formateur, "raison-sociale-formateur", _text(name, 250))
    contact_session = next((s for s in sessions if _has_contact(s)), None)
    if contact_session is not None:
        _contact(formateur, "contact-formateur", contact_session)

    live = [s for s in sessions if not s.get("cancelled")]
    buyer = _clean((formation or {}).get("financer")) or _clean(first.get("financer")) or model.FINANCER_REGION
    financers = [(buyer, sum(int(_first_not_none(s.get("places_region"), s.get("places"), 0)) for s in live))]
    if profile == "pole_emploi" and buyer != model.FINANCER_POLE_EMPLOI:
        pe = sum(int(s.get("places_pole_emploi") or 0) for s in live)
        if pe > 0:
            financers.append((model.FINANCER_POLE_EMPLOI, pe))
    for code, places in financers:
        fin = _sub(el, "organisme-financeur")
        _sub(fin, "code-financeur", code)
        _sub(fin, "nb-places-financees", str(places))


def _first_not_none(*values):
    for v in values:
        if v is not None:
            return v
    return None


def _formation(formation_key: str, sessions: list[dict], formation: dict | None, actions: dict[str, dict | None],
               *, profile: str, delta: bool, run_date: date | None) -> etree._Element:  # fmt: skip
    f = formation or {}
    first = sessions[0]
    holder = etree.Element(_q("offres"), nsmap={None: NS})
    el = _sub(holder, "formation", numero=formation_key)
    domaine = _sub(el, "domaine-formation")
    formacode = _clean(f.get("formacode"))
    if formacode and _DIGITS5.match(formacode):
        _sub(domaine, "code-FORMACODE", formacode)
    rome = _clean(f.get("rome"))
    if rome and _ROME.match(rome.upper()):
        _sub(domaine, "code-ROME", rome.upper())
    title = _clean(f.get("title")) or _clean(first.get("title")) or _clean(f.get("lot_title"))
    _sub(el, "intitule-formation", _text(title, 255))
    _sub(el, "objectif-formation", _text(f.get("objective"), 3000))
    _sub(el, "resultats-attendus", UNKNOWN_TEXT)
    _sub(el, "contenu-formation", _text(f.get("content"), 3000))
    _sub(el, "certifiante", "1" if f.get("certifying") else "0")
    _contact(el, "contact-formation", next((s for s in sessions if _has_contact(s)), None))
    by_action = [(k, list(g)) for k, g in itertools.groupby(sessions, key=lambda s: s["action_key"])]
    entries = {(actions.get(k) or {}).get("entry_mode") or g[0].get("entry_mode") for k, g in by_action}
    _sub(el, "parcours-de-formation", PARCOURS_INDIVIDUAL if entries == {model.ENTRY_PERMANENT} else PARCOURS_GROUP)
    _sub(el, "code-niveau-entree", NIVEAU_ENTREE_UNKNOWN)
    rncp = (_clean(f.get("rncp")) or "").upper().replace(" ", "")
    if _RNCP.match(rncp):
        _sub(_sub(el, "certification"), "code-RS" if rncp.startswith("RS") else "code-RNCP", rncp)
    for action_key, group in by_action:
        _action(el, action_key, group, actions.get(action_key), f,
                profile=profile, delta=delta, run_date=run_date)  # fmt: skip

    ofr = _sub(el, "organisme-formation-responsable")
    nda = re.sub(r"\D", "", _clean(f.get("holder_nda")) or "")
    _sub(ofr, "numero-activite", nda if len(nda) == 11 else NDA_UNKNOWN)
    siret = re.sub(r"\D", "", _clean(f.get("holder_siret")) or "")
    _sub(_sub(ofr, "SIRET-organisme-formation"), "SIRET", siret if len(siret) == 14 else SIRET_UNKNOWN)
    holder_name = _text(f.get("holder_name"), 250)
    _sub(ofr, "nom-organisme", holder_name)
    _sub(ofr, "raison-sociale", holder_name)
    _sub(_sub(ofr, "coordonnees-organisme"), "coordonnees")
    _sub(_sub(ofr, "contact-organisme"), "coordonnees")
    return el


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


def _stream(fh, s_table: pa.Table, order: np.ndarray, event_index: _EventIndex, f_table: pa.Table,
            a_table: pa.Table, *, profile: str, delta: bool, run_date: date | None) -> int:  # fmt: skip
    """Write the document; one ``<formation>`` subtree in memory at a time."""
    written = 0
    with etree.xmlfile(fh, encoding="UTF-8") as xf:
        xf.write_declaration()
        with xf.element(_q("lheo"), nsmap={None: NS}):
            xf.write("\n  ")
            with xf.element(_q("offres")):
                stream = _iter_sessions(s_table, order, event_index, f_table, a_table)
                for formation_key, rows in itertools.groupby(stream, key=lambda s: s["formation_key"]):
                    group = list(rows)
                    action_map: dict[str, dict | None] = {}
                    for s in group:
                        action_map.setdefault(s["action_key"], s["_action"])
                    element = _formation(formation_key, group, group[0]["_formation"], action_map,
                                         profile=profile, delta=delta, run_date=run_date)  # fmt: skip
                    etree.indent(element, space="  ", level=2)
                    xf.write("\n    ")
                    xf.write(element)
                    written += len(group)
                    element.getparent().remove(element)
                    del element, group, action_map
                xf.write("\n  ")
            xf.write("\n")
    return written
