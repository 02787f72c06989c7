"""What two public consumers of Carif LHEO feeds read, written down and replayed in Python.

Our own code, following the consumers' public code line by line (the upstream file of each
step is named where it is followed). Nothing of theirs is copied or run here: the point is a
contract test that fails in this project when a feed stops being readable by them.

**gip-inclusion/data-inclusion** (commit d4969e37, 2026-06-30), import ``carif_oref``:

- reader ``pipeline/dags/data_inclusion/pipeline/dags/import_carif_oref/utils.py`` ``read()``:
  ``xmlschema.XMLSchema(lheo.xsd).iter_decode(path, path="//offres/formation", lazy=True)``, one
  JSON document per formation (their ``lheo.xsd`` is the official 2.3 one, byte for byte but
  for the XML declaration's case). xmlschema decodes an element with attributes as
  ``{"@attr": …, "$": text}`` and one without as its bare text, and every element that LHEO
  allows more than once as a list: a ``code-FORMACODE`` without ``ref`` is a string, where
  ``->> '$'`` reads nothing.
- dbt staging models ``pipeline/dbt/models/staging/sources/carif_oref/*.sql`` and their tests
  ``_carif_oref__models.yml`` (replayed by :class:`DataInclusion`), intermediate models
  ``pipeline/dbt/models/intermediate/v1/001_mappings/carif_oref/int_carif_oref__*.sql`` and
  ``_carif_oref__models.yml`` (the keys between structures, services and addresses).

**StartupsPoleEmploi/anotea** (commit 6d72b661, 2025-12-12):

- ``backend/src/jobs/import/intercarif/tasks/importIntercarif.js``: the file is cut into
  formations by *lines*: a formation starts on a line whose text starts with ``<formation`` and
  ends on a line starting with ``</formation``; each piece is parsed alone;
- ``…/utils/xmlToJson.js``: xml2js with ``explicitArray: false``, attributes under
  ``_attributes``, text under ``_value``, names lower-cased with ``-`` -> ``_``;
- ``…/utils/sanitizeJson.js``: ``extras`` dropped, ``siret`` -> ``parseInt`` text, lists and
  the tags LHEO allows more than once renamed ``<tag>s`` and always lists; ``_meta.formacodes``
  = the ``_value`` of each ``code_formacode`` (so only codes with an attribute count);
- ``backend/src/jobs/reconciliation/tasks/reconcile.js`` and ``reconcile/build{Formation,Action,
  Session}.js``, ``reconcile/findAvisReconciliables.js``: the field accesses of the
  reconciliation (a missing one is a JavaScript ``TypeError`` that fails the formation);
- ``backend/src/jobs/import/organismes/tasks/synchronizeAccountsWithIntercarif.js`` and
  ``synchronizeAccountsResponsableWithIntercarif.js``: accounts keyed by SIRET, region from the
  address (``'11'``, Île-de-France, when there is none), name and mail.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from lxml import etree

# ================================================================================================
# data·inclusion
# ================================================================================================


@functools.lru_cache(maxsize=2)
def _schema(xsd: str):
    import xmlschema

    return xmlschema.XMLSchema(xsd)


def datainclusion_read(path: Path, xsd: Path) -> list[dict]:
    """``import_carif_oref/utils.py`` ``read()``: one decoded document per ``//offres/formation``."""
    return list(_schema(str(xsd)).iter_decode(str(path), path="//offres/formation", lazy=True))


def _items(value) -> list:
    """``JSONB_PATH_QUERY(x, '$.k[*]')`` in lax mode: a list's items, a lone value as itself."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _text(value) -> str | None:
    """``data ->> 'k'``: the text of a JSON value (an object is its JSON text, here a marker)."""
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return "<json>"
    return str(value)


def _nullif_trim(value) -> str | None:
    text = _text(value)
    if text is None:
        return None
    text = text.strip()
    return text or None


def _date(value) -> date | None:
    """``CAST(x AS DATE)`` on an ``AAAAMMJJ`` text: PostgreSQL raises on ``00000000`` (no
    ``NULLIF``: the whole model fails); the caller says when a null is allowed."""
    if value is None:
        return None
    return datetime.strptime(str(value), "%Y%m%d").date()


@dataclass
class DataInclusion:
    """The staging models of ``pipeline/dbt/models/staging/sources/carif_oref/`` on documents
    read by :func:`datainclusion_read`, the thematic filter of
    ``_stg_carif_oref__source_filtered.sql`` set aside (it keeps the formations of 17 FORMACODE
    domains data·inclusion targets: a choice of theirs, not a property of a feed)."""

    docs: list[dict]
    formations: list[dict] = field(default_factory=list)
    actions: list[dict] = field(default_factory=list)
    publics: list[dict] = field(default_factory=list)
    organismes: dict[str, dict] = field(default_factory=dict)
    organismes_contacts: list[dict] = field(default_factory=list)
    formations_contacts: list[dict] = field(default_factory=list)
    coordonnees: dict[str, dict] = field(default_factory=dict)
    adresses: dict[str, dict] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # a model that would fail to build

    def __post_init__(self) -> None:
        for doc in self.docs:
            self._formation(doc)

    def _formation(self, doc: dict) -> None:
        numero = _nullif_trim(doc.get("@numero"))
        # stg_carif_oref__formations.sql
        try:
            date_maj = _date(doc.get("@datemaj"))
        except ValueError as exc:
            self.errors.append(f"stg_carif_oref__formations: CAST(@datemaj AS DATE) fails on {numero}: {exc}")
            date_maj = None
        codes = [
            c.get("$")
            for c in _items((doc.get("domaine-formation") or {}).get("code-FORMACODE"))
            if isinstance(c, dict) and c.get("$") is not None
        ]
        self.formations.append(
            {
                "numero": numero,
                "date_maj": date_maj,
                "intitule_formation": (_nullif_trim(doc.get("intitule-formation")) or "").rstrip(".") or None,
                "domaine_formation__formacode": codes or None,
            }
        )
        # stg_carif_oref__formations__contacts.sql
        for contact in _items(doc.get("contact-formation")):
            if contact.get("coordonnees") is not None:
                self.formations_contacts.append(
                    {
                        "numero_formation": numero,
                        "hash_coordonnees": self._coordonnees(contact["coordonnees"]),
                        "type_contact": _int(contact.get("type-contact")),
                    }
                )
        for action in _items(doc.get("action")):
            self._action(numero, action)

    def _action(self, numero_formation: str | None, action: dict) -> None:
        # _stg_carif_oref__actions_filtered.sql: actions with a formateur, a public and a place
        if not (
            _items(action.get("organisme-formateur"))
            and _items(action.get("code-public-vise"))
            and _items(action.get("lieu-de-formation"))
        ):
            return
        numero = _nullif_trim(action.get("@numero"))
        lieux = sorted(_items(action.get("lieu-de-formation")), key=lambda lieu: lieu.get("@tag") != "principal")
        formateurs = _items(action.get("organisme-formateur"))
        raw_maj = action.get("@datemaj")
        try:  # stg_carif_oref__actions.sql: CAST(NULLIF(@datemaj, '00000000') AS DATE)
            date_maj = _date(None if raw_maj == "00000000" else raw_maj)
        except ValueError as exc:
            self.errors.append(f"stg_carif_oref__actions: CAST(@datemaj AS DATE) fails on {numero}: {exc}")
            date_maj = None
        self.actions.append(
            {
                "numero": numero,
                "numero_formation": numero_formation,
                "numero_organisme_formateur": _nullif_trim(formateurs[0].get("@numero")),
                "date_maj": date_maj,
                "conditions_specifiques": _nullif_trim(action.get("conditions-specifiques")),
                "modalites_enseignement": _int(action.get("modalites-enseignement")),
                "prise_en_charge_frais_possible": action.get("prise-en-charge-frais-possible"),
                "hash_coordonnees_lieu_de_formation_principal": self._coordonnees(lieux[0].get("coordonnees")),
            }
        )
        # stg_carif_oref__actions__publics.sql (DISTINCT ON numero: the first code)
        code = _items(action.get("code-public-vise"))[0]
        self.publics.append(
            {
                "numero_action": numero,
                "code_public_vise": code.get("$") if isinstance(code, dict) else None,
                "version_formacode": code.get("@ref") if isinstance(code, dict) else None,
            }
        )
        for formateur in formateurs:
            # stg_carif_oref__organismes_formateurs.sql (DISTINCT ON numero: the first one)
            key = _nullif_trim(formateur.get("@numero"))
            self.organismes.setdefault(
                key,
                {
                    "numero": key,
                    "raison_sociale_formateur": _nullif_trim(formateur.get("raison-sociale-formateur")),
                    "siret_formateur__siret": _nullif_trim((formateur.get("SIRET-formateur") or {}).get("SIRET")),
                },
            )
            # stg_carif_oref__organismes_formateurs__contacts.sql
            for contact in _items(formateur.get("contact-formateur")):
                if contact.get("coordonnees") is not None:
                    self.organismes_contacts.append(
                        {
                            "numero_action": numero,
                            "numero_organisme_formateur": key,
                            "hash_coordonnees": self._coordonnees(contact["coordonnees"]),
                            "type_contact": _int(contact.get("type-contact")),
                        }
                    )

    def _coordonnees(self, coordonnees: dict | None) -> str | None:
        """stg_carif_oref__coordonnees.sql and stg_carif_oref__adresses.sql (hash = the content)."""
        if coordonnees is None:
            return None
        key = repr(sorted(coordonnees.items()))
        adresse = coordonnees.get("adresse")
        hash_adresse = None
        if adresse is not None:
            hash_adresse = repr(sorted(adresse.items()))
            lignes = [x.strip() for x in _items(adresse.get("ligne")) if x and x.strip()]
            self.adresses[hash_adresse] = {
                "ligne__1": lignes[0] if lignes else None,
                "codepostal": _nullif_trim(adresse.get("codepostal")),
                "ville": _nullif_trim(adresse.get("ville")),
                "departement": _nullif_trim(adresse.get("departement")),
                "code_insee_commune": _nullif_trim(adresse.get("code-INSEE-commune")),
                "region": _nullif_trim(adresse.get("region")),
                "pays": _nullif_trim(adresse.get("pays")),
            }
        numtel = [t.strip() for t in _items((coordonnees.get("telfixe") or {}).get("numtel")) if t and t.strip()]
        self.coordonnees[key] = {
            "courriel": _nullif_trim(coordonnees.get("courriel")),
            "telfixe": numtel or None,
            "hash_adresse": hash_adresse,
        }
        return key


def _int(value) -> int | None:
    return None if value is None else int(value)


# The data tests of data·inclusion's staging and intermediate models that a feed of ours must
# pass (test -> failing rows), and those it cannot pass because our sources do not carry the
# data (asserted as absent in the note of the tests, never invented).
DATAINCLUSION_NOT_CARRIED = {
    "stg_carif_oref__actions.code_perimetre_recrutement not_null_proportion (warn)": "no recruitment perimeter in SAM, EOS or SIGMA",
    "stg_carif_oref__actions.detail_conditions_prise_en_charge not_null_proportion 0.1": "no such text in the sources",
    "stg_carif_oref__actions.info_public_vise not_null_proportion 0.1": "no such text in the sources",
    "stg_carif_oref__actions.url_action not_null_proportion 0.1": "no URL in the sources",
    "stg_carif_oref__actions.duree_hebdo not_null_proportion 0.1": "no weekly hours in the sources",
    "stg_carif_oref__formations.url_formation not_null_proportion 0.1": "no URL in the sources",
    "stg_carif_oref__adresses.geolocalisation not_null_proportion 0.5": "no coordinates in the sources nor in the COG packages",
}


def datainclusion_failures(
    di: DataInclusion, unresolved_places: set[tuple[str, str]], proportions: bool = True
) -> list[str]:
    """Every failing data test of ``_carif_oref__models.yml`` (staging and intermediate) that
    concerns keys, dates, places, codes and organisations. ``unresolved_places``: the
    (postcode, city) our quality report says the COG cannot resolve (DQ026): their addresses
    may lack département, INSEE code and région, as the rule promises. ``proportions``: also
    the tests on the mix of the data itself (``telfixe`` on half the coordinates), which only
    realistic data can be asked to pass."""
    out = list(di.errors)

    def check(name: str, rows, ok) -> None:
        bad = [r for r in rows if not ok(r)]
        if bad:
            out.append(f"{name}: {len(bad)} failing row(s), e.g. {bad[0]}")

    def unique_not_null(name: str, values: list) -> None:
        if any(v is None or v == "" for v in values):
            out.append(f"{name}: null or empty")
        if len(values) != len(set(values)):
            out.append(f"{name}: not unique")

    formations = {f["numero"] for f in di.formations}
    unique_not_null("stg_carif_oref__formations.numero", [f["numero"] for f in di.formations])
    check("stg_carif_oref__formations.date_maj not_null (0.9)", di.formations, lambda r: r["date_maj"] is not None)
    check(
        "stg_carif_oref__formations.intitule_formation not_null",
        di.formations,
        lambda r: r["intitule_formation"] is not None,
    )
    check(
        "stg_carif_oref__formations.domaine_formation__formacode not_null",
        di.formations,
        lambda r: r["domaine_formation__formacode"],
    )

    publics = {p["numero_action"] for p in di.publics}
    unique_not_null("stg_carif_oref__actions.numero", [a["numero"] for a in di.actions])
    check("stg_carif_oref__actions.numero relationships actions__publics", di.actions, lambda r: r["numero"] in publics)
    check(
        "stg_carif_oref__actions.numero_formation relationships formations",
        di.actions,
        lambda r: r["numero_formation"] in formations,
    )
    check(
        "stg_carif_oref__actions.numero_organisme_formateur not_null + relationships",
        di.actions,
        lambda r: r["numero_organisme_formateur"] is not None and r["numero_organisme_formateur"] in di.organismes,
    )
    check("stg_carif_oref__actions.date_maj not_null (0.5)", di.actions, lambda r: r["date_maj"] is not None)
    check(
        "stg_carif_oref__actions.conditions_specifiques not_null",
        di.actions,
        lambda r: r["conditions_specifiques"] is not None,
    )
    check(
        "stg_carif_oref__actions.modalites_enseignement accepted_values",
        di.actions,
        lambda r: r["modalites_enseignement"] in (0, 1, 2),
    )
    check(
        "stg_carif_oref__actions.prise_en_charge_frais_possible not_null boolean",
        di.actions,
        lambda r: r["prise_en_charge_frais_possible"] in ("0", "1", "true", "false"),
    )
    check(
        "stg_carif_oref__actions.hash_coordonnees_lieu_de_formation_principal relationships",
        di.actions,
        lambda r: r["hash_coordonnees_lieu_de_formation_principal"] in di.coordonnees,
    )
    check(
        "stg_carif_oref__actions__publics.code_public_vise not_null + relationships publics V14",
        di.publics,
        lambda r: r["code_public_vise"] in FORMACODE_V14_PUBLICS,
    )
    check(
        "stg_carif_oref__actions__publics.version_formacode accepted_values [V14]",
        di.publics,
        lambda r: r["version_formacode"] == "V14",
    )

    organismes = list(di.organismes.values())
    check("stg_carif_oref__organismes_formateurs.numero not_null", organismes, lambda r: r["numero"])
    check(
        "stg_carif_oref__organismes_formateurs.raison_sociale_formateur not_null",
        organismes,
        lambda r: r["raison_sociale_formateur"],
    )
    check(
        "stg_carif_oref__organismes_formateurs.siret_formateur__siret not_null",
        organismes,
        lambda r: r["siret_formateur__siret"],
    )
    actions = {a["numero"] for a in di.actions}
    check(
        "stg_carif_oref__organismes_formateurs__contacts keys and type_contact",
        di.organismes_contacts,
        lambda r: (
            r["numero_action"] in actions
            and r["numero_organisme_formateur"] in di.organismes
            and r["type_contact"] is not None
            and 0 <= r["type_contact"] <= 14
            and r["hash_coordonnees"] in di.coordonnees
        ),
    )
    check(
        "stg_carif_oref__formations__contacts keys and type_contact",
        di.formations_contacts,
        lambda r: (
            r["numero_formation"] in formations
            and r["type_contact"] is not None
            and 0 <= r["type_contact"] <= 14
            and r["hash_coordonnees"] in di.coordonnees
        ),
    )

    coordonnees = list(di.coordonnees.values())
    check("stg_carif_oref__coordonnees.courriel not_empty_string", coordonnees, lambda r: r["courriel"] != "")
    with_phone = sum(1 for c in coordonnees if c["telfixe"])
    if proportions and coordonnees and with_phone < 0.5 * len(coordonnees):
        out.append(f"stg_carif_oref__coordonnees.telfixe not_null_proportion 0.5: {with_phone}/{len(coordonnees)}")

    adresses = list(di.adresses.values())
    for col in ("ligne__1", "codepostal", "ville"):
        check(f"stg_carif_oref__adresses.{col} not_null", adresses, lambda r, col=col: r[col])
    check("stg_carif_oref__adresses.pays accepted_values [FR]", adresses, lambda r: r["pays"] in (None, "FR"))

    def placed(r: dict) -> bool:
        if (r["codepostal"], r["ville"]) in unresolved_places:
            return True  # DQ026: left empty rather than guessed, and the report says why
        return bool(r["departement"] and r["code_insee_commune"] and r["region"])

    check("stg_carif_oref__adresses.departement / code_insee_commune not_null, region", adresses, placed)
    return out


# FORMACODE V14 public codes (data·inclusion's stg_carif_oref__formacode_v14__publics.sql).
FORMACODE_V14_PUBLICS = frozenset(
    {
        "80001",
        "80003",
        "80004",
        "80006",
        "80007",
        "80008",
        "80009",
        "80010",
        "81013",
        "81014",
        "81018",
        "81019",
        "81020",
        "81021",
        "81022",
        "81023",
        "81024",
        "81025",
        "81026",
        "81027",
        "81028",
        "81029",
        "81030",
        "81031",
        "81032",
        "81033",
        "81042",
        "81043",
        "81050",
        "81058",
        "81059",
        "81060",
        "81061",
        "81062",
        "81069",
        "81099",
        "82004",
        "82009",
        "82010",
        "82011",
        "82012",
        "82015",
        "82016",
        "82017",
        "82018",
        "82019",
        "82020",
        "82038",
        "82044",
        "82045",
        "82046",
        "82047",
        "82048",
        "82049",
        "82055",
        "82057",
        "82058",
        "82060",
        "82061",
        "82062",
        "82063",
        "82064",
        "82066",
        "82067",
        "82068",
        "82069",
        "82070",
        "82071",
        "82074",
        "82075",
        "82076",
        "82080",
        "83056",
    }
)


# ================================================================================================
# Anotéa
# ================================================================================================


class JSTypeError(TypeError):
    """What JavaScript raises reading a property of ``undefined``: the formation fails."""


class _Undefined:
    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "undefined"


UNDEFINED = _Undefined()


def js(value, *path):
    """``value.a.b…`` with JavaScript's semantics: a missing key is ``undefined``, reading a
    property of ``undefined`` raises :class:`JSTypeError`, a string has no such property."""
    for key in path:
        if value is UNDEFINED or value is None:
            raise JSTypeError(f"Cannot read properties of undefined (reading '{key}')")
        if isinstance(value, dict):
            value = value.get(key, UNDEFINED)
        elif isinstance(value, list) and isinstance(key, int):
            value = value[key] if key < len(value) else UNDEFINED
        else:
            value = UNDEFINED
    return value


def _xml2js_name(name: str) -> str:
    return name.replace("-", "_").lower()


def xml2js(elem: etree._Element):
    """``xmlToJson.js``: xml2js 0.4 with ``explicitArray: false``, ``attrkey: '_attributes'``,
    ``charkey: '_value'``, names lower-cased and ``-`` -> ``_``; whitespace-only text dropped."""
    obj: dict = {}
    if elem.attrib:
        obj["_attributes"] = {_xml2js_name(k): v for k, v in elem.attrib.items()}
    children = [c for c in elem if isinstance(c.tag, str)]
    for child in children:
        key = _xml2js_name(etree.QName(child).localname)
        value = xml2js(child)
        if key in obj:
            obj[key] = obj[key] + [value] if isinstance(obj[key], list) else [obj[key], value]
        else:
            obj[key] = value
    text = (elem.text or "") + "".join(c.tail or "" for c in elem)
    if not text.strip():
        text = ""
    if not children and not elem.attrib:
        return text
    if text:
        obj["_value"] = text
    return obj


_MULTIPLE = {  # sanitizeJson.js: tagsWithMultipleOccurrences
    "code_formacode",
    "code_nsf",
    "code_rome",
    "urlweb",
    "sous_module",
    "reference_module",
    "numtel",
    "code_public_vise",
    "session",
    "certification",
    "resume_offre",
    "ligne",
    "resume_organisme",
    "action",
    "formation",
    "date_information",
    "code_modalite_pedagogique",
    "organisme_financeur",
}


def sanitize(value):
    """``sanitizeJson.js`` (without its md5)."""
    if isinstance(value, list):
        return [sanitize(v) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict = {}
    for key, item in value.items():
        if key == "extras":
            continue
        if key == "siret":
            match = re.match(r"\s*[+-]?\d+", str(item))
            out[key] = str(int(match.group())) if match else "NaN"  # `${parseInt(v, 10)}`
            continue
        if isinstance(item, list):
            out[f"{key}s"] = sanitize(item)
        elif key in _MULTIPLE:
            out[f"{key}s"] = [sanitize(item)]
        else:
            out[key] = sanitize(item)
    return out


def anotea_import(path: Path) -> list[dict]:
    """``importIntercarif.js``: one document per formation, cut by lines, parsed alone."""
    docs, xml, partial = [], "", True
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("<formation"):
            xml = line
        else:
            xml += line
        if line.strip().startswith("</formation"):
            partial = False
        if not partial:
            doc = sanitize(xml2js(etree.fromstring(xml.encode("utf-8"))))
            domaine = js(doc, "domaine_formation")  # a formation without it crashes the import
            formacodes = js(domaine, "code_formacodes")
            certifications = doc.get("certifications")
            doc["_meta"] = {
                "certifinfos": [js(c, "code_certifinfo") for c in certifications] if certifications else [],
                "formacodes": [js(c, "_value") for c in formacodes] if formacodes else [],
            }
            docs.append(doc)
            partial, xml = True, ""
    return docs


@dataclass
class AnoteaRun:
    formations: dict[str, dict] = field(default_factory=dict)  # formationsReconciliees by _id
    actions: dict[str, dict] = field(default_factory=dict)
    sessions: dict[str, dict] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # reconcile.js: « can not be reconciliated »


def _responsable(intercarif: dict) -> dict:
    r = js(intercarif, "organisme_formation_responsable")
    return {
        "raison_sociale": js(r, "raison_sociale"),
        "siret": js(r, "siret_organisme_formation", "siret"),
        "numero": js(r, "_attributes", "numero"),
    }


def _js_list(value, key: str) -> list:
    """``value[key].map(…)`` / ``.filter(…)``: a TypeError when it is not there."""
    items = js(value, key)
    if not isinstance(items, list):
        raise JSTypeError(f"Cannot read properties of undefined (reading 'map') [{key}]")
    return items


def _formateur(intercarif: dict, action: dict) -> dict:
    f = js(action, "organisme_formateur")
    if f:
        numero = js(f, "_attributes", "numero") if js(f, "_attributes") else None
        return {
            "raison_sociale": js(f, "raison_sociale_formateur"),
            "siret": js(f, "siret_formateur", "siret"),
            "numero": numero,
        }
    r = _responsable(intercarif)
    return {"raison_sociale": r["raison_sociale"], "siret": r["siret"], "numero": r["numero"]}


def _moment(text) -> date | None:
    """``moment(`${d} -0000`, 'YYYYMMDD Z')``: an invalid date for 00000000 / 99999999."""
    try:
        return datetime.strptime(str(text), "%Y%m%d").date()
    except ValueError:
        return None


def anotea_reconcile(docs: list[dict]) -> AnoteaRun:
    """``reconcile.js`` with ``build{Formation,Action,Session}.js`` and the fields
    ``findAvisReconciliables.js`` reads (the avis query itself needs their MongoDB)."""
    run = AnoteaRun()
    for intercarif in docs:
        numero = js(intercarif, "_attributes", "numero")
        try:
            reconciliations = []
            for action in _js_list(intercarif, "actions"):
                if not js(action, "lieu_de_formation", "coordonnees", "adresse"):
                    continue
                adresse = js(action, "lieu_de_formation", "coordonnees", "adresse")
                siret = _formateur(intercarif, action)["siret"]
                str(js(adresse, "codepostal"))[:2]  # getDepartement(adresse.codepostal)
                if siret is UNDEFINED:
                    raise JSTypeError("Cannot read properties of undefined (reading 'substring')")
                reconciliations.append(action)
            formation = {
                "numero": numero,
                "intitule": js(intercarif, "intitule_formation"),
                "formacodes": js(intercarif, "_meta", "formacodes"),
                "organisme_responsable": _responsable(intercarif),
            }
            actions, sessions = {}, {}
            for action in reconciliations:
                a_num = js(action, "_attributes", "numero")
                adresse = js(action, "lieu_de_formation", "coordonnees", "adresse")
                actions[f"{numero}|{a_num}"] = {
                    "numero": a_num,
                    "region": js(adresse, "region"),
                    "lieu_de_formation": {"code_postal": js(adresse, "codepostal"), "ville": js(adresse, "ville")},
                    "organisme_formateur": _formateur(intercarif, action),
                    "formation": formation,
                }
                for session in _js_list(action, "sessions"):
                    s_num = js(session, "_attributes", "numero")
                    sessions[f"{numero}|{a_num}|{s_num}"] = {
                        "numero": s_num,
                        "region": js(adresse, "region"),
                        "periode": {
                            "debut": _moment(js(session, "periode", "debut")),
                            "fin": _moment(js(session, "periode", "fin")),
                            "raw": (js(session, "periode", "debut"), js(session, "periode", "fin")),
                        },
                    }
            # buildFormation.js reads every action's formateur SIRET
            for action in _js_list(intercarif, "actions"):
                _formateur(intercarif, action)["siret"]
            run.formations[numero] = formation
            run.actions.update(actions)
            run.sessions.update(sessions)
        except JSTypeError as exc:
            run.errors.append(f"Formation {numero} can not be reconciliated: {exc}")
    return run


def anotea_accounts(docs: list[dict]) -> dict[str, dict]:
    """The accounts both synchronisations build, by SIRET: names, regions (``'11'`` when the
    address has none, as they default) and mails."""
    accounts: dict[str, dict] = defaultdict(lambda: {"names": set(), "regions": set(), "courriels": set()})
    for doc in docs:
        for action in js(doc, "actions") or []:
            formateur = js(action, "organisme_formateur")
            if not (
                js(action, "lieu_de_formation", "coordonnees", "adresse")
                and formateur
                and js(formateur, "siret_formateur")
                and js(formateur, "siret_formateur", "siret") != "0"
            ):
                continue
            account = accounts[js(formateur, "siret_formateur", "siret")]
            account["names"].add(js(formateur, "raison_sociale_formateur"))
            account["regions"].add(js(action, "lieu_de_formation", "coordonnees", "adresse", "region") or "11")
            if js(formateur, "contact_formateur"):
                account["courriels"].add(js(formateur, "contact_formateur", "coordonnees", "courriel"))
        responsable = js(doc, "organisme_formation_responsable")
        if (
            responsable
            and js(responsable, "siret_organisme_formation")
            and js(responsable, "siret_organisme_formation", "siret") != "0"
        ):
            account = accounts[js(responsable, "siret_organisme_formation", "siret")]
            account["names"].add(js(responsable, "raison_sociale"))
            coordonnees = (
                js(responsable, "coordonnees_organisme", "coordonnees")
                if js(responsable, "coordonnees_organisme")
                else UNDEFINED
            )
            adresse = js(coordonnees, "adresse") if coordonnees else UNDEFINED
            account["regions"].add((js(adresse, "region") if adresse else UNDEFINED) or "11")
            if coordonnees and js(coordonnees, "courriel"):
                account["courriels"].add(js(coordonnees, "courriel"))
    return dict(accounts)
