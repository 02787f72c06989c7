"""Generate the SIGMA sample workbooks of the demo inbox (Région Occitanie).

    .venv/bin/python data/samples/generate_sigma.py [OUT_DIR]      # default: this folder
    .venv/bin/python data/samples/generate_sigma.py --defects      # print the DEFECTS.md section

Writes ``sigma_actions_20261119.xlsx`` (day 1) and ``sigma_actions_20261120.xlsx`` (day 2).
Deterministic: workbook properties and zip entry timestamps are fixed, so re-running gives
byte-identical files.

The data mixes what SIGMA really hands over: real Excel dates and text ``dd/mm/yyyy`` dates,
composante numbers as text ``01`` and once as a number cell, hours written ``10:00``,
``14.00``, ``10 : 00`` and as Excel time cells, a ``Lieu de la session`` whose body holds a
``/``. Day 1 plants one defect per session listed in ``DEFECTS.md`` (section SIGMA); day 2
changes one session's dates, cancels one (0 places), adds one and drops one.
"""

from __future__ import annotations

import io
import re
import sys
import zipfile
from datetime import date, datetime, time
from pathlib import Path

from openpyxl import Workbook

HERE = Path(__file__).resolve().parent
DAY1 = "20261119"
DAY2 = "20261120"
FIXED_TIMESTAMP = {DAY1: datetime(2026, 11, 19, 5, 30, 0), DAY2: datetime(2026, 11, 20, 5, 30, 0)}


def D(y: int, m: int, d: int) -> date:
    """A real Excel date cell."""
    return date(y, m, d)


def T(s: str) -> str:
    """A date typed as text (``dd/mm/yyyy``)."""
    return s


# --- sheet Actions --------------------------------------------------------------------------------

ACTIONS_HEADERS = [
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
]
PROGRAMME = "Programme Régional de Formation 2026-2027"
ACTIONS = [
    [
        "26P0001234",
        "26P0001234_AGRI_1",
        "Ouvrier agricole polyvalent - CAPa Métiers de l'agriculture",
        "EC",
        2026,
        D(2026, 9, 1),
        D(2027, 12, 31),
        "AGRI FORMATION OCCITANIE",
        "31245678300017",
        "76340123456",
        "PRF",
        PROGRAMME,
        "21046",
        "A1416",
    ],
    [
        "26P0001234",
        "26P0001234_BTP_2",
        "Maçon - Titre professionnel",
        "EC",
        "2026",
        T("01/09/2026"),
        T("31/12/2027"),
        "AGRI FORMATION OCCITANIE",
        "31245678300017",
        "76340123456",
        "PRF",
        PROGRAMME,
        "22454",
        "F1703",
    ],
    [
        "26P0005678",
        "26P0005678_NUM_1",
        "Développeur web et web mobile - Titre professionnel",
        "EC",
        2026,
        D(2026, 9, 1),
        D(2027, 12, 31),
        "NUMERIQUE SUD / SIMPLON OCCITANIE",
        42356789000011,
        "76310987654",
        "PRF",
        PROGRAMME,
        "31054",
        "M1805",
    ],
    [
        "26P0005678",
        "26P0005678_SAN_1",
        "Aide-soignant - Diplôme d'État",
        "EC",
        2026,
        D(2026, 9, 1),
        D(2027, 12, 31),
        "SANTE FORMATION OCCITANIE",
        "53467891700012",
        "76810456789",
        "PRF",
        PROGRAMME,
        "43436",
        "J1501",
    ],
    # DQ002: the action number does not start with its contract number (26P0009012 vs 26P0009021)
    [
        "26P0009012",
        "26P0009021_LOG_1",
        "Agent magasinier - Titre professionnel",
        "EC",
        2026,
        T("01/09/2026"),
        T("31/12/2027"),
        "LOGISTIQUE FORMATION GARD",
        "64578912400015",
        "76300567890",
        "PRF",
        PROGRAMME,
        "31811",
        "N1103",
    ],
    # BTP FORMATION 66 holds this contract of its own (no composante nor session entered yet) and is
    # co-contractor of 26P0001234_BTP_2, whose sessions it gives: the only record of its SIRET
    [
        "26P0002468",
        "26P0002468_BTP_1",
        "Coffreur bancheur - Titre professionnel",
        "EC",
        2026,
        D(2026, 9, 1),
        D(2027, 12, 31),
        "BTP FORMATION 66",
        "75689123000010",
        "76660234567",
        "PRF",
        PROGRAMME,
        "22411",
        "F1701",
    ],
]

# --- sheet Composantes ----------------------------------------------------------------------------

COMPOSANTES_HEADERS = [
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
]
FORP = "FORP - Formation Projet Pro"
FORQ = "FORQ - Formation Qualifiante"
COMPOSANTES = [
    ["26P0001234_AGRI_1", "01", FORP, D(2027, 1, 4), D(2027, 6, 30), "BEZIERS", "34500", 48, 420, 140, "Dates fixes"],
    ["26P0001234_AGRI_1", "02", FORQ, T("01/02/2027"), T("30/09/2027"), "RODEZ", 12000, 24, 560, 210, "Dates fixes"],
    [
        "26P0001234_BTP_2",
        "01",
        FORQ,
        D(2027, 1, 11),
        D(2027, 12, 17),
        "PERPIGNAN",
        "66000",
        36,
        630,
        175,
        "Dates fixes",
    ],
    ["26P0005678_NUM_1", "01", FORQ, D(2027, 1, 4), D(2027, 12, 17), "TOULOUSE", "31000", 45, 700, 280, "Dates fixes"],
    [
        "26P0005678_NUM_1",
        "02",
        FORP,
        T("04/01/2027"),
        T("17/12/2027"),
        "MONTPELLIER",
        "34000",
        15,
        210,
        70,
        "Entrées/sorties permanentes",
    ],
    # the composante number typed as a number cell: read as "01"
    ["26P0005678_SAN_1", 1, FORQ, D(2027, 1, 4), D(2027, 12, 17), "ALBI", "81000", 36, 770, 595, "Dates fixes"],
    ["26P0009021_LOG_1", "01", FORQ, D(2027, 2, 1), D(2027, 11, 30), "NIMES", "30000", 12, 490, 140, "dates fixes"],
]

# --- sheet Sessions -------------------------------------------------------------------------------

SESSIONS_HEADERS = [
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
]
V = "Validée"
W = "En attente d'émission"
L_BEZ = "AGRI FORMATION OCCITANIE / CAP 2000 / BEZIERS / 34500"
L_ROD = "AGRI FORMATION OCCITANIE / LYCEE AGRICOLE LA ROQUE / RODEZ / 12000"
# 26P0001234_BTP_2 is held by AGRI FORMATION OCCITANIE; its sessions are given by the co-contractor
# BTP FORMATION 66 (titulaire ≠ formateur): they must not get the titulaire's SIRET
L_PER = "BTP FORMATION 66 / PLATEAU TECHNIQUE TECNOSUD / PERPIGNAN / 66000"
L_TLS = "NUMERIQUE SUD / SIMPLON OCCITANIE / CAMPUS MONTAUDRAN / TOULOUSE / 31000"
L_MTP = "NUMERIQUE SUD / SIMPLON OCCITANIE / CAMPUS MILLENAIRE / MONTPELLIER / 34000"  # body holds a "/"
L_ALB = "SANTE FORMATION OCCITANIE / IFSI ALBI / ALBI / 81000"
L_NIM = "LOGISTIQUE FORMATION GARD / PLATEFORME GARD LOGISTIQUE / NIMES / 30000"

AGRI, BTP, NUM, SAN, LOG = (
    "26P0001234_AGRI_1",
    "26P0001234_BTP_2",
    "26P0005678_NUM_1",
    "26P0005678_SAN_1",
    "26P0009021_LOG_1",
)
C_AGRI = ("Claire DUPONT", "04 67 12 34 56", "claire.dupont@agri-formation-occitanie.fr")
C_ROD = ("Paul MARTY", "05 65 12 34 56", "paul.marty@agri-formation-occitanie.fr")
C_BTP = ("Jordi PUIG", "04.68.12.34.56", "j.puig@btp-formation66.fr")
C_NUM = ("Inès BENALI", "05 61 23 45 67", "ines.benali@numerique-sud.fr")
C_MTP = ("Lucas ROUX", "04 67 98 76 54", "lucas.roux@numerique-sud.fr")
C_SAN = ("Marie FABRE", "05-63-12-34-56", "marie.fabre@sante-formation-occitanie.fr")
C_LOG = ("Karim HADDAD", "04 66 12 34 56", "k.haddad@logistique-gard.fr")

# (row values, planted defect or None). Row values follow SESSIONS_HEADERS.
SESSIONS_DAY1 = [
    ([AGRI, "01", "01", D(2027, 1, 11), D(2027, 3, 26), L_BEZ, 12, "OI26-000101", V, *C_AGRI], None),
    (
        [AGRI, "01", "02", T("01/03/2027"), T("09/07/2027"), L_BEZ, 12, "OI26-000102", V, *C_AGRI],
        ("DQ001", "session ends 09/07/2027, after its composante (04/01/2027 - 30/06/2027)"),
    ),
    (
        [AGRI, "01", "03", D(2027, 4, 5), D(2027, 6, 25), L_BEZ, 0, "OI26-000103", V, *C_AGRI],
        ("DQ003", "Nb. de places 0: cancelled"),
    ),
    (
        [
            AGRI,
            "01",
            "04",
            D(2027, 1, 25),
            D(2027, 4, 30),
            "AGRI FORMATION OCCITANIE / CAP 2000 / BEZIERS / 3450",
            12,
            "OI26-000104",
            V,
            *C_AGRI,
        ],
        ("DQ015", "Lieu postcode 3450 (4 digits)"),
    ),
    ([AGRI, "02", "01", T("08/02/2027"), T("28/05/2027"), L_ROD, 12, "OI26-000201", V, *C_ROD], None),
    (
        [AGRI, "02", "02", D(2027, 5, 3), "", L_ROD, 12, "OI26-000202", V, *C_ROD],
        ("DQ005", "'Dates fixes' composante, session without end date"),
    ),
    ([BTP, "01", "01", D(2027, 1, 18), D(2027, 6, 11), L_PER, 12, "OI26-000301", V, *C_BTP], None),
    (
        [
            BTP,
            "01",
            "02",
            T("15/03/2027"),
            T("10/09/2027"),
            L_PER,
            12,
            "OI26-000302",
            V,
            "Jordi PUIG",
            "05 61 23 45",
            "j.puig@btp-formation66.fr",
        ],
        ("DQ009", "phone '05 61 23 45' has 8 digits"),
    ),
    (
        [BTP, "01", "03", D(2027, 9, 6), D(2027, 12, 10), L_PER, 12, "OI26-000303", W, *C_BTP],
        ("DQ018", "Statut 'En attente d'émission': not published"),
    ),
    (
        [BTP, "09", "01", D(2027, 2, 1), D(2027, 5, 28), L_PER, 12, "OI26-000901", V, *C_BTP],
        ("DQ020", "composante 09 does not exist for 26P0001234_BTP_2"),
    ),
    ([NUM, "01", "01", D(2027, 1, 11), D(2027, 7, 2), L_TLS, 15, "OI26-000401", V, *C_NUM], None),
    (
        [
            NUM,
            "01",
            "02",
            T("07/06/2027"),
            T("10/12/2027"),
            L_TLS,
            15,
            "OI26-000402",
            V,
            "Inès BENALI",
            "+596 596 12 34 56",
            "ines.benali@numerique-sud.fr",
        ],
        None,
    ),  # overseas phone: clean
    ([NUM, "01", "03", D(2027, 9, 13), D(2027, 12, 17), L_TLS, 15, "OI26-000403", V, *C_NUM], None),
    # permanent entries: one session spanning the composante period (clean)
    ([NUM, "02", "01", T("04/01/2027"), T("17/12/2027"), L_MTP, 15, "OI26-000501", V, *C_MTP], None),
    (
        [
            SAN,
            "01",
            "01",
            D(2027, 1, 18),
            D(2027, 6, 25),
            L_ALB,
            12,
            "OI26-000601",
            V,
            "Marie FABRE",
            563123456,
            "marie.fabre@sante-formation-occitanie.fr",
        ],
        None,
    ),  # phone as a number cell
    (
        [
            SAN,
            "01",
            "02",
            D(2027, 9, 6),
            D(2027, 12, 17),
            "SANTE FORMATION OCCITANIE / ALBI / 81000",
            12,
            "OI26-000602",
            V,
            *C_SAN,
        ],
        ("DQ000", "Lieu de la session with only 3 parts"),
    ),
    # composante and session number typed as number cells: key sigma:26P0005678_SAN_1:01:03
    ([SAN, 1, 3, D(2027, 3, 1), T("27/08/2027"), L_ALB, 12, "OI26-000603", V, *C_SAN], None),
    # the only session of the DQ002 action (the finding is on the action's row, see ACTIONS_DEFECTS)
    (
        [LOG, "01", "01", D(2027, 2, 15), D(2027, 6, 18), L_NIM, 10, "OI26-000701", V, *C_LOG],
        (
            "DQ002",
            "under action 26P0009021_LOG_1, in error (DQ002, Actions row 6): kept out of the feeds, with its own "
            "DQ002 row naming the action",
        ),
    ),
]

# defects planted on the Actions sheet: N° Action -> (rule, description)
ACTIONS_DEFECTS = {
    LOG: (
        "DQ002",
        "action number 26P0009021_LOG_1 does not start with its contract 26P0009012; "
        "its only session is `sigma:26P0009021_LOG_1:01:01` (Sessions row 19)",
    ),
}

# --- sheet Informations collectives ---------------------------------------------------------------

IC_HEADERS = [
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
]
PRESENTATION = "Présentation de la formation, des métiers et des modalités de sélection"
IC_DAY1 = [
    (
        [
            AGRI,
            "01",
            "01",
            D(2026, 12, 8),
            "10:00",
            "12:00",
            15,
            PRESENTATION,
            12,
            "bis",
            "avenue",
            "Jean Moulin",
            "34500",
            "BEZIERS",
        ],
        None,
    ),
    (
        [
            AGRI,
            "02",
            "01",
            T("12/01/2027"),
            "14.00",
            "16.00",
            12,
            PRESENTATION,
            3,
            "",
            "rue",
            "de la Roque",
            "12000",
            "RODEZ",
        ],
        None,
    ),
    (
        [
            BTP,
            "01",
            "01",
            D(2026, 12, 15),
            "10 : 00",
            "11 : 30",
            10,
            "Visite du plateau technique",
            45,
            "",
            "avenue",
            "Paul Pascot",
            "66000",
            "PERPIGNAN",
        ],
        None,
    ),
    (
        [
            NUM,
            "01",
            "01",
            D(2026, 12, 10),
            "09:30",
            "11:30",
            20,
            PRESENTATION,
            10,
            "",
            "rue",
            "Bayard",
            31000,
            "TOULOUSE",
        ],
        None,
    ),
    (
        [
            NUM,
            "01",
            "02",
            D(2027, 5, 11),
            time(14, 0),
            time(16, 0),
            20,
            "Réunion d'information; tests de positionnement",
            10,
            "",
            "rue",
            "Bayard",
            "31000",
            "TOULOUSE",
        ],
        None,
    ),  # Excel time cells
    (
        [
            NUM,
            "02",
            "01",
            T("14/12/2026"),
            "14:00",
            "16:00",
            15,
            PRESENTATION,
            1,
            "",
            "place",
            "de la Comédie",
            "34000",
            "MONTPELLIER",
        ],
        None,
    ),
    (
        [
            SAN,
            "01",
            "01",
            D(2027, 1, 5),
            "16.00",
            "14.00",
            20,
            PRESENTATION,
            22,
            "",
            "boulevard",
            "Sibille",
            "81000",
            "ALBI",
        ],
        ("DQ013", "ends at 14:00, before its start at 16:00"),
    ),
    (
        [
            SAN,
            "01",
            "03",
            D(2027, 2, 9),
            "10:00",
            "12:00",
            0,
            "Annulée faute de salle",
            22,
            "",
            "boulevard",
            "Sibille",
            "81000",
            "ALBI",
        ],
        ("DQ014", "0 places: cancelled"),
    ),
]


# --- day 2 ----------------------------------------------------------------------------------------


def sessions_day2() -> list[tuple[list, tuple | None]]:
    """Day 1 with: NUM_1:01:01 dates changed, BTP_2:01:01 cancelled, NUM_1:01:04 new, NUM_1:01:03 removed."""
    out = []
    for row, defect in SESSIONS_DAY1:
        row = list(row)
        if row[:3] == [NUM, "01", "01"]:
            row[3], row[4] = D(2027, 1, 18), D(2027, 7, 9)
            defect = ("change", "dates changed to 18/01/2027 - 09/07/2027")
        elif row[:3] == [BTP, "01", "01"]:
            row[6] = 0
            defect = ("DQ003", "cancelled on day 2 (Nb. de places 0)")
        elif row[:3] == [NUM, "01", "03"]:
            continue  # removed from the extract without cancellation: DQ022 (once published)
        out.append((row, defect))
    out.append(
        (
            [NUM, "01", "04", D(2027, 10, 4), D(2027, 12, 17), L_TLS, 15, "OI26-000404", V, *C_NUM],
            ("new", "new session on day 2"),
        )
    )
    return out


DAY1_BOOK = {
    "Actions": (ACTIONS_HEADERS, ACTIONS),
    "Composantes": (COMPOSANTES_HEADERS, COMPOSANTES),
    "Sessions": (SESSIONS_HEADERS, [r for r, _ in SESSIONS_DAY1]),
    "Informations collectives": (IC_HEADERS, [r for r, _ in IC_DAY1]),
}


def day2_book() -> dict:
    book = dict(DAY1_BOOK)
    book["Sessions"] = (SESSIONS_HEADERS, [r for r, _ in sessions_day2()])
    return book


# --- writing --------------------------------------------------------------------------------------


def build(book: dict, stamp: datetime) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    for sheet, (headers, rows) in book.items():
        ws = wb.create_sheet(sheet)
        ws.append(headers)
        for row in rows:
            ws.append(row)
        for cells in ws.iter_rows(min_row=2):
            for cell in cells:
                if isinstance(cell.value, date):
                    cell.number_format = "DD/MM/YYYY"
                elif isinstance(cell.value, time):
                    cell.number_format = "HH:MM"
    wb.properties.creator = "SIGMA - Région Occitanie"
    wb.properties.lastModifiedBy = "SIGMA"
    wb.properties.created = stamp
    buf = io.BytesIO()
    wb.save(buf)
    return _deterministic(buf.getvalue(), stamp)


def _deterministic(data: bytes, stamp: datetime) -> bytes:
    """Rewrite the zip with fixed entry timestamps and a fixed ``dcterms:modified``."""
    iso = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            payload = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                payload = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                    rb"\g<1>" + iso.encode() + rb"\g<2>",
                    payload,
                )
            zi = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            dst.writestr(zi, payload)
    return out.getvalue()


def write(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for day, book in ((DAY1, DAY1_BOOK), (DAY2, day2_book())):
        p = out_dir / f"sigma_actions_{day}.xlsx"
        p.write_bytes(build(book, FIXED_TIMESTAMP[day]))
        paths.append(p)
    return paths


# --- DEFECTS.md section ---------------------------------------------------------------------------


def _key(row: list) -> str:
    def part(v):
        if isinstance(v, (int, float)):
            return f"{int(v):02d}"
        return v

    return f"sigma:{row[0]}:{part(row[1])}:{part(row[2])}"


def defects_markdown() -> str:
    lines = [
        "## SIGMA",
        "",
        "Generated by `data/samples/generate_sigma.py --defects`. Row = sheet row (header = 1).",
        "",
        f"### Day 1: `sigma_actions_{DAY1}.xlsx`",
        "",
        "| session key | sheet | row | expected rule | defect |",
        "|---|---|---|---|---|",
    ]
    for i, row in enumerate(ACTIONS, start=2):
        if row[1] in ACTIONS_DEFECTS:
            rule, what = ACTIONS_DEFECTS[row[1]]
            lines.append(f"| `sigma:{row[1]}` (action) | Actions | {i} | {rule} | {what} |")
    for i, (row, defect) in enumerate(SESSIONS_DAY1, start=2):
        if defect:
            lines.append(f"| `{_key(row)}` | Sessions | {i} | {defect[0]} | {defect[1]} |")
    for i, (row, defect) in enumerate(IC_DAY1, start=2):
        if defect:
            lines.append(f"| `{_key(row)}` | Informations collectives | {i} | {defect[0]} | {defect[1]} |")
    lines += [
        "",
        "Clean on purpose: the sessions of `sigma:26P0001234_BTP_2` (titulaire AGRI FORMATION OCCITANIE, SIRET "
        "31245678300017) are given by its co-contractor BTP FORMATION 66, named in their `Lieu de la session`: "
        "they do not get the titulaire's SIRET but BTP FORMATION 66's own, 75689123000010, which the "
        "workbook gives as titulaire of `sigma:26P0002468_BTP_1` (an action without sessions yet); "
        "the permanent-entry composante `sigma:26P0005678_NUM_1:02` with one session spanning "
        "its period (`sigma:26P0005678_NUM_1:02:01`, whose Lieu body holds a `/`), the overseas phone "
        "`+596 596 12 34 56` (`sigma:26P0005678_NUM_1:01:02`), the phone typed as a number cell "
        "(`sigma:26P0005678_SAN_1:01:01`), the composante and session numbers typed as number cells "
        "(`sigma:26P0005678_SAN_1:01:03`).",
        "",
        f"### Day 2: `sigma_actions_{DAY2}.xlsx` (changes against day 1)",
        "",
        "| session key | sheet | row | expected rule | change |",
        "|---|---|---|---|---|",
    ]
    for i, (row, defect) in enumerate(sessions_day2(), start=2):
        if defect and defect[0] in ("change", "new") or (defect and "day 2" in defect[1]):
            rule = {"change": "— (update)", "new": "— (new)"}.get(defect[0], defect[0])
            lines.append(f"| `{_key(row)}` | Sessions | {i} | {rule} | {defect[1]} |")
    lines.append(
        "| `sigma:26P0005678_NUM_1:01:03` | Sessions | — | DQ022 | removed from the day-2 extract without "
        "cancellation (was day-1 row 14) |"
    )
    lines += ["", "All other day-1 defects are still present on day 2 (rows after row 13 move up by one).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    if "--defects" in sys.argv[1:]:
        print(defects_markdown())
    else:
        args = [a for a in sys.argv[1:] if not a.startswith("-")]
        for p in write(Path(args[0]) if args else HERE):
            print(p)
