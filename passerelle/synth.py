"""Synthetic inbox for benchmarks: N sessions across SAM, EOS and SIGMA, deterministic for a seed.

    passerelle synth --sessions 100000 --out bench/work/inbox-100k [--seed 42] [--date 2026-11-19]

``write_inbox`` writes, for one extract date D, the four extracts of the contract
(``/work/shared/spec/sources.md``):

- ``sam_offre_<D>.xml``: the marchés / lots / actions describing every EOS action (~60% of the
  sessions are EOS sessions); ``sessions-envisagees`` equals the number of EOS sessions except
  on a few planted DQ019 actions;
- ``eos_sessions_<D>.csv`` and ``eos_evenements_<D>.csv``: cp1252, ``;``, CRLF, trailing empty
  columns, one unknown column, ``dd/mm/yy`` list dates and ``dd/mm/yyyy`` lot dates, decimal
  commas, lots written ``5`` or ``005``, hours ``10:00`` / ``10.00`` / ``10h00`` /
  ``10 : 00``, quoted descriptions holding ``;`` and line breaks;
- ``sigma_actions_<D>.xlsx`` (~40% of the sessions): four sheets, real Excel dates mixed with
  text ``dd/mm/yyyy`` dates, numbers typed as number cells now and then, Excel time cells,
  composite ``Lieu de la session``. The workbook XML parts are written directly (inline
  strings, no shared-string table): openpyxl would take minutes at 400k rows.

About 0.5 event / information collective per session, ~2% cancellations (DQ003), ~3% of the
sessions with one planted defect of various rules (counted in ``SYNTH.json`` next to the
extracts; that file is ignored by the inbox scan). Everything derives from
``numpy.random.default_rng(seed)``: same seed and size, byte-identical files.
"""

from __future__ import annotations

import csv
import json
import zipfile
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

CHUNK = 50_000

# --- reference pools ------------------------------------------------------------------------------

# label, formacode, ROME, RNCP (or ""), hours centre, hours company, SIGMA code
CATALOGUE = [
    ("Agent thermal - Titre Agent thermal", "42829", "K2110", "RNCP35412", 364, 210, "THER"),
    ("Maçon voirie et réseaux divers", "22454", "F1703", "RNCP31420", 455, 140, "BTP"),
    ("Conduite d'engins de chantier - CACES R482", "31812", "F1302", "", 105, 0, "CACE"),
    ("Titre professionnel Cuisinier", "42752", "G1602", "RNCP34818", 700, 210, "CUIS"),
    ("Titre professionnel Agent de restauration", "42781", "G1603", "RNCP34820", 385, 140, "REST"),
    ("Titre professionnel Assistant de vie aux familles", "42056", "K1302", "RNCP34827", 560, 210, "ADVF"),
    ("Développeur web et web mobile - Titre professionnel", "31054", "M1805", "RNCP37674", 1050, 280, "NUM"),
    ("Secrétaire assistant médico-social", "35054", "M1609", "RNCP36805", 595, 175, "SEC"),
    ("Ouvrier agricole polyvalent - CAPa Métiers de l'agriculture", "21046", "A1416", "RNCP25309", 420, 140, "AGRI"),
    ("Aide-soignant - Diplôme d'État", "43436", "J1501", "RNCP35830", 770, 595, "SAN"),
    ("Agent magasinier - Titre professionnel", "31811", "N1103", "RNCP35221", 490, 140, "LOG"),
    ("Électricien d'équipement du bâtiment", "24049", "F1602", "RNCP31396", 602, 175, "ELEC"),
    ("Employé commercial en magasin", "34566", "D1507", "RNCP32291", 385, 210, "COM"),
    ("Comptable assistant - Titre professionnel", "32663", "M1203", "RNCP35138", 630, 140, "COMP"),
    ("Préparation aux métiers de la logistique & du transport", "31760", "N1105", "", 210, 70, "PREP"),
    ("Remise à niveau - savoirs de base (« Compétences clés »)", "15041", "K2111", "", 140, 0, "RAN"),
]
OBJECTIF = (
    "Acquérir les compétences du métier de {l}.\nPréparer et obtenir la certification visée ; "
    "s'insérer durablement dans l'emploi."
)
CONTENU = (
    "Modules techniques du métier ; mises en situation professionnelle.\nSanté & sécurité au travail, "
    "prévention des risques.\nTechniques de recherche d'emploi.\nStage en entreprise ({h} heures)."
)
PREREQUIS = "Niveau 3e ou CAP. Projet professionnel validé avec le conseiller (Pôle emploi, Mission Locale)."

AURA_PLACES = [  # postcode, city, INSEE, street kind, street
    ("63000", "Clermont-Ferrand", "63113", "rue", "Blatin"),
    ("69003", "Lyon", "69383", "avenue", "Félix Faure"),
    ("73000", "Chambéry", "73065", "avenue", "du Comte Vert"),
    ("38000", "Grenoble", "38185", "rue", "Émile Gueymard"),
    ("42000", "Saint-Étienne", "42218", "rue", "de la Richelandière"),
    ("74000", "Annecy", "74010", "rue", "du Pâquier"),
    ("03200", "Vichy", "03310", "boulevard", "des États-Unis"),
    ("01000", "Bourg-en-Bresse", "01053", "rue", "Gabriel Vicaire"),
    ("26000", "Valence", "26362", "avenue", "Victor Hugo"),
    ("07000", "Privas", "07186", "cours", "du Palais"),
    ("15000", "Aurillac", "15014", "place", "du Square"),
    ("43000", "Le Puy-en-Velay", "43157", "boulevard", "Maréchal Fayolle"),
    ("03100", "Montluçon", "03185", "rue", "de la République"),
    ("42300", "Roanne", "42187", "rue", "Jean Jaurès"),
    ("69100", "Villeurbanne", "69266", "cours", "Émile Zola"),
    ("38200", "Vienne", "38544", "quai", "Jean Jaurès"),
    ("74100", "Annemasse", "74012", "rue", "de la Gare"),
    ("03000", "Moulins", "03190", "allée", "des Soupirs"),
    ("73200", "Albertville", "73011", "rue", "Gambetta"),
    ("26200", "Montélimar", "26198", "avenue", "Saint-Martin"),
]
OCC_PLACES = [  # CITY, postcode, street kind, street
    ("BEZIERS", "34500", "avenue", "Jean Moulin"),
    ("RODEZ", "12000", "rue", "de la Roque"),
    ("PERPIGNAN", "66000", "avenue", "Paul Pascot"),
    ("TOULOUSE", "31000", "rue", "Bayard"),
    ("MONTPELLIER", "34000", "place", "de la Comédie"),
    ("ALBI", "81000", "boulevard", "Sibille"),
    ("NIMES", "30000", "rue", "de la République"),
    ("CARCASSONNE", "11000", "boulevard", "Barbès"),
    ("TARBES", "65000", "rue", "Larrey"),
    ("MONTAUBAN", "82000", "faubourg", "Lacapelle"),
    ("CAHORS", "46000", "boulevard", "Gambetta"),
    ("AUCH", "32000", "rue", "Victor Hugo"),
    ("FOIX", "09000", "allée", "de Villote"),
    ("MENDE", "48000", "avenue", "Foch"),
    ("NARBONNE", "11100", "quai", "Vallière"),
    ("SETE", "34200", "quai", "d'Alger"),
]
BODY_PREFIX = ["GRETA", "AFPA", "INSTITUT", "CENTRE DE FORMATION", "ÉCOLE", "CFA", "ŒUVRE", "ACADÉMIE", "ATELIER"]
BODY_WORD = ["DES MÉTIERS", "PROFESSIONNEL", "HORIZONS", "AVENIR", "COMPÉTENCES", "EMPLOI", "SAVOIRS", "TREMPLIN"]
FIRST = [
    "Sandrine",
    "Loïc",
    "Chloé",
    "Hervé",
    "Agnès",
    "Benoît",
    "Sébastien",
    "Zoé",
    "Noël",
    "Inès",
    "Karim",
    "Marie",
    "Paul",
    "Claire",
    "Jordi",
    "Lucas",
    "Nadia",
    "Thierry",
    "Isabelle",
    "Pascal",
]
LAST = [
    "Coulomb",
    "Perrier",
    "Vuillermoz",
    "Delorme",
    "Faure",
    "Benali",
    "Marchetti",
    "Rochette",
    "Gauthier",
    "Roux",
    "Dupont",
    "Marty",
    "Puig",
    "Fabre",
    "Haddad",
    "Lefèvre",
    "Gérard",
    "Müller",
    "N'Diaye",
    "Castéra",
]
_ASCII = str.maketrans("éèêëàâîïôöûüçÉÈŒœ'", "eeeeaaiioouucEEOo-")

EOS_SESSION_HEADER = [
    "Dossier",
    "Lot",
    "Intitulé du lot",
    "Programme",
    "Date début lot",
    "Date fin lot",
    "Fin exéc.",
    "N° marché",
    "Identifiant EOS",
    "N° ses.",
    "N° BC",
    "Action",
    "Oblig/Facul/Suppl",
    "Libellé grand public",
    "Organisme formateur",
    "SIRET formateur",
    "N° voie",
    "Bis/Ter",
    "Nature voie",
    "Nom voie",
    "Complément d'adresse",
    "Code postal",
    "Ville",
    "Code INSEE",
    "Lieu",
    "Commentaire interne",  # not in the contract: one DQ000 info finding
    "Durée moy stg Cent",
    "Durée moy stg Ent.",
    "Eff. visé tot.",
    "Eff. min. MO",
    "Eff. visé région.",
    "Eff. visé PE",
    "nb Stagiaires.",
    "Vol H Cent tot.",
    "Vol H Ent. tot.",
    "Date début prescr.",
    "Date fin prescr.",
    "Date début session",
    "Date fin session",
    "Type entrée",
    "Etat session",
    "Session annulée",
    "Date état",
    "Contact nom",
    "Contact tél",
    "Contact mail",
    "Etat recrutement",
    "",
    "",  # trailing empty columns of the Excel export
]
EOS_EVENT_HEADER = [
    "Identifiant EOS",
    "Type",
    "Date de début",
    "Date de fin",
    "Heure de début",
    "Heure de fin",
    "N° voie",
    "Nom voie",
    "Code postal",
    "Ville",
    "Description",
]
SIGMA_HEADERS = {
    "Actions": [
        "N° Contrat/Conv.",
        "N° Action",
        "Intitulé de l'action",
        "Statut",
        "Année",
        "Date de début réelle",
        "Date de fin prévue",
        "Titulaire/Mandataire",
        "SIRET titulaire",
        "NDA titulaire",
        "Dispositif",
        "Programme",
        "Formacode",
        "Code ROME",
    ],
    "Composantes": [
        "N° Action",
        "N°",
        "Composante",
        "Date début",
        "Date fin",
        "Ville",
        "Code postal",
        "Effectif",
        "Volume moyen hc",
        "Volume moyen he",
        "Modalité entrées",
    ],
    "Sessions": [
        "N° Action",
        "Composante",
        "Num. de session",
        "Date début",
        "Date fin",
        "Lieu de la session",
        "Nb. de places",
        "Code Offre Info",
        "Statut",
        "Contact nom",
        "Contact tél",
        "Contact mail",
    ],
    "Informations collectives": [
        "N° Action",
        "Composante",
        "Num. de session",
        "Date",
        "Heure de début",
        "Heure de fin",
        "Nb. de places",
        "Commentaire",
        "N° de voie",
        "Extension voie",
        "Type de voie",
        "Libellé de la voie",
        "Code postal",
        "Ville",
    ],
}
EOS_PROGRAMME = "Former Pour l'Emploi 2026-2029"
SIGMA_PROGRAMME = "Programme Régional de Formation 2026-2027"

# planted defects, in the order they are dealt round-robin to the chosen sessions
EOS_DEFECTS = [
    "DQ001",
    "DQ002",
    "DQ004",
    "DQ005",
    "DQ006",
    "DQ007",
    "DQ008",
    "DQ009",
    "DQ010",
    "DQ011",
    "DQ012",
    "DQ013",
    "DQ015",
    "DQ016",
    "DQ017",
    "DQ018",
    "DQ020",
    "DQ021",
    "DQ000",
]
SIGMA_DEFECTS = ["DQ001", "DQ005", "DQ006", "DQ009", "DQ013", "DQ015", "DQ018", "DQ020", "DQ000"]
DEFECT_RATE = 0.03
CANCEL_RATE = 0.02
EVENTS_PER_SESSION = 0.5


# --- small vectorised helpers ---------------------------------------------------------------------


def _group_sizes(rng: np.random.Generator, total: int, low: int, high: int) -> np.ndarray:
    """Sizes in [low, high] summing exactly to ``total`` (the last one trimmed)."""
    if total <= 0:
        return np.zeros(0, dtype=np.int64)
    sizes = rng.integers(low, high + 1, size=total // max(low, 1) + 2)
    cum = np.cumsum(sizes)
    n = int(np.searchsorted(cum, total)) + 1
    sizes = sizes[:n].copy()
    sizes[-1] -= int(cum[n - 1] - total)
    return sizes


def _rank(sizes: np.ndarray) -> np.ndarray:
    """0-based position of each item inside its group, for consecutive groups of ``sizes``."""
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    return np.arange(int(sizes.sum())) - starts


def _fmt_days(day0: date, offsets: np.ndarray, fmt: str) -> np.ndarray:
    """Format day offsets from ``day0`` through a lookup table (dates span a few hundred days)."""
    if len(offsets) == 0:
        return np.array([], dtype=object)
    lo, hi = int(offsets.min()), int(offsets.max())
    table = np.array([(day0 + timedelta(days=k)).strftime(fmt) for k in range(lo, hi + 1)], dtype=object)
    return table[offsets - lo]


def _luhn_digit(prefix: np.ndarray, width: int) -> np.ndarray:
    """Luhn check digit completing integer prefixes of ``width`` digits."""
    digits = np.array([(prefix // 10 ** (width - 1 - i)) % 10 for i in range(width)]).T.reshape(len(prefix), width)
    # position from the right in the completed number (check digit = 1): prefix digit i -> width + 1 - i
    weights = np.where((width + 1 - np.arange(width)) % 2 == 0, 2, 1)
    prod = digits * weights
    prod = np.where(prod > 9, prod - 9, prod)
    return (10 - prod.sum(axis=1) % 10) % 10


def _sirets(rng: np.random.Generator, n: int) -> np.ndarray:
    """Valid SIRETs: a Luhn-valid SIREN (9 digits) + NIC, the 14 digits Luhn-valid too."""
    siren8 = rng.integers(10**7, 10**8 - 1, size=n)
    siren = siren8 * 10 + _luhn_digit(siren8, 8)
    body13 = siren * 10_000 + rng.integers(1, 100, size=n) * 10
    siret = body13 * 10 + _luhn_digit(body13, 13)
    return _obj(f"{x:014d}" for x in siret.tolist())


def _phones(rng: np.random.Generator, n: int) -> np.ndarray:
    digits = rng.integers(10_000_000, 99_999_999, size=n)
    prefix = rng.choice(np.array(["04", "05", "06", "07", "09"]), size=n)
    style = rng.integers(0, 4, size=n)
    out = []
    for p, d, s in zip(prefix.tolist(), digits.tolist(), style.tolist()):
        t = f"{d:08d}"
        parts = [p, t[0:2], t[2:4], t[4:6], t[6:8]]
        out.append((" ", ".", "-", " ")[s].join(parts))
    return np.array(out, dtype=object)


def _pick(rng: np.random.Generator, pool: list, n: int) -> np.ndarray:
    arr = np.empty(len(pool), dtype=object)
    arr[:] = pool
    return arr[rng.integers(0, len(pool), size=n)]


def _obj(values) -> np.ndarray:
    values = list(values)
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def _deal(rng: np.random.Generator, n: int, rate: float, rules: list[str], exclude: np.ndarray | None = None):
    """Choose ~rate*n rows (not in ``exclude``) and deal the rules round-robin: {rule: row indices}."""
    pool = np.arange(n) if exclude is None else np.flatnonzero(~exclude)
    k = min(len(pool), int(round(n * rate)))
    chosen = np.sort(rng.choice(pool, size=k, replace=False)) if k else np.zeros(0, dtype=np.int64)
    order = rng.permutation(k)
    return {r: chosen[order[i :: len(rules)]] for i, r in enumerate(rules)}


# --- bodies (training organisations) --------------------------------------------------------------


class _Bodies:
    def __init__(self, rng: np.random.Generator, n: int, places_n: int):
        self.name = _obj(
            f"{BODY_PREFIX[i % len(BODY_PREFIX)]} {BODY_WORD[(i // 7) % len(BODY_WORD)]} {i:05d}" for i in range(n)
        )
        self.siret = _sirets(rng, n)
        self.nda = _obj(f"{x:011d}" for x in rng.integers(10**10, 10**11 - 1, size=n).tolist())
        first = _pick(rng, FIRST, n)
        last = _pick(rng, LAST, n)
        civ = _pick(rng, ["Mme ", "M. ", ""], n)
        self.contact = _obj(f"{c}{f} {surname}" for c, f, surname in zip(civ, first, last))
        self.phone = _phones(rng, n)
        self.mail = _obj(
            f"{f.translate(_ASCII).lower()}.{surname.translate(_ASCII).lower().replace(' ', '')}@of{i:05d}.fr"
            for i, (f, surname) in enumerate(zip(first, last))
        )
        self.place = rng.integers(0, places_n, size=n)


# --- EOS + SAM ------------------------------------------------------------------------------------


def _eos(rng: np.random.Generator, n: int, day: date, planted: Counter, out: Path, stamp: str) -> list[Path]:
    cat = len(CATALOGUE)
    # actions -> sessions; ~8% permanent-entry actions carry one undated session
    permanent_action = rng.random(n) < 0.08  # oversized, trimmed below
    k = rng.integers(1, 12, size=n)
    k = np.where(permanent_action, 1, k)
    cum = np.cumsum(k)
    n_actions = int(np.searchsorted(cum, n)) + 1 if n else 0
    k = k[:n_actions].copy()
    if n_actions:
        k[-1] -= int(cum[n_actions - 1] - n)
    permanent_action = permanent_action[:n_actions]
    lot_sizes = _group_sizes(rng, n_actions, 1, 4)
    n_lots = len(lot_sizes)
    marche_sizes = _group_sizes(rng, n_lots, 1, 3)
    n_marches = len(marche_sizes)
    action_lot = np.repeat(np.arange(n_lots), lot_sizes)
    action_num = _rank(lot_sizes) + 1
    lot_marche = np.repeat(np.arange(n_marches), marche_sizes)
    lot_rank = _rank(marche_sizes)
    lot_num = (lot_marche * 37 + lot_rank * 1) % 997 + 1
    yy = day.year % 100
    dossier = _obj(f"{day.year}C{100000000 + m:09d}" for m in range(n_marches))
    marche = _obj(f"M{yy:02d}{m % 100000:05d}" for m in range(n_marches))
    action_cat = rng.integers(0, cat, size=n_actions)
    n_bodies = max(1, n // 40)
    bodies = _Bodies(rng, n_bodies, len(AURA_PLACES))
    marche_body = rng.integers(0, n_bodies, size=n_marches)
    action_body = np.where(
        rng.random(n_actions) < 0.8, marche_body[lot_marche[action_lot]], rng.integers(0, n_bodies, size=n_actions)
    )
    decimal_hours = rng.random(n_actions) < 0.03

    # sessions
    s_action = np.repeat(np.arange(n_actions), k)
    s_rank = _rank(k)
    s_lot = action_lot[s_action]
    s_marche = lot_marche[s_lot]
    s_perm = permanent_action[s_action]
    base = rng.integers(7, 120, size=n_actions)
    start = base[s_action] + 21 * s_rank
    end = start + rng.integers(30, 130, size=n)
    s_body = action_body[s_action]
    s_place = np.where(rng.random(n) < 0.85, bodies.place[s_body], rng.integers(0, len(AURA_PLACES), size=n))
    # lots: start in the past, end of execution after every session of the lot
    lot_start = -rng.integers(30, 300, size=n_lots)
    lot_max_end = np.full(n_lots, 0, dtype=np.int64)
    np.maximum.at(lot_max_end, s_lot, end)
    fin_exec = lot_max_end + rng.integers(10, 90, size=n_lots)
    lot_end = fin_exec - 183

    tot = rng.integers(8, 17, size=n)
    trainees = (rng.random(n) * tot / 2).astype(np.int64)
    cancelled = rng.random(n) < CANCEL_RATE
    trainees[cancelled] = 0
    state = rng.choice(np.array(["Validée", "Transmise", "Validée OF"], dtype=object), size=n, p=[0.6, 0.22, 0.18])
    recruit = rng.choice(np.array(["Ouvert", "Suspendu"], dtype=object), size=n, p=[0.99, 0.01])
    prescr_start = start - 60
    prescr_end = start - 3
    state_date = -rng.integers(1, 30, size=n)

    # defects (never on a cancelled session, to keep one planted thing per session)
    d = _deal(rng, n, DEFECT_RATE, EOS_DEFECTS, exclude=cancelled | s_perm)
    marche_col = marche[s_marche].copy()
    dossier_col = dossier[s_marche].copy()
    siret_col = bodies.siret[s_body].copy()
    contact_col = bodies.contact[s_body].copy()
    phone_col = bodies.phone[s_body].copy()
    mail_col = bodies.mail[s_body].copy()
    pe = np.zeros(n, dtype=np.int64)
    region = tot.copy()
    state_date_txt = _fmt_days(day, state_date, "%d/%m/%y")
    has_end = np.ones(n, dtype=bool)
    insee_override = {}
    vol_factor = np.ones(n)
    fin_exec_s = fin_exec[s_lot]
    i = d["DQ001"]
    end[i] = fin_exec_s[i] + 40
    i = d["DQ002"]
    marche_col[i] = _obj(f"R{4200 + j % 100}" for j in range(len(i)))
    i = d["DQ004"]
    cancelled[i] = True
    trainees[i] = np.maximum(trainees[i], 3)
    i = d["DQ005"]
    has_end[i] = False
    i = d["DQ006"]
    end[i] = start[i] - 20
    prescr_start[i] = start[i] - 90
    prescr_end[i] = start[i] - 40
    i = d["DQ007"]
    start[i] = -3
    prescr_start[i] = -60
    prescr_end[i] = -6
    i = d["DQ008"]
    prescr_end[i] = end[i] + 15
    i = d["DQ009"]
    third = len(i) // 3
    phone_col[i[:third]] = _obj(p[:-3] for p in phone_col[i[:third]])
    contact_col[i[third : 2 * third]] = ""
    mail_col[i[2 * third :]] = _obj(m.replace("@", "@@") for m in mail_col[i[2 * third :]])
    i = d["DQ010"]
    pe[i] = 2
    region[i] = tot[i] - 2
    i = d["DQ011"]
    region[i] = tot[i] + 2
    i = d["DQ012"]
    vol_factor[i] = 0.9
    events_dq013 = d["DQ013"]  # planted on one of the session's events (created below)
    i = d["DQ015"]
    for j in i.tolist():
        insee_override[j] = "63113" if AURA_PLACES[s_place[j]][0][:2] != "63" else "69383"
    i = d["DQ016"]
    siret_col[i] = _obj(s[:-1] + str((int(s[-1]) + 1) % 10) for s in siret_col[i])
    i = d["DQ017"]
    dup = i[s_rank[i] > 0]  # copy the previous session of the same action (dates and place)
    start[dup] = start[dup - 1]
    end[dup] = end[dup - 1]
    s_place[dup] = s_place[dup - 1]
    prescr_start[dup] = prescr_start[dup - 1]
    prescr_end[dup] = prescr_end[dup - 1]
    d["DQ017"] = dup
    i = d["DQ018"]
    state[i] = "A finaliser"
    i = d["DQ020"]
    dossier_col[i] = _obj(f"{day.year}C9{j:08d}" for j in range(len(i)))
    i = d["DQ021"]
    recruit[i] = "Fermé"
    i = d["DQ000"]
    state_date_txt[i] = "31/02/27"
    for r, idx in d.items():
        planted[f"eos:{r}"] += len(idx)
    planted["eos:DQ003 (cancelled)"] += int(cancelled.sum())

    # SAM: sessions-envisagees = finalised EOS sessions per action, +1 on ~1% actions (DQ019)
    # (finalised = publishable workflow, not cancelled, attached to its SAM action: what DQ019 counts)
    finalised = ~cancelled & (state != "A finaliser")
    finalised[d["DQ020"]] = False
    envisaged = np.bincount(s_action[finalised], minlength=n_actions)
    dq019 = rng.random(n_actions) < 0.01
    envisaged[dq019] += 1
    planted["sam:DQ019"] += int(dq019.sum())
    sam_path = out / f"sam_offre_{stamp}.xml"
    cat_label = _obj(c[0] for c in CATALOGUE)
    lot_titles = _obj(
        f"Lot {x:03d} - {cat_label[c].split(' - ')[0]}"
        for x, c in zip(lot_num.tolist(), action_cat[np.cumsum(lot_sizes) - lot_sizes].tolist())
    )
    _write_sam(
        sam_path,
        day,
        dossier,
        marche,
        bodies,
        marche_body,
        lot_marche,
        lot_num,
        lot_titles,
        lot_start,
        lot_end,
        fin_exec,
        action_lot,
        action_num,
        action_cat,
        envisaged,
    )

    # EOS sessions
    h_c = np.array([c[4] for c in CATALOGUE])
    h_e = np.array([c[5] for c in CATALOGUE])
    s_cat = action_cat[s_action]
    hc = h_c[s_cat] + np.where(decimal_hours[s_action], 0.5, 0.0)
    he = h_e[s_cat]
    hc_txt = _obj(f"{x:g}".replace(".", ",") for x in hc.tolist())
    he_txt = _obj(str(x) for x in he.tolist())
    vol_c = _obj(f"{x:.2f}".replace(".", ",") for x in (hc * tot * vol_factor).tolist())
    vol_e = _obj(f"{x:.2f}".replace(".", ",") for x in (he * tot).tolist())
    lot_txt = _obj(f"{x:03d}" for x in lot_num.tolist())[s_lot]
    short_lot = (lot_num[s_lot] < 100) & (rng.random(n) < 0.3)  # EOS writes "5" as well as "005"
    lot_txt[short_lot] = _obj(str(int(x)) for x in lot_num[s_lot][short_lot])
    place = [AURA_PLACES[p] for p in s_place.tolist()]
    postcode = _obj(p[0] for p in place)
    city = _obj(p[1] for p in place)
    insee = _obj(insee_override.get(j, p[2]) for j, p in enumerate(place))
    street_kind = _obj(p[3] for p in place)
    street = _obj(p[4] for p in place)
    street_no = _obj(str(x) for x in rng.integers(1, 120, size=n).tolist())
    bis = rng.choice(np.array(["", "", "", "", "", "", "", "", "bis", "ter"], dtype=object), size=n)
    complement = rng.choice(
        np.array(["", "", "", "Bâtiment B – accès par l’entrée nord", "2ème étage", "Salle Œillet"], dtype=object),
        size=n,
    )
    public = np.where(rng.random(n) < 0.2, _obj(f"{cat_label[c]} à {pc[1]}" for c, pc in zip(s_cat, place)), "")
    ses_rank = _rank(np.bincount(s_marche, minlength=n_marches)) + 1
    ses_no = _obj(str(x) for x in ses_rank.tolist())
    ses_no[state == "A finaliser"] = ""
    dossier_s = dossier[s_marche]
    bc = _obj(f"BC{d_[-6:]}-{r:02d}" for d_, r in zip(dossier_s, ses_rank.tolist()))
    bc[rng.random(n) < 0.05] = ""
    action_txt = _obj(f"{a} - {cat_label[c]}" for a, c in zip(action_num[s_action].tolist(), s_cat.tolist()))
    lot_title = lot_titles[s_lot]
    entry = np.where(s_perm, "Entrées/Sorties permanentes", "Entrées/Sorties fixes")
    blank = np.full(n, "", dtype=object)
    dd = lambda offs: _fmt_days(day, offs, "%d/%m/%y")  # noqa: E731
    ddl = lambda offs: _fmt_days(day, offs, "%d/%m/%Y")  # noqa: E731
    start_txt = np.where(s_perm, "", dd(start))
    end_txt = np.where(s_perm | ~has_end, "", dd(end))
    ps_txt = np.where(s_perm, "", dd(prescr_start))
    pe_txt = np.where(s_perm, "", dd(prescr_end))
    cols = [
        dossier_col,
        lot_txt,
        lot_title,
        np.full(n, EOS_PROGRAMME, dtype=object),
        ddl(lot_start)[s_lot],
        ddl(lot_end)[s_lot],
        ddl(fin_exec)[s_lot],
        marche_col,
        _obj(str(200000 + j) for j in range(n)),
        ses_no,
        bc,
        action_txt,
        np.where(rng.random(n) < 0.9, "O", "F"),
        public,
        bodies.name[s_body],
        siret_col,
        street_no,
        bis,
        street_kind,
        street,
        complement,
        postcode,
        city,
        insee,
        city,
        blank,
        hc_txt,
        he_txt,
        _obj(map(str, tot.tolist())),
        _obj(str(max(t - 4, 1)) for t in tot.tolist()),
        _obj(map(str, region.tolist())),
        _obj(map(str, pe.tolist())),
        _obj(map(str, trainees.tolist())),
        vol_c,
        vol_e,
        ps_txt,
        pe_txt,
        start_txt,
        end_txt,
        entry,
        state,
        np.where(cancelled, "Oui", ""),
        state_date_txt,
        contact_col,
        phone_col,
        mail_col,
        recruit,
        blank,
        blank,
    ]
    s_path = out / f"eos_sessions_{stamp}.csv"
    _write_csv(s_path, EOS_SESSION_HEADER, cols, n)

    # EOS events: ~0.5 per session, dated before the session start
    n_ev = rng.poisson(EVENTS_PER_SESSION, size=n).clip(0, 3)
    n_ev[events_dq013] = np.maximum(n_ev[events_dq013], 1)
    e_s = np.repeat(np.arange(n), n_ev)
    m = len(e_s)
    e_rank = _rank(n_ev)
    e_start = np.where(s_perm[e_s], rng.integers(10, 60, size=m), start[e_s] - rng.integers(4, 40, size=m) - 7 * e_rank)
    e_start = np.minimum(np.maximum(e_start, 1), np.where(s_perm[e_s], 10**6, start[e_s]))
    e_type = rng.choice(
        np.array(["Information Collective", "Test", "Entretien", "Bilan"], dtype=object),
        size=m,
        p=[0.7, 0.1, 0.15, 0.05],
    )
    hour = rng.choice(np.array([9, 10, 14]), size=m)
    hfmt = rng.integers(0, 4, size=m)
    seps = ("{:02d}:00", "{:02d}.00", "{:02d}h00", "{:02d} : 00")
    h_start = _obj(seps[f].format(h) for h, f in zip(hour.tolist(), hfmt.tolist()))
    bad = np.zeros(m, dtype=bool)
    first_ev = np.cumsum(n_ev) - n_ev
    bad[first_ev[events_dq013]] = True  # the first event of each DQ013 session ends before it starts
    h_end = _obj(seps[f].format(h + (-1 if b else 2)) for h, f, b in zip(hour.tolist(), hfmt.tolist(), bad.tolist()))
    remote = rng.random(m) < 0.1
    e_place = [AURA_PLACES[p] for p in s_place[e_s].tolist()]
    desc_kind = rng.integers(0, 10, size=m)
    descs = [
        "Présentation de la formation et des métiers",
        "Réunion d’information ; présentation du plateau technique\r\nApporter CV et attestation France Travail",
        "Tests de positionnement (« savoirs de base »)",
        "Entretiens individuels sur rendez-vous",
    ]
    desc = _obj(
        "À distance (visio) : le lien est envoyé par mail" if r else descs[k_ % len(descs)]
        for r, k_ in zip(remote.tolist(), desc_kind.tolist())
    )
    ev_cols = [
        _obj(str(200000 + j) for j in e_s.tolist()),
        e_type,
        ddl(e_start),
        ddl(e_start),
        h_start,
        h_end,
        np.where(remote, "", street_no[e_s]),
        _obj("" if r else f"{p[3]} {p[4]}" for r, p in zip(remote, e_place)),
        _obj("" if r else p[0] for r, p in zip(remote, e_place)),
        _obj("" if r else p[1] for r, p in zip(remote, e_place)),
        desc,
    ]
    e_path = out / f"eos_evenements_{stamp}.csv"
    _write_csv(e_path, EOS_EVENT_HEADER, ev_cols, m)
    planted["eos:events"] += m
    return [sam_path, s_path, e_path]


def _xml_escape(s: str) -> str:
    if "&" in s or "<" in s or ">" in s or '"' in s:
        s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return s


def _write_sam(
    path: Path,
    day: date,
    dossier,
    marche,
    bodies: _Bodies,
    marche_body,
    lot_marche,
    lot_num,
    lot_titles,
    lot_start,
    lot_end,
    fin_exec,
    action_lot,
    action_num,
    action_cat,
    envisaged,
) -> None:
    iso = lambda offs: _fmt_days(day, offs, "%Y-%m-%d")  # noqa: E731
    ls, le, fe = iso(lot_start), iso(lot_end), iso(fin_exec)
    # lots and actions are consecutive groups: index ranges per marché / per lot
    lots_of = np.searchsorted(lot_marche, np.arange(len(dossier) + 1))
    acts_of = np.searchsorted(action_lot, np.arange(len(lot_num) + 1))
    cat_texts = []
    for label, formacode, rome, rncp, hc, he, _code in CATALOGUE:
        lab = _xml_escape(label)
        rncp_attr = f' certifiante="oui" code-rncp="{rncp}"' if rncp else ' certifiante="non"'
        cat_texts.append(
            f'              duree-centre="{hc}" duree-entreprise="{he}"\n'
            f'              formacode="{formacode}" rome="{rome}"{rncp_attr}>\n'
            f"        <intitule>{lab}</intitule>\n"
            f"        <objectif>{_xml_escape(OBJECTIF.format(l=label))}</objectif>\n"
            f"        <contenu>{_xml_escape(CONTENU.format(h=he))}</contenu>\n"
            f"        <prerequis>{_xml_escape(PREREQUIS)}</prerequis>\n"
            "      </action>\n"
        )
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<sam-export date-extraction="{day.isoformat()}">\n')
        buf = []
        for m in range(len(dossier)):
            b = int(marche_body[m])
            buf.append(
                f'  <marche numero="{marche[m]}" programme="{_xml_escape(EOS_PROGRAMME)}" dossier="{dossier[m]}">\n'
                f'    <titulaire siret="{bodies.siret[b]}" nda="{bodies.nda[b]}" '
                f'raison-sociale="{_xml_escape(bodies.name[b])}"/>\n'
            )
            for lt in range(lots_of[m], lots_of[m + 1]):
                buf.append(
                    f'    <lot numero="{lot_num[lt]:03d}" debut="{ls[lt]}" fin="{le[lt]}" '
                    f'fin-execution="{fe[lt]}">\n      <intitule>{_xml_escape(lot_titles[lt])}</intitule>\n'
                )
                for a in range(acts_of[lt], acts_of[lt + 1]):
                    buf.append(
                        f'      <action numero="{action_num[a]}" sessions-envisagees="{envisaged[a]}" effectif="12"\n'
                    )
                    buf.append(cat_texts[action_cat[a]])
                buf.append("    </lot>\n")
            buf.append("  </marche>\n")
            if len(buf) > 20000:
                fh.write("".join(buf))
                buf.clear()
        fh.write("".join(buf))
        fh.write("</sam-export>\n")


def _write_csv(path: Path, header: list[str], cols: list[np.ndarray], n: int) -> None:
    with open(path, "w", encoding="cp1252", newline="") as fh:
        w = csv.writer(fh, delimiter=";", quotechar='"', quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        w.writerow(header)
        for lo in range(0, n, CHUNK):
            w.writerows(zip(*(c[lo : lo + CHUNK].tolist() for c in cols)))


# --- SIGMA ----------------------------------------------------------------------------------------

EXCEL_EPOCH = date(1899, 12, 30)


class _Cell:
    """Vectorised cell columns: each is an object array of ready-made ``<c>`` XML fragments."""

    @staticmethod
    def text(col: str, rows: list[str], values) -> list[str]:
        return [
            f'<c r="{col}{r}" t="inlineStr"><is><t>{_xml_escape(v)}</t></is></c>' if v != "" else ""
            for r, v in zip(rows, values)
        ]

    @staticmethod
    def number(col: str, rows: list[str], values) -> list[str]:
        return [f'<c r="{col}{r}"><v>{v}</v></c>' for r, v in zip(rows, values)]

    @staticmethod
    def styled(col: str, rows: list[str], values, style: int) -> list[str]:
        return [f'<c r="{col}{r}" s="{style}"><v>{v}</v></c>' for r, v in zip(rows, values)]


def _date_cells(
    col: str, rows: list[str], day: date, offs: np.ndarray, as_text: np.ndarray, empty: np.ndarray | None = None
) -> list[str]:
    txt: list[str] | np.ndarray = _fmt_days(day, offs, "%d/%m/%Y") if len(offs) else []
    serial = (offs + (day - EXCEL_EPOCH).days).tolist()
    out = []
    for j, (r, t, s, a) in enumerate(zip(rows, txt, serial, as_text.tolist())):
        if empty is not None and empty[j]:
            out.append("")
        elif a:
            out.append(f'<c r="{col}{r}" t="inlineStr"><is><t>{t}</t></is></c>')
        else:
            out.append(f'<c r="{col}{r}" s="1"><v>{s}</v></c>')
    return out


def _mixed_cells(col: str, rows: list[str], values: list | np.ndarray, as_number: np.ndarray) -> list[str]:
    return [
        f'<c r="{col}{r}"><v>{int(v)}</v></c>'
        if num
        else (f'<c r="{col}{r}" t="inlineStr"><is><t>{_xml_escape(v)}</t></is></c>' if v != "" else "")
        for r, v, num in zip(rows, values, as_number.tolist())
    ]


def _sigma(
    rng: np.random.Generator, n: int, day: date, planted: Counter, out: Path, stamp: str, when: datetime
) -> Path:
    yy = day.year % 100
    # composantes -> sessions; ~10% permanent-entry composantes with one spanning session
    perm_c = rng.random(n + 1) < 0.10
    k = np.where(perm_c, 1, rng.integers(1, 9, size=n + 1))
    cum = np.cumsum(k)
    n_comp = int(np.searchsorted(cum, n)) + 1 if n else 0
    k = k[:n_comp].copy()
    if n_comp:
        k[-1] -= int(cum[n_comp - 1] - n)
    perm_c = perm_c[:n_comp]
    comp_sizes = _group_sizes(rng, n_comp, 1, 3)  # composantes per action
    n_act = len(comp_sizes)
    contract_sizes = _group_sizes(rng, n_act, 1, 3)
    n_contract = len(contract_sizes)
    act_contract = np.repeat(np.arange(n_contract), contract_sizes)
    act_rank = _rank(contract_sizes) + 1
    act_cat = rng.integers(0, len(CATALOGUE), size=n_act)
    contract = _obj(f"{yy:02d}P{j:07d}" for j in range(n_contract))
    action_id = _obj(
        f"{contract[c]}_{CATALOGUE[t][6]}_{r}"
        for c, t, r in zip(act_contract.tolist(), act_cat.tolist(), act_rank.tolist())
    )
    c_act = np.repeat(np.arange(n_act), comp_sizes)
    c_num = _rank(comp_sizes) + 1
    n_bodies = max(1, n // 40)
    bodies = _Bodies(rng, n_bodies, len(OCC_PLACES))
    act_body = rng.integers(0, n_bodies, size=n_act)
    c_place = bodies.place[act_body[c_act]]

    s_comp = np.repeat(np.arange(n_comp), k)
    s_rank = _rank(k)
    s_act = c_act[s_comp]
    s_perm = perm_c[s_comp]
    c_start = rng.integers(20, 120, size=n_comp)
    start = c_start[s_comp] + 7 + 28 * s_rank
    end = start + rng.integers(30, 90, size=n)
    c_max = np.zeros(n_comp, dtype=np.int64)
    np.maximum.at(c_max, s_comp, end)
    c_end = np.where(perm_c, c_start + 300, c_max + rng.integers(0, 30, size=n_comp))
    start = np.where(s_perm, c_start[s_comp], start)
    end = np.where(s_perm, c_end[s_comp], end)
    a_start = np.full(n_act, 10**6, dtype=np.int64)
    np.minimum.at(a_start, c_act, c_start)
    a_end = np.zeros(n_act, dtype=np.int64)
    np.maximum.at(a_end, c_act, c_end)
    a_start = a_start - 60
    a_end = a_end + 30

    places = rng.integers(8, 21, size=n)
    cancelled = rng.random(n) < CANCEL_RATE
    places[cancelled] = 0
    planted["sigma:DQ003 (cancelled)"] += int(cancelled.sum())
    status = np.full(n, "Validée", dtype=object)
    s_body = act_body[s_act]
    s_place = c_place[s_comp]
    city = _obj(OCC_PLACES[p][0] for p in s_place.tolist())
    pc = _obj(OCC_PLACES[p][1] for p in s_place.tolist())
    lieu = _obj(
        f"{bodies.name[b]} / SITE {OCC_PLACES[p][0].title()} / {c} / {z}"
        for b, p, c, z in zip(s_body.tolist(), s_place.tolist(), city, pc)
    )
    phone = bodies.phone[s_body].copy()
    comp_txt = _obj(f"{x:02d}" for x in c_num[s_comp].tolist())
    has_end = np.ones(n, dtype=bool)

    d = _deal(rng, n, DEFECT_RATE, SIGMA_DEFECTS, exclude=cancelled | s_perm)
    i = d["DQ001"]
    end[i] = c_end[s_comp[i]] + 12
    i = d["DQ005"]
    has_end[i] = False
    i = d["DQ006"]
    end[i] = start[i] - 5  # still inside the composante: DQ006 only
    i = d["DQ009"]
    phone[i] = _obj(p[:-3] for p in phone[i])
    ic_dq013 = d["DQ013"]
    i = d["DQ015"]
    lieu[i] = _obj(s[:-1] for s in lieu[i])  # 4-digit postcode
    i = d["DQ018"]
    status[i] = "En attente d'émission"
    i = d["DQ020"]
    comp_txt[i] = "09"
    i = d["DQ000"]
    lieu[i] = _obj(s.split(" / ", 1)[1] for s in lieu[i])  # 3 parts only
    for r, idx in d.items():
        planted[f"sigma:{r}"] += len(idx)
    # a composante N° 09 would really exist for an action with 9 composantes: never (max 3)

    path = out / f"sigma_actions_{stamp}.xlsx"
    zt = when.timetuple()[:6]
    with zipfile.ZipFile(path, "w") as zf:

        def part(name: str, data: str) -> None:
            zi = zipfile.ZipInfo(name, date_time=zt)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            zf.writestr(zi, data.encode("utf-8"))

        sheets = list(SIGMA_HEADERS)
        part("[Content_Types].xml", _content_types(len(sheets)))
        part("_rels/.rels", _ROOT_RELS)
        part("docProps/core.xml", _CORE.format(ts=when.strftime("%Y-%m-%dT%H:%M:%SZ")))
        part("xl/workbook.xml", _workbook(sheets))
        part("xl/_rels/workbook.xml.rels", _workbook_rels(len(sheets)))
        part("xl/styles.xml", _STYLES)

        def sheet(idx: int, header: list[str], cols: list[list[str]], nrows: int) -> None:
            zi = zipfile.ZipInfo(f"xl/worksheets/sheet{idx}.xml", date_time=zt)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            zi._compresslevel = 1  # type: ignore[attr-defined]  # fast deflate for the big sheets (Python 3.11 attribute)
            with zf.open(zi, "w", force_zip64=nrows > 2_000_000) as fh:
                fh.write(_SHEET_HEAD.encode())
                head = "".join(
                    f'<c r="{_col(j)}1" t="inlineStr"><is><t>{_xml_escape(h)}</t></is></c>'
                    for j, h in enumerate(header)
                )
                fh.write(f'<row r="1">{head}</row>'.encode())
                for lo in range(0, nrows, CHUNK):
                    chunk = [c[lo : lo + CHUNK] for c in cols]
                    fh.write(
                        "".join(
                            f'<row r="{lo + j + 2}">{"".join(cells)}</row>' for j, cells in enumerate(zip(*chunk))
                        ).encode("utf-8")
                    )
                fh.write(b"</sheetData></worksheet>")

        T, N = _Cell.text, _Cell.number

        # Actions
        rows = [str(j) for j in range(2, n_act + 2)]
        txt_date = rng.random(n_act) < 0.3
        year_txt = rng.random(n_act) < 0.3
        cols = [
            T("A", rows, contract[act_contract]),
            T("B", rows, action_id),
            T("C", rows, (CATALOGUE[t][0] for t in act_cat.tolist())),
            T("D", rows, ["EC"] * n_act),
            _mixed_cells("E", rows, [str(day.year)] * n_act, ~year_txt),
            _date_cells("F", rows, day, a_start, txt_date),
            _date_cells("G", rows, day, a_end, txt_date),
            T("H", rows, bodies.name[act_body]),
            T("I", rows, bodies.siret[act_body]),
            T("J", rows, bodies.nda[act_body]),
            T("K", rows, ["PRF"] * n_act),
            T("L", rows, [SIGMA_PROGRAMME] * n_act),
            T("M", rows, (CATALOGUE[t][1] for t in act_cat.tolist())),
            T("N", rows, (CATALOGUE[t][2] for t in act_cat.tolist())),
        ]
        sheet(1, SIGMA_HEADERS["Actions"], cols, n_act)
        del cols

        # Composantes
        rows = [str(j) for j in range(2, n_comp + 2)]
        txt_date = rng.random(n_comp) < 0.3
        c_cat = act_cat[c_act]
        cols = [
            T("A", rows, action_id[c_act]),
            _mixed_cells("B", rows, [f"{x:02d}" for x in c_num.tolist()], rng.random(n_comp) < 0.1),
            T("C", rows, np.where(c_num == 1, "FORQ - Formation Qualifiante", "FORP - Formation Projet Pro")),
            _date_cells("D", rows, day, c_start, txt_date),
            _date_cells("E", rows, day, c_end, txt_date),
            T("F", rows, (OCC_PLACES[p][0] for p in c_place.tolist())),
            _mixed_cells("G", rows, [OCC_PLACES[p][1] for p in c_place.tolist()], rng.random(n_comp) < 0.1),
            N("H", rows, (k * 12).tolist()),
            N("I", rows, (CATALOGUE[t][4] for t in c_cat.tolist())),
            N("J", rows, (CATALOGUE[t][5] for t in c_cat.tolist())),
            T("K", rows, np.where(perm_c, "Entrées/sorties permanentes", "Dates fixes")),
        ]
        sheet(2, SIGMA_HEADERS["Composantes"], cols, n_comp)
        del cols

        # Sessions
        rows = [str(j) for j in range(2, n + 2)]
        txt_date = rng.random(n) < 0.3
        ses_num = [f"{x + 1:02d}" for x in s_rank.tolist()]
        phone_num = (rng.random(n) < 0.03) & ~np.isin(np.arange(n), d["DQ009"])
        phone_digits = [p.replace(" ", "").replace(".", "").replace("-", "") for p in phone]
        cols = [
            T("A", rows, action_id[s_act]),
            _mixed_cells("B", rows, comp_txt, (rng.random(n) < 0.05) & (comp_txt != "09")),
            _mixed_cells("C", rows, ses_num, rng.random(n) < 0.05),
            _date_cells("D", rows, day, start, txt_date),
            _date_cells("E", rows, day, end, txt_date, ~has_end),
            T("F", rows, lieu),
            N("G", rows, places.tolist()),
            T("H", rows, (f"OI{yy:02d}-{j:07d}" for j in range(n))),
            T("I", rows, status),
            T("J", rows, bodies.contact[s_body]),
            [
                f'<c r="K{r}"><v>{int(dg)}</v></c>' if num else f'<c r="K{r}" t="inlineStr"><is><t>{p}</t></is></c>'
                for r, p, dg, num in zip(rows, phone, phone_digits, phone_num.tolist())
            ],
            T("L", rows, bodies.mail[s_body]),
        ]
        sheet(3, SIGMA_HEADERS["Sessions"], cols, n)
        del cols

        # Informations collectives: ~0.5 per session, before the session start
        n_ic = rng.poisson(EVENTS_PER_SESSION, size=n).clip(0, 3)
        n_ic[ic_dq013] = np.maximum(n_ic[ic_dq013], 1)
        ic_s = np.repeat(np.arange(n), n_ic)
        m = len(ic_s)
        ic_rank = _rank(n_ic)
        ic_day = np.maximum(start[ic_s] - rng.integers(5, 30, size=m) - 7 * ic_rank, 1)
        ic_day = np.minimum(ic_day, start[ic_s])
        bad = np.zeros(m, dtype=bool)
        bad[(np.cumsum(n_ic) - n_ic)[ic_dq013]] = True
        hour = rng.choice(np.array([9, 10, 14]), size=m)
        fmt = rng.integers(0, 4, size=m)  # 3 = Excel time cell
        seps = ("{:02d}:00", "{:02d}.00", "{:02d} : 00")
        h_end = hour + np.where(bad, -2, 2)

        def hours(col: str, rws: list[str], hh: np.ndarray) -> list[str]:
            return [
                f'<c r="{col}{r}" s="2"><v>{h / 24!r}</v></c>'
                if f == 3
                else f'<c r="{col}{r}" t="inlineStr"><is><t>{seps[f].format(h)}</t></is></c>'
                for r, h, f in zip(rws, hh.tolist(), fmt.tolist())
            ]

        ic_places = np.where(rng.random(m) < 0.01, 0, rng.integers(10, 25, size=m))
        planted["sigma:DQ014 (cancelled IC)"] += int((ic_places == 0).sum())
        planted["sigma:informations collectives"] += m
        ic_place = s_place[ic_s]
        rows = [str(j) for j in range(2, m + 2)]
        comments = np.array(
            [
                "Présentation de la formation, des métiers et des modalités de sélection",
                "Visite du plateau technique",
                "Réunion d'information; tests de positionnement",
            ],
            dtype=object,
        )
        cols = [
            T("A", rows, action_id[s_act[ic_s]]),
            T("B", rows, comp_txt[ic_s]),
            T("C", rows, (ses_num[j] for j in ic_s)),
            _date_cells("D", rows, day, ic_day, rng.random(m) < 0.3),
            hours("E", rows, hour),
            hours("F", rows, h_end),
            N("G", rows, ic_places.tolist()),
            T("H", rows, comments[rng.integers(0, 3, size=m)]),
            N("I", rows, rng.integers(1, 120, size=m).tolist()),
            T("J", rows, rng.choice(np.array(["", "", "", "", "bis"], dtype=object), size=m)),
            T("K", rows, (OCC_PLACES[p][2] for p in ic_place.tolist())),
            T("L", rows, (OCC_PLACES[p][3] for p in ic_place.tolist())),
            _mixed_cells("M", rows, [OCC_PLACES[p][1] for p in ic_place.tolist()], rng.random(m) < 0.1),
            T("N", rows, (OCC_PLACES[p][0] for p in ic_place.tolist())),
        ]
        sheet(4, SIGMA_HEADERS["Informations collectives"], cols, m)
    return path


def _col(j: int) -> str:
    s = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        s = chr(65 + r) + s
    return s


_SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" '
    'Target="docProps/core.xml"/></Relationships>'
)
_CORE = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    "<dc:creator>SIGMA - Région Occitanie</dc:creator>"
    '<dcterms:created xsi:type="dcterms:W3CDTF">{ts}</dcterms:created>'
    '<dcterms:modified xsi:type="dcterms:W3CDTF">{ts}</dcterms:modified></cp:coreProperties>'
)
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="dd/mm/yyyy"/><numFmt numFmtId="165" formatCode="hh:mm"/>'
    '</numFmts><fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill>'
    '</fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
)


def _content_types(n: int) -> str:
    sheets = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, n + 1)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
        f"{sheets}</Types>"
    )


def _workbook(names: list[str]) -> str:
    sheets = "".join(f'<sheet name="{_xml_escape(s)}" sheetId="{i}" r:id="rId{i}"/>' for i, s in enumerate(names, 1))
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        f"<sheets>{sheets}</sheets></workbook>"
    )


def _workbook_rels(n: int) -> str:
    rels = "".join(
        f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        f'Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, n + 1)
    )
    rels += (
        f'<Relationship Id="rId{n + 1}" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f"{rels}</Relationships>"
    )


# --- entry point ----------------------------------------------------------------------------------


def write_inbox(out: Path, n_sessions: int, *, seed: int = 42, extract_date: date = date(2026, 11, 19)) -> list[Path]:
    """Write the four extracts of ``extract_date`` for ``n_sessions`` sessions into ``out``.

    Returns the paths [SAM, EOS sessions, EOS events, SIGMA]. ``out/SYNTH.json`` records the
    parameters and the planted defects per source and rule.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_eos = int(round(n_sessions * 0.6))
    n_sigma = n_sessions - n_eos
    stamp = extract_date.strftime("%Y%m%d")
    planted: Counter = Counter()
    when = datetime(extract_date.year, extract_date.month, extract_date.day, 5, 30, 0)
    paths = _eos(np.random.default_rng(rng.integers(2**63)), n_eos, extract_date, planted, out, stamp)
    paths.append(_sigma(np.random.default_rng(rng.integers(2**63)), n_sigma, extract_date, planted, out, stamp, when))
    meta = {
        "sessions": n_sessions,
        "eos_sessions": n_eos,
        "sigma_sessions": n_sigma,
        "seed": seed,
        "extract_date": extract_date.isoformat(),
        "files": [p.name for p in paths],
        "planted": dict(sorted(planted.items())),
    }
    (out / "SYNTH.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return paths
