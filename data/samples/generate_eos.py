"""Write the EOS sample extracts of the shared demo inbox, deterministically.

    python data/samples/generate_eos.py

Writes, next to this script, in Windows-1252 with CRLF line ends (the EOS contract):

- ``eos_sessions_20261119.csv`` / ``eos_evenements_20261119.csv``  (day 1)
- ``eos_sessions_20261120.csv`` / ``eos_evenements_20261120.csv``  (day 2 = day 1 + changes)

and rewrites the ``## EOS`` section of ``DEFECTS.md`` (the other sections are left as they
are) with every planted defect: Identifiant EOS, file, line, expected rule.

The sessions refer to the marchés of the SAM sample (see the brief ``aura_samples.md``):
M2614701 (lot 147), M2615202 (lot 152), M2600503 (lot 005), M2603104 (lot 031), plus one
orphan dossier 2026C009999901. Plain Python, standard library only.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DAY1, DAY2 = "20261119", "20261120"

SESSION_HEADER = [
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
    "Commentaire interne",  # not in the contract: the reader must ignore it (info finding)
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
    "",  # trailing empty columns of the Excel export (";;" at every line end)
]
EVENT_HEADER = [
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

PROGRAMME = "Former Pour l'Emploi 2026-2029"
LOTS = {
    # key: dossier, lot as written, lot title, lot start, lot end, end of execution, marché
    "147": (
        "2026C007314701",
        "147",
        "Métiers du thermalisme et de la montagne",
        "05/01/2026",
        "31/12/2026",
        "30/06/2027",
        "M2614701",
    ),
    "152": (
        "2026C007315202",
        "152",
        "Travaux publics et conduite d'engins",
        "01/02/2026",
        "31/01/2027",
        "31/07/2027",
        "M2615202",
    ),
    "005": (
        "2026C001200503",
        "005",
        "Hôtellerie-restauration et services à la personne",
        "05/01/2026",
        "31/12/2026",
        "30/06/2027",
        "M2600503",
    ),
    "031": ("2026C001203104", "031", "Métiers du numérique", "01/03/2026", "28/02/2027", "31/08/2027", "M2603104"),
    "999": ("2026C009999901", "001", "Secrétariat médico-social", "04/01/2026", "31/12/2026", "30/06/2027", "M2699999"),
}
ACTIONS = {
    # (lot key, n) -> label, target headcount, average hours centre, average hours company
    ("147", 1): ("Agent thermal - Titre Agent thermal", 10, "364", "210"),
    ("147", 2): ("Brevet national de pisteur secouriste 1er degré - Option Ski Alpin", 12, "280", "70"),
    ("152", 1): ("Maçon voirie et réseaux divers", 12, "455", "140"),
    ("152", 2): ("Conduite d'engins de chantier - CACES R482", 8, "105,0", "0"),
    ("005", 1): ("Titre professionnel Cuisinier", 12, "700", "210"),
    ("005", 2): ("Titre professionnel Agent de restauration", 10, "385", "140"),
    ("005", 3): ("Titre professionnel Assistant de vie aux familles", 12, "560", "210"),
    ("031", 1): ("Développeur web et web mobile - Titre professionnel", 14, "1050", "280"),
    ("999", 1): ("Secrétaire assistant médico-social", 12, "595", "175"),
}
BODIES = {
    "hecate": (
        "HECATE FORMATION",
        "44306184100047",
        "Mme Sandrine Coulomb",
        "04 73 19 36 38",
        "recrutement@hecate-formation.fr",
    ),
    "greta": ("GRETA VIVA 5", "19300245800019", "M. Hervé Delorme", "04.72.33.10.20", "hdelorme@greta-viva5.fr"),
    "afpa": (
        "AFPA AUVERGNE-RHONE-ALPES",
        "77889900500012",
        "Mme Nadia Benali",
        "04 77 42 18 60",
        "prescription.ara@afpa.fr",
    ),
    "ilmn": (
        "INSTITUT LYONNAIS DES METIERS DU NUMERIQUE",
        "45123698800015",
        "M. Julien Marchetti",
        "04 78 60 12 34",
        "admissions@ilmn.fr",
    ),
    "montagne": (
        "ÉCOLE DES MÉTIERS DE LA MONTAGNE",
        "52098765200010",
        "M. Loïc Perrier",
        "04 50 45 67 89",
        "contact@ecole-montagne.fr",
    ),
    "formavenir": (
        "FORMAVENIR SAVOIE",
        "78345612200010",
        "Mme Chloé Vuillermoz",
        "04-79-60-21-10",
        "chloe.vuillermoz@formavenir.fr",
    ),
    "cuisine": (
        "CUISINE ET HÔTELLERIE FORMATION",
        "41928374200015",
        "M. Pascal Rochette",
        "04 70 31 52 00",
        "formation@cuisine-hotellerie.fr",
    ),
    "oeuvre": (
        "ŒUVRE DES COMPAGNONS DU FOREZ",
        "81234567600017",
        "Mme Agnès Faure",
        "04 77 21 45 90",
        "accueil@compagnons-forez.fr",
    ),
    "cfp": (
        "CENTRE DE FORMATION PROFESSIONNELLE DE BOURG",
        "13000123300019",
        "M. Thierry Gauthier",
        "04 74 22 10 05",
        "cfp.bourg@ain.fr",
    ),
    "laposte": (
        "LA POSTE - CAMPUS DES MÉTIERS",
        "35600000000048",
        "Mme Isabelle Roux",
        "04 76 87 20 00",
        "campus.grenoble@laposte.fr",
    ),
    # the AFPA's SIRET under a short name: one SIRET, two names (DQ025)
    "afpa_ara": ("AFPA ARA", "77889900500012", "Mme Nadia Benali", "04 77 42 18 60", "prescription.ara@afpa.fr"),
    "corse": (
        "ÉCOLE DE LA MER DE CORSE",
        "97812345300018",
        "M. Ange Santoni",
        "04 95 21 30 40",
        "contact@ecole-mer-corse.fr",
    ),
    "reunion": (
        "CFPPA DE SAINT-DENIS DE LA RÉUNION",
        "20934567700014",
        "Mme Josiane Hoarau",
        "0262 21 45 67",
        "cfppa.saint-denis@educagri.fr",
    ),
}
PLACES = {
    # N° voie, Bis/Ter, Nature voie, Nom voie, complément, postcode, city, INSEE, Lieu
    "clermont": (
        "12",
        "",
        "rue",
        "Blatin",
        "Bâtiment B – accès par l’entrée nord",
        "63000",
        "Clermont-Ferrand",
        "63113",
        "Clermont-Ferrand",
    ),
    "lyon": ("25", "bis", "avenue", "Félix Faure", "2ème étage", "69003", "Lyon", "69383", "Lyon 3e"),
    "chambery": ("5", "", "avenue", "du Comte Vert", "", "73000", "Chambéry", "73065", "Chambéry"),
    "grenoble": ("18", "", "rue", "Émile Gueymard", "Plateau technique", "38000", "Grenoble", "38185", "Grenoble"),
    "stetienne": ("7", "ter", "rue", "de la Richelandière", "", "42000", "Saint-Étienne", "42218", "Saint-Étienne"),
    "annecy": ("11", "", "rue", "du Pâquier", "Salle Œillet", "74000", "Annecy", "74010", "Annecy"),
    "vichy": ("30", "", "boulevard", "des États-Unis", "", "03200", "Vichy", "03310", "Vichy"),
    "bourg": ("4", "", "rue", "Gabriel Vicaire", "", "01000", "Bourg-en-Bresse", "01053", "Bourg-en-Bresse"),
    # what real extracts carry and the COG must handle: Corsica without INSEE code (2A), an
    # overseas address (974), a CEDEX postcode, a city its postcode does not serve (DQ026)
    "ajaccio": ("5", "", "boulevard", "Sampiero", "", "20000", "Ajaccio", "", "Ajaccio"),
    "stdenis": ("12", "", "rue", "de Paris", "", "97400", "Saint-Denis", "97411", "Saint-Denis"),
    "lyon_cedex": ("129", "", "rue", "Servient", "Tour Part-Dieu", "69431", "LYON CEDEX 03", "", "Lyon"),
    "riom": ("3", "", "place", "de la Liberté", "", "63000", "Riom", "", "Riom"),
}
FIXED, PERMANENT = "Entrées/Sorties fixes", "Entrées/Sorties permanentes"


def _num(value: float) -> str:
    """A French decimal with a comma, as EOS writes totals (``3640,00``)."""
    return f"{value:.2f}".replace(".", ",")


def _hours(text: str) -> float:
    return float(text.replace(",", "."))


def session(ident: int, lot: str, action: int, body: str, place: str, start: str, end: str, **over) -> dict:
    """One session row (header name -> cell text) with consistent, clean defaults."""
    dossier, lot_written, lot_title, lot_start, lot_end, fin_exec, marche = LOTS[lot]
    label, places, h_centre, h_company = ACTIONS[(lot, action)]
    name, siret, contact, phone, mail = BODIES[body]
    num, bis, nature, street, complement, postcode, city, insee, lieu = PLACES[place]
    row = {
        "Dossier": dossier,
        "Lot": lot_written,
        "Intitulé du lot": lot_title,
        "Programme": PROGRAMME,
        "Date début lot": lot_start,
        "Date fin lot": lot_end,
        "Fin exéc.": fin_exec,
        "N° marché": marche,
        "Identifiant EOS": str(ident),
        "N° ses.": str(ident % 100),
        "N° BC": f"BC{dossier[-6:]}-{ident % 100:02d}",
        "Action": f"{action} - {label}",
        "Oblig/Facul/Suppl": "O",
        "Libellé grand public": "",
        "Organisme formateur": name,
        "SIRET formateur": siret,
        "N° voie": num,
        "Bis/Ter": bis,
        "Nature voie": nature,
        "Nom voie": street,
        "Complément d'adresse": complement,
        "Code postal": postcode,
        "Ville": city,
        "Code INSEE": insee,
        "Lieu": lieu,
        "Commentaire interne": "",
        "Durée moy stg Cent": h_centre,
        "Durée moy stg Ent.": h_company,
        "Eff. visé tot.": str(places),
        "Eff. min. MO": str(max(places - 4, 1)),
        "Eff. visé région.": str(places),
        "Eff. visé PE": "0",
        "nb Stagiaires.": "0",
        "Vol H Cent tot.": _num(_hours(h_centre) * places),
        "Vol H Ent. tot.": _num(_hours(h_company) * places),
        "Date début prescr.": "01/12/26",
        "Date fin prescr.": "",
        "Date début session": start,
        "Date fin session": end,
        "Type entrée": FIXED,
        "Etat session": "Validée",
        "Session annulée": "",
        "Date état": "12/11/26",
        "Contact nom": contact,
        "Contact tél": phone,
        "Contact mail": mail,
        "Etat recrutement": "Ouvert",
    }
    # prescription closes three days before the session starts (dd/mm/yy arithmetic kept simple)
    row["Date fin prescr."] = _days_before(start, 3) if start else ""
    for k, v in over.items():
        col = _COLUMN_OF.get(k, k)
        if col not in row:
            raise KeyError(f"unknown column {k!r}")
        row[col] = v
    # totals = average hours x target headcount, unless a defect overrides them
    effectif = int(row["Eff. visé tot."])
    for avg, total in (("Durée moy stg Cent", "Vol H Cent tot."), ("Durée moy stg Ent.", "Vol H Ent. tot.")):
        if _COLUMN_OF_INV.get(total) not in over and total not in over:
            row[total] = _num(_hours(row[avg]) * effectif)
    return row


_COLUMN_OF = {
    "lot_written": "Lot",
    "marche": "N° marché",
    "ses": "N° ses.",
    "bc": "N° BC",
    "public": "Libellé grand public",
    "siret": "SIRET formateur",
    "postcode": "Code postal",
    "insee": "Code INSEE",
    "comment": "Commentaire interne",
    "h_centre": "Durée moy stg Cent",
    "h_centre_total": "Vol H Cent tot.",
    "places": "Eff. visé tot.",
    "region": "Eff. visé région.",
    "pe": "Eff. visé PE",
    "trainees": "nb Stagiaires.",
    "prescr_start": "Date début prescr.",
    "prescr_end": "Date fin prescr.",
    "entry": "Type entrée",
    "state": "Etat session",
    "cancelled": "Session annulée",
    "state_date": "Date état",
    "contact": "Contact nom",
    "phone": "Contact tél",
    "mail": "Contact mail",
    "recruitment": "Etat recrutement",
    "oblig": "Oblig/Facul/Suppl",
}


_COLUMN_OF_INV = {v: k for k, v in _COLUMN_OF.items()}


def _days_before(ddmmyy: str, days: int) -> str:
    from datetime import date, timedelta

    d, m, y = (int(x) for x in ddmmyy.split("/"))
    x = date(2000 + y if y < 100 else y, m, d) - timedelta(days=days)
    return x.strftime("%d/%m/%y")


# --- day 1 ------------------------------------------------------------------------------------
# (row, defects) where defects = [(rule, what)] ; an empty list means a fully clean session.
def day1_sessions() -> list[tuple[dict, list[tuple[str, str]]]]:
    S = session
    return [
        # clean sessions
        (S(184201, "147", 1, "hecate", "clermont", "11/01/27", "28/05/27", trainees="4", state="Validée"), []),
        (
            S(
                184203,
                "147",
                2,
                "montagne",
                "annecy",
                "18/01/27",
                "26/03/27",
                public="Pisteur secouriste ski alpin à Annecy",
                state="Transmise",
            ),
            [],
        ),
        (
            S(
                184204,
                "147",
                2,
                "formavenir",
                "chambery",
                "01/02/27",
                "16/04/27",
                phone="+262 262 12 34 56",
                trainees="2",
            ),
            [("—", "propre : téléphone d'outre-mer +262 valide")],
        ),
        (S(184205, "152", 1, "oeuvre", "stetienne", "11/01/27", "21/05/27", trainees="3,0", comment="RAS"), []),
        (
            S(184207, "152", 2, "laposte", "grenoble", "15/02/27", "12/03/27", h_centre="102,5", state="Validée OF"),
            [("—", "propre : SIRET La Poste 35600000000048 (règle spéciale) ; durée moyenne décimale 102,5")],
        ),
        (S(184208, "152", 2, "cfp", "bourg", "12/04/27", "07/05/27", bc=""), []),
        (S(184209, "005", 1, "afpa", "stetienne", "11/01/27", "18/06/27", lot_written="5", trainees="5"), []),
        (S(184210, "005", 1, "cuisine", "vichy", "01/02/27", "25/06/27", oblig="F"), []),
        (
            S(184211, "005", 2, "afpa_ara", "chambery", "15/03/27", "11/06/27", lot_written="5", state="Transmise"),
            [
                (
                    "DQ025",
                    "organisme « AFPA ARA » avec le SIRET 77889900500012 de l'AFPA AUVERGNE-RHONE-ALPES (titulaire du marché M2600503) : publiée sous ce nom",
                )
            ],
        ),
        (
            S(184212, "005", 3, "afpa", "stetienne", "18/01/27", "21/05/27"),
            [
                (
                    "DQ019",
                    "seule session de l'action M2600503 / 3 (2 envisagées dans SAM) ; la session elle-même est propre",
                )
            ],
        ),
        (
            S(
                184213,
                "031",
                1,
                "ilmn",
                "lyon",
                "11/01/27",
                "30/07/27",
                public="Devenir développeur web à Lyon",
                trainees="6",
            ),
            [],
        ),
        (
            S(184215, "147", 1, "hecate", "clermont", "", "", entry=PERMANENT, prescr_start="", prescr_end=""),
            [("—", "propre : entrées/sorties permanentes sans aucune date")],
        ),
        # planted defects, one session each
        (
            S(184216, "147", 1, "hecate", "clermont", "13/04/27", "15/09/27"),
            [("DQ001", "fin de session 15/09/27 après la fin d'exécution du lot 30/06/2027")],
        ),
        (
            S(184217, "152", 1, "greta", "lyon", "01/03/27", "02/07/27", marche="R4218"),
            [("DQ002", "N° marché « R4218 »")],
        ),
        (
            S(184218, "147", 2, "montagne", "annecy", "08/02/27", "19/03/27", cancelled="Oui", trainees="0"),
            [("DQ003", "session annulée (Session annulée = Oui), 0 stagiaire : publiée comme annulée")],
        ),
        (
            S(184219, "005", 1, "cuisine", "vichy", "01/03/27", "25/06/27", cancelled="Oui", trainees="3"),
            [("DQ004", "session annulée avec 3 stagiaires inscrits"), ("DQ003", "annulation")],
        ),
        (S(184220, "152", 2, "cfp", "bourg", "10/05/27", ""), [("DQ005", "entrées/sorties fixes sans date de fin")]),
        (
            S(
                184221,
                "005",
                2,
                "afpa",
                "stetienne",
                "10/05/27",
                "12/04/27",
                prescr_start="01/03/27",
                prescr_end="05/04/27",
            ),
            [("DQ006", "fin 12/04/27 avant début 10/05/27")],
        ),
        (
            S(
                184222,
                "147",
                1,
                "hecate",
                "clermont",
                "16/11/26",
                "30/04/27",
                prescr_start="01/10/26",
                prescr_end="13/11/26",
            ),
            [("DQ007", "nouvelle session à entrées fixes qui commence le 16/11/26, avant J+1 (20/11/2026)")],
        ),
        (
            S(184223, "031", 1, "ilmn", "lyon", "01/02/27", "30/06/27", prescr_end="15/07/27"),
            [("DQ008", "fin de prescription 15/07/27 après la fin de session 30/06/27")],
        ),
        (
            S(184224, "147", 2, "formavenir", "chambery", "03/05/27", "25/06/27", phone="04 73 19 36"),
            [("DQ009", "téléphone « 04 73 19 36 » trop court")],
        ),
        (
            S(184225, "152", 1, "oeuvre", "stetienne", "07/06/27", "15/07/27", contact=""),
            [("DQ009", "nom du contact absent")],
        ),
        (
            S(184226, "005", 1, "afpa", "stetienne", "01/03/27", "25/06/27", mail="contact@@exemple"),
            [("DQ009", "mail « contact@@exemple » invalide")],
        ),
        (
            S(184227, "152", 1, "greta", "bourg", "12/04/27", "16/07/27", region="10", pe="2"),
            [("DQ010", "Eff. visé PE = 2 sur une session Région (région 10 + PE 2 = total 12)")],
        ),
        (
            S(184228, "005", 2, "cuisine", "vichy", "01/02/27", "30/04/27", region="12"),
            [("DQ011", "Eff. visé région. 12 + PE 0 > Eff. visé tot. 10")],
        ),
        (
            S(184229, "147", 2, "montagne", "annecy", "08/03/27", "21/05/27", h_centre_total="3000,00"),
            [("DQ012", "Vol H Cent tot. 3000,00 au lieu de 280 × 12 = 3360")],
        ),
        (
            S(184230, "031", 1, "ilmn", "lyon", "03/05/27", "27/08/27"),
            [
                (
                    "DQ013",
                    "son information collective du 15/04/2027 finit à 11:00 avant de commencer à 14.00 (voir événements)",
                )
            ],
        ),
        (
            S(184231, "005", 1, "afpa", "chambery", "19/04/27", "30/06/27"),
            [
                (
                    "DQ013",
                    "son information collective est datée du 26/04/2027, après le début de session 19/04/27 (voir événements)",
                )
            ],
        ),
        (
            S(184232, "152", 2, "greta", "lyon", "07/06/27", "02/07/27", insee="63113"),
            [("DQ015", "code postal 69003 avec le code INSEE 63113 (Clermont-Ferrand)")],
        ),
        (
            S(184233, "147", 1, "hecate", "clermont", "17/05/27", "25/06/27", siret="44306184100048"),
            [("DQ016", "SIRET 44306184100048 qui échoue au contrôle de Luhn")],
        ),
        (
            S(184234, "152", 1, "oeuvre", "stetienne", "03/05/27", "09/07/27"),
            [("—", "première session de la paire DQ017 : propre elle-même, le doublon est 184235")],
        ),
        (
            S(184235, "152", 1, "oeuvre", "stetienne", "03/05/27", "09/07/27"),
            [("DQ017", "même action, mêmes dates et même lieu que 184234 (le doublon est la session vue en second)")],
        ),
        (
            S(184236, "031", 1, "ilmn", "lyon", "06/04/27", "27/08/27", state="A finaliser", ses="", bc=""),
            [("DQ018", "Etat session « A finaliser », N° ses. vide : non publiée")],
        ),
        (
            S(184237, "999", 1, "greta", "lyon", "01/02/27", "30/06/27"),
            [("DQ020", "dossier 2026C009999901 qu'aucun marché SAM ne décrit (orpheline)")],
        ),
        (
            S(184238, "005", 2, "afpa", "chambery", "11/01/27", "09/04/27", recruitment="Fermé"),
            [("DQ021", "Etat recrutement « Fermé »")],
        ),
        (
            S(
                184239,
                "152",
                2,
                "laposte",
                "grenoble",
                "19/04/27",
                "14/05/27",
                state_date="31/02/27",
                comment="date état à vérifier",
            ),
            [("DQ000", "cellule illisible : Date état « 31/02/27 » (date impossible) -> null + finding")],
        ),
        # addresses as real extracts write them (Code officiel géographique)
        (
            S(184241, "152", 1, "corse", "ajaccio", "15/03/27", "09/07/27"),
            [
                (
                    "—",
                    "propre : adresse en Corse sans code INSEE (20000 Ajaccio) : commune 2A004, département 2A, région 94 tirés du COG",
                )
            ],
        ),
        (
            S(184242, "005", 2, "reunion", "stdenis", "08/03/27", "04/06/27"),
            [
                (
                    "—",
                    "propre : adresse outre-mer (97400 Saint-Denis, INSEE 97411) : département 974, région 04 ; téléphone 0262",
                )
            ],
        ),
        (
            S(184243, "031", 1, "ilmn", "lyon_cedex", "15/02/27", "30/07/27"),
            [
                (
                    "—",
                    "propre : code postal CEDEX (69431 LYON CEDEX 03, hors base La Poste) : commune 69123 Lyon tirée du COG",
                )
            ],
        ),
        (
            S(184244, "147", 1, "hecate", "riom", "07/06/27", "25/06/27"),
            [
                (
                    "DQ026",
                    "code postal 63000 qui ne dessert pas Riom (63200) : code INSEE, département et région non publiés",
                )
            ],
        ),
    ]


def day1_events() -> list[tuple[list[str], list[tuple[str, str]]]]:
    A = PLACES

    def at(place):
        num, bis, nature, street, _c, pc, city, _i, _l = A[place]
        return [f"{num} {bis}".strip(), f"{nature} {street}", pc, city]

    remote = ["", "", "", ""]
    return [
        (
            [
                "184201",
                "Information Collective",
                "14/12/2026",
                "14/12/2026",
                "09:00",
                "12:00",
                *at("clermont"),
                "Présentation du métier d’agent thermal et visite des thermes",
            ],
            [],
        ),
        (
            [
                "184201",
                "Entretien",
                "15/12/2026",
                "15/12/2026",
                "14.00",
                "17.00",
                *at("clermont"),
                "Entretiens individuels sur rendez-vous",
            ],
            [],
        ),
        (
            [
                "184203",
                "Information Collective",
                "07/01/2027",
                "07/01/2027",
                "09h30",
                "11h30",
                *at("annecy"),
                "Tests physiques : prévoir une tenue de ski",
            ],
            [],
        ),
        (
            [
                "184205",
                "Information Collective",
                "10/12/2026",
                "10/12/2026",
                "10 : 00",
                "12 : 00",
                *at("stetienne"),
                "Réunion d’information ; présentation du chantier-école\r\nApporter CV et attestation France Travail",
            ],
            [],
        ),
        (
            [
                "184207",
                "Information Collective",
                "20/01/2027",
                "20/01/2027",
                "09:00",
                "11:00",
                *remote,
                "À distance (visio) : le lien est envoyé par mail",
            ],
            [],
        ),
        (["184209", "Information Collective", "08/12/2026", "08/12/2026", "14:00", "16:30", *at("stetienne"), ""], []),
        (
            [
                "184209",
                "Test",
                "15/12/2026",
                "15/12/2026",
                "09:00",
                "12:00",
                *at("stetienne"),
                "Test de positionnement en cuisine (œufs, sauces)",
            ],
            [],
        ),
        (["184210", "Information Collective", "12/01/2027", "12/01/2027", "09:30", "11:30", *at("vichy"), ""], []),
        (
            [
                "184211",
                "Information Collective",
                "01/03/2027",
                "01/03/2027",
                "10:00",
                "12:00",
                *remote,
                "Session en ligne",
            ],
            [],
        ),
        (
            [
                "184212",
                "Bilan",
                "10/01/2027",
                "10/01/2027",
                "14:00",
                "15:00",
                *remote,
                "Bilan de positionnement par téléphone",
            ],
            [],
        ),
        (
            [
                "184213",
                "Information Collective",
                "02/12/2026",
                "02/12/2026",
                "18:00",
                "20:00",
                *at("lyon"),
                "Présentation du métier de développeur ; tests techniques le 09/12",
            ],
            [],
        ),
        (["184213", "Test", "09/12/2026", "09/12/2026", "09h00", "12h00", *at("lyon"), "Test de logique"], []),
        (
            ["184230", "Information Collective", "15/04/2027", "15/04/2027", "14.00", "11:00", *at("lyon"), ""],
            [("DQ013", "heure de fin 11:00 avant l'heure de début 14.00")],
        ),
        (
            ["184231", "Information Collective", "26/04/2027", "26/04/2027", "09:00", "11:00", *at("chambery"), ""],
            [("DQ013", "date 26/04/2027 après le début de la session 19/04/27")],
        ),
    ]


# --- day 2: day 1 with changes ----------------------------------------------------------------
DAY2_DATES_UPDATED = 184213  # 11/01/27-30/07/27 -> 18/01/27-06/08/27
DAY2_CANCELLED = 184208
DAY2_REMOVED = 184210
DAY2_BROKEN = 184205  # phone emptied
DAY2_NEW = 184240


def day2_sessions():
    out = []
    for row, defects in day1_sessions():
        ident = int(row["Identifiant EOS"])
        row = dict(row)
        if ident == DAY2_REMOVED:
            continue
        if ident == DAY2_DATES_UPDATED:
            row.update(
                {
                    "Date début session": "18/01/27",
                    "Date fin session": "06/08/27",
                    "Date fin prescr.": "15/01/27",
                    "Date état": "20/11/26",
                }
            )
            defects = [("—", "dates modifiées : 18/01/27 – 06/08/27 (au lieu de 11/01/27 – 30/07/27), toujours propre")]
        elif ident == DAY2_CANCELLED:
            row.update({"Session annulée": "Oui", "nb Stagiaires.": "0", "Date état": "20/11/26"})
            defects = [("DQ003", "annulée le 20/11/2026 (0 stagiaire) : publiée comme annulée")]
        elif ident == 184222:
            defects = [
                (
                    "—",
                    "DQ007 seulement le premier jour : le 20/11 la session est déjà connue "
                    "(elle le redevient si le jour 2 est passé seul, sans le jour 1)",
                )
            ]
        elif ident == DAY2_BROKEN:
            row.update({"Contact tél": "", "Date état": "20/11/26"})
            defects = [("DQ009", "téléphone du contact vidé : erreur, la dernière version publiée (jour 1) est gardée")]
        out.append((row, defects))
    new = session(
        DAY2_NEW, "147", 2, "formavenir", "chambery", "11/01/27", "19/03/27", state="Validée", state_date="20/11/26"
    )
    out.append((new, [("—", "nouvelle session (commence le 11/01/2027), propre")]))
    return out


def day2_events():
    out = [(r, d) for r, d in day1_events() if r[0] != str(DAY2_REMOVED)]
    out.append(
        (
            [
                "184240",
                "Information Collective",
                "04/01/2027",
                "04/01/2027",
                "09:30",
                "11:30",
                "5",
                "avenue du Comte Vert",
                "73000",
                "Chambéry",
                "Présentation de la formation",
            ],
            [],
        )
    )
    return out


# --- writing ----------------------------------------------------------------------------------


def to_bytes(header: list[str], rows: list[list[str]]) -> tuple[bytes, list[int]]:
    """cp1252 CSV bytes with CRLF, and the physical line where each data row starts."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf, delimiter=";", quotechar='"', quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    w.writerow(header)
    lines, line = [], 2
    for r in rows:
        lines.append(line)
        w.writerow(r)
        line += 1 + sum(cell.count("\r\n") for cell in r)
    return buf.getvalue().encode("cp1252"), lines


def session_cells(row: dict) -> list[str]:
    return [row.get(h, "") if h else "" for h in SESSION_HEADER]


def write_day(day: str, sessions, events) -> list[tuple[str, str, int, str, str]]:
    """Write one day's two files; return the defect rows (ident, file, line, rule, what)."""
    s_name, e_name = f"eos_sessions_{day}.csv", f"eos_evenements_{day}.csv"
    s_bytes, s_lines = to_bytes(SESSION_HEADER, [session_cells(r) for r, _ in sessions])
    e_bytes, e_lines = to_bytes(EVENT_HEADER, [r for r, _ in events])
    (HERE / s_name).write_bytes(s_bytes)
    (HERE / e_name).write_bytes(e_bytes)
    found = []
    for (row, defects), line in zip(sessions, s_lines):
        for rule, what in defects:
            found.append((row["Identifiant EOS"], s_name, line, rule, what))
    for (row, defects), line in zip(events, e_lines):
        for rule, what in defects:
            found.append((row[0], e_name, line, rule, what))
    return found


def defects_section(day1, day2, n1: int, n2: int, e1: int, e2: int) -> str:
    out = [
        "## EOS",
        "",
        "Generated by `data/samples/generate_eos.py` (do not edit by hand: rerun the script).",
        f"Day 1 (`eos_sessions_{DAY1}.csv`): {n1} sessions, {e1} events; day 2 (`eos_sessions_{DAY2}.csv`): "
        f"{n2} sessions, {e2} events. Lines count the header as line 1. Rule `—` marks a deliberately",
        "clean edge case. Every other day-1 session is fully clean. File-level: one unknown column",
        "`Commentaire interne` (DQ000 info, line 1) in both session files.",
        "",
        "### Day 1 (2026-11-19)",
        "",
        "| Identifiant EOS | file | line | expected rule | planted |",
        "|---|---|---|---|---|",
    ]
    for ident, file, line, rule, what in day1:
        out.append(f"| {ident} | `{file}` | {line} | {rule} | {what} |")
    out += [
        "",
        "### Day 2 (2026-11-20): changes against day 1",
        "",
        "Day 2 repeats day 1 (same defects, new line numbers below; DQ007 only fires on a session's first day) except:",
        "",
        f"- {DAY2_REMOVED} is gone from the extract without a cancellation: expected DQ022 (warning) on the day-2 run,"
        " the day-1 version stays published; its event is gone too.",
        "",
        "| Identifiant EOS | file | line | expected rule | planted |",
        "|---|---|---|---|---|",
    ]
    for ident, file, line, rule, what in day2:
        out.append(f"| {ident} | `{file}` | {line} | {rule} | {what} |")
    return "\n".join(out) + "\n"


def update_defects_md(section: str) -> None:
    path = HERE / "DEFECTS.md"
    if path.exists():
        text = path.read_text(encoding="utf-8")
    else:
        text = (
            "# Planted defects in the sample extracts\n\n"
            "One section per source; each lists the planted defects with the line and the rule expected to fire.\n\n"
            "## SAM\n\n## EOS\n\n## SIGMA\n"
        )
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == "## EOS"), None)
    if start is None:
        new = text.rstrip("\n") + "\n\n" + section
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        tail = "".join(lines[end:])
        new = "".join(lines[:start]) + section + ("\n" + tail if tail else "")
    path.write_text(new, encoding="utf-8")


def main() -> int:
    s1, e1 = day1_sessions(), day1_events()
    s2, e2 = day2_sessions(), day2_events()
    for rows in (s1, s2):
        ids = [r["Identifiant EOS"] for r, _ in rows]
        assert len(ids) == len(set(ids)), "duplicate Identifiant EOS in a sample"
    d1 = write_day(DAY1, s1, e1)
    d2all = write_day(DAY2, s2, e2)
    changed = {str(DAY2_DATES_UPDATED), str(DAY2_CANCELLED), str(DAY2_BROKEN), str(DAY2_NEW), "184222"}
    d2 = [d for d in d2all if d[0] in changed or d[3] != "—"]
    update_defects_md(defects_section(d1, d2, len(s1), len(s2), len(e1), len(e2)))
    print(
        f"EOS samples written: day 1 {len(s1)} sessions / {len(e1)} events, day 2 {len(s2)} sessions / {len(e2)} events"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
