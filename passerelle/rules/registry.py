"""The one table of data-quality rules (``rules.md``).

Every rule is one entry: id, severity, a short French title, the French message template
(formatted with the finding's ``field`` and ``value`` and rule-specific keys), the fix to
suggest to the training body, and where the rule comes from. The checks, ``issues.csv``, the
quality report and the generated rules page (``docs/rules.md``) all read from here.

A rule that can fail in several ways has named ``variants``: one French template per way
(``Rule.template("phone_invalid")``); the default ``message`` covers the rule as a whole.
Every template may use ``{field}`` (the column name as written in the extract) and ``{value}``
(the raw value); the other keys are documented on the rule's check function.

``applies_to`` says which sessions the check looks at:

- ``all``: every session of the extract, whatever its workflow state;
- ``publishable``: sessions whose workflow state allows publication (EOS ``Transmise``,
  ``Validée OF``, ``Validée``; SIGMA ``Validée``), cancelled ones included: a cancellation is
  published, so what it carries must be right;
- ``live``: publishable sessions that are not cancelled (rules about recruiting the public);
- ``other``: the rule is not about one session (files, formations, feeds, history).

Sessions still being entered (EOS ``A finaliser``, SIGMA ``En attente d'émission``) only get
DQ018 (and DQ003, DQ004, DQ020): they are checked in full once the training body transmits them.
"""

from __future__ import annotations

from dataclasses import dataclass

APPLIES_TO = ("all", "publishable", "live", "other")

SEVERITY_LABELS = {"error": "erreur", "warning": "avertissement", "info": "information"}
APPLIES_TO_LABELS = {
    "all": "toutes les sessions",
    "publishable": "sessions publiables (transmises ou validées), annulées comprises",
    "live": "sessions publiables non annulées",
    "other": "—",
}


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str  # error | warning | info (default severity of the rule)
    title: str  # French, short: shown as the heading of the rule in the report
    message: str  # French message template; str.format keys documented per rule
    fix: str  # French: what the training body must do
    origin: str  # where the rule comes from (guide, INSEE...)
    scope: str = "session"  # session | file | feed | event | formation
    variants: tuple[tuple[str, str], ...] = ()  # (name, French template) for each way the rule fails
    applies_to: str = "publishable"  # APPLIES_TO

    def template(self, variant: str | None = None) -> str:
        """The message template of ``variant`` (the rule's default message when None)."""
        if variant is None:
            return self.message
        for name, text in self.variants:
            if name == variant:
                return text
        raise KeyError(f"{self.id} has no message variant {variant!r}")


RULES: tuple[Rule, ...] = (
    Rule(
        "DQ000",
        "error",
        "Fichier ou ligne illisible",
        "{detail}",
        "Renvoyer un extrait conforme au format convenu (colonnes, encodage, valeurs lisibles).",
        "Toutes sources : contrat de fichier",
        scope="file",
        applies_to="other",
    ),
    Rule(
        "DQ001",
        "error",
        "Dates de session hors de la période de la composante ou du lot",
        "« {field} » = {value} : la date sort de la période autorisée ({parent}, du {period_start} au {period_end}).",
        "Corriger les dates de la session pour qu'elles soient comprises dans la période de la composante (SIGMA) ou entre le début du lot et sa fin d'exécution (EOS).",
        "Guide SIGMA : « les dates de début et de fin d'une session doivent obligatoirement être comprises dans l'intervalle des dates de la composante » ; guide Carif",
    ),
    Rule(
        "DQ002",
        "error",
        "Numéro de marché ou de contrat mal formé",
        "« {field} » = « {value} » : format attendu {expected}.",
        "Saisir le numéro de marché à 8 caractères (une lettre majuscule et sept chiffres, ex. M1451401) ; pour SIGMA, un n° de contrat NNP + 7 chiffres (ex. 23P0000000) et un n° d'action qui commence par ce contrat.",
        "Guide Carif : « le n° à 8 caractères (exemple : M1451401, et non pas R4218) »",
        variants=(
            ("format", "« {field} » = « {value} » : format attendu {expected}."),
            ("missing", "« {field} » est vide : le numéro est obligatoire ({expected})."),
            (
                "prefix",
                "« {field} » = « {value} » : le n° d'action doit commencer par le n° de contrat « {contract} ».",
            ),
        ),
    ),
    Rule(
        "DQ003",
        "info",
        "Session annulée",
        "Session annulée (« {field} » = {value}) : elle est publiée comme annulée, recrutement fermé.",
        "Rien à faire si l'annulation est voulue ; sinon rétablir la session dans l'outil du financeur.",
        "Guide SIGMA : une session validée ne se supprime pas, on met ses places à 0",
        applies_to="all",
    ),
    Rule(
        "DQ004",
        "error",
        "Session annulée avec des stagiaires inscrits",
        "La session est annulée mais « {field} » = {value} : des stagiaires y sont encore inscrits.",
        "Réorienter ou désinscrire les stagiaires avant d'annuler la session, ou lever l'annulation.",
        "EOS",
        applies_to="all",
    ),
    Rule(
        "DQ005",
        "error",
        "Mode d'entrée et dates incohérents",
        "{detail}",
        "Pour des entrées/sorties fixes, saisir une date de début et une date de fin ; pour des entrées permanentes, une seule session couvrant la période ou aucune date.",
        "Guide EDOF ; guide SIGMA",
        variants=(
            (
                "fixed_missing",
                "Entrées/sorties fixes mais « {field} » est vide : une session à dates fixes doit avoir une date de début et une date de fin.",
            ),
            (
                "permanent_partial",
                "Entrées/sorties permanentes avec une seule date (« {field} » est vide) : saisir les deux dates, couvrant la période, ou aucune.",
            ),
            (
                "mode_missing",
                "« {field} » est vide ou illisible : préciser si les entrées/sorties sont fixes ou permanentes.",
            ),
        ),
    ),
    Rule(
        "DQ006",
        "error",
        "Date de fin avant la date de début",
        "« {field} » = {value} : la session finit avant son début ({start}).",
        "Corriger la date de début ou la date de fin de la session (une session d'un jour a la même date de début et de fin).",
        "Guide EDOF",
    ),
    Rule(
        "DQ007",
        "warning",
        "Nouvelle session qui commence trop tôt",
        "Nouvelle session à entrées fixes : « {field} » = {value}, alors que l'extrait est du {extract_date} ; début attendu au plus tôt le {earliest}.",
        "Vérifier la date de début : une nouvelle session doit commencer au plus tôt le lendemain de sa saisie.",
        "Guide EDOF",
        applies_to="live",
    ),
    Rule(
        "DQ008",
        "error",
        "Période de prescription incohérente",
        "{detail}",
        "La période de prescription doit commencer avant sa fin et s'inscrire dans la session (début de prescription ≤ début de session, fin de prescription ≤ fin de session).",
        "Guide EOS",
        variants=(
            (
                "order",
                "« {field} » = {value} : la prescription finit avant de commencer (« {other_field} » = {other}).",
            ),
            (
                "start_after_session",
                "« {field} » = {value} : la prescription commence après le début de la session (« {other_field} » = {other}).",
            ),
            (
                "end_after_session",
                "« {field} » = {value} : la prescription finit après la fin de la session (« {other_field} » = {other}).",
            ),
        ),
        applies_to="live",
    ),
    Rule(
        "DQ009",
        "error",
        "Contact absent ou invalide",
        "{detail}",
        "Saisir un contact avec son nom et un téléphone français valide (10 chiffres commençant par 0, ou +33 et 9 chiffres, ou un indicatif d'outre-mer) et, le cas échéant, une adresse mail valide.",
        "Guide Carif : « est obligatoirement saisi un contact (nom, téléphone) » ; EOS : nom, téléphone, mail",
        variants=(
            ("name_missing", "« {field} » est vide : un contact (nom et téléphone) est obligatoire."),
            ("phone_missing", "« {field} » est vide : le téléphone du contact est obligatoire."),
            (
                "phone_invalid",
                "« {field} » = « {value} » n'est pas un numéro de téléphone français valide (ex. 04 72 00 00 00, +33 4 72 00 00 00, 0262 00 00 00, +687 00 00 00).",
            ),
            ("mail_invalid", "« {field} » = « {value} » n'est pas une adresse mail valide."),
        ),
        applies_to="live",
    ),
    Rule(
        "DQ010",
        "error",
        "Places Pôle emploi sur une session financée par la Région",
        "Session financée par la Région avec « {field} » = {value} : l'effectif Pôle emploi doit être 0.",
        "Saisir 0 dans l'effectif Pôle emploi d'une session financée par la Région.",
        "Guide EOS : « saisir 0 dans l'effectif Pôle Emploi »",
    ),
    Rule(
        "DQ011",
        "error",
        "Places par financeur incohérentes",
        "{detail}",
        "Les places financées par chaque financeur ne peuvent dépasser l'effectif visé, et aucun effectif ne peut être négatif.",
        "EOS",
        variants=(
            (
                "sum",
                "« {field} » = {value} : moins que les places financées (Région {region} + Pôle emploi {pole_emploi} = {total}).",
            ),
            ("negative", "« {field} » = {value} : un effectif ne peut pas être négatif."),
        ),
    ),
    Rule(
        "DQ012",
        "warning",
        "Volume d'heures incohérent",
        "« {field} » = {value} h, alors que « {avg_field} » × « {places_field} » = {avg} × {places} = {expected} h.",
        "Le volume total d'heures doit égaler la durée moyenne par stagiaire multipliée par l'effectif visé.",
        "Liste des sessions EOS",
        applies_to="live",
    ),
    Rule(
        "DQ013",
        "error",
        "Événement ou information collective incohérent",
        "{detail}",
        "Corriger l'événement : heure de fin après l'heure de début, date au plus tard le jour du début de la session, heures lisibles (ex. 09:30).",
        "Guides EOS et SIGMA",
        scope="event",
        variants=(
            ("bad_time", "{event} : « {field} » = « {value} » n'est pas une heure lisible (HH:MM)."),
            ("time_order", "{event} : « {field} » = {value} n'est pas après l'heure de début ({other})."),
            ("date_order", "{event} : « {field} » = {value} est avant la date de début de l'événement ({other})."),
            ("after_session", "{event} : « {field} » = {value} est après le début de la session ({other})."),
            (
                "after_session_end",
                "{event} : « {field} » = {value} est après la fin de la session à entrées permanentes ({other}).",
            ),
        ),
    ),
    Rule(
        "DQ014",
        "info",
        "Information collective annulée",
        "Information collective du {date} avec « {field} » = {value} : elle est publiée comme annulée.",
        "Rien à faire si l'annulation est voulue.",
        "Guide SIGMA",
        scope="event",
    ),
    Rule(
        "DQ015",
        "error",
        "Adresse incomplète ou incohérente",
        "{detail}",
        "Saisir un code postal à 5 chiffres cohérent avec le code INSEE de la commune (2A/2B pour la Corse), et le nom de la ville.",
        "Toutes sources",
        variants=(
            ("postcode_missing", "« {field} » est vide : le code postal du lieu de formation est obligatoire."),
            ("postcode_format", "« {field} » = « {value} » : un code postal a 5 chiffres (ex. 69003)."),
            ("insee_format", "« {field} » = « {value} » : un code INSEE de commune a 5 caractères (ex. 69383, 2A004)."),
            (
                "insee_mismatch",
                "« {field} » = « {value} » : le département du code postal ({dept}) ne correspond pas à celui du code INSEE {insee} ({insee_dept}).",
            ),
            ("city_missing", "« {field} » est vide : le nom de la ville est obligatoire."),
        ),
    ),
    Rule(
        "DQ016",
        "error",
        "SIRET invalide",
        "« {field} » = « {value} » n'est pas un SIRET valide.",
        "Saisir le SIRET à 14 chiffres de l'établissement (voir l'annuaire des entreprises de l'INSEE).",
        "INSEE",
        variants=(
            ("missing", "« {field} » est vide : le SIRET de l'organisme est obligatoire."),
            ("format", "« {field} » = « {value} » : un SIRET a 14 chiffres."),
            ("checksum", "« {field} » = « {value} » : la clé de contrôle du SIRET est fausse (erreur de saisie ?)."),
        ),
    ),
    Rule(
        "DQ017",
        "warning",
        "Session en double",
        "Même action, mêmes dates ({start} – {end}) et même lieu ({place}) que la session {value}.",
        "Supprimer ou annuler le doublon : pour une nouvelle session, créer une nouvelle session plutôt que de saisir deux fois la même.",
        "Guide Carif",
        applies_to="live",
    ),
    Rule(
        "DQ018",
        "info",
        "Session non publiée (état de saisie)",
        "« {field} » = « {value} » : la session n'est pas publiée tant qu'elle n'est pas transmise ou validée.",
        "Finaliser et transmettre la session dans l'outil du financeur pour qu'elle soit publiée.",
        "Guides EOS et SIGMA",
        applies_to="all",
    ),
    Rule(
        "DQ019",
        "warning",
        "Sessions à finaliser",
        "{count} session(s) finalisée(s) dans EOS alors que le marché en prévoit « {field} » = {value} et que le lot a commencé le {start}.",
        "Finaliser dans EOS les sessions prévues au marché (corbeille « sessions à finaliser »).",
        "EOS : corbeille « sessions à finaliser »",
        scope="formation",
        applies_to="other",
    ),
    Rule(
        "DQ020",
        "error",
        "Session orpheline",
        "{detail}",
        "Rattacher la session à une action, un lot ou une composante existants, ou signaler au Carif l'extrait manquant.",
        "Toutes sources",
        variants=(
            (
                "formation_eos",
                "« {field} » = « {value} » : aucune action SAM ne correspond à ce dossier, ce lot et cette action.",
            ),
            ("formation_sigma", "« {field} » = « {value} » : cette action n'existe pas dans la feuille Actions."),
            (
                "action_sigma",
                "« {field} » = « {value} » : cette composante de l'action {action} n'existe pas dans la feuille Composantes.",
            ),
            ("event", "« {field} » = « {value} » : l'événement se rapporte à une session qu'aucun extrait ne décrit."),
        ),
        applies_to="all",
    ),
    Rule(
        "DQ021",
        "warning",
        "Recrutement fermé",
        "« {field} » = « {value} » : la session n'est plus affichée au public mais reste transmise à Pôle emploi et aux Missions Locales.",
        "Rouvrir le recrutement si la session accepte encore des candidats.",
        "Guide Carif : « si l'état de recrutement est fermé, la formation n'est plus diffusée, mais elle reste cependant exportée »",
        applies_to="live",
    ),
    Rule(
        "DQ022",
        "warning",
        "Session disparue de l'extrait",
        "{detail}",
        "Si la session n'a plus lieu, l'annuler dans l'outil du financeur (places à 0 dans SIGMA, « Session annulée » dans EOS) au lieu de la supprimer ; si elle a été retirée de l'extrait par erreur, la rétablir.",
        "Écart entre deux jours : les consommateurs qui retirent aussitôt une clé perdent des sessions par erreur, ceux qui ne la retirent jamais affichent des sessions qui n'existent plus",
        applies_to="other",
        variants=(
            (
                "grace",
                "La session {session} (publiée depuis le {since}) n'apparaît plus dans l'extrait depuis le {vanished} et n'a pas été annulée : elle reste publiée telle quelle, signalée disparue, jusqu'au {until} inclus ({grace} jours de délai), puis elle sera retirée des flux.",
            ),
            (
                "withdrawn",
                "La session {session} (publiée depuis le {since}) n'apparaît plus dans l'extrait depuis le {vanished} et n'a pas été annulée : le délai de {grace} jours est écoulé, elle est retirée des flux aujourd'hui (le flux delta annonce son retrait).",
            ),
        ),
    ),
    Rule(
        "DQ023",
        "error",
        "Flux vide ou divisé par deux",
        "{detail}",
        "Vérifier les extraits reçus : un extrait incomplet ne doit pas vider le catalogue. Le flux de la veille reste en place.",
        "Garde-fou de publication",
        scope="feed",
        applies_to="other",
        variants=(
            ("empty", "Le flux {feed} serait vide : il n'est pas publié, celui du dernier jour publié reste en place."),
            (
                "halved",
                "Le flux {feed} passerait de {previous} à {today} sessions (moins de la moitié) : il n'est pas publié, celui du dernier jour publié reste en place.",
            ),
        ),
    ),
    Rule(
        "DQ024",
        "error",
        "Enregistrement qui rendrait un flux invalide",
        "{detail}",
        "Corriger la valeur nommée dans l'extrait (ou signaler le cas à l'équipe Passerelle si la valeur paraît juste) : "
        "la session revient dans ce flux dès le run suivant.",
        "Dernier garde-fou de publication : les consommateurs rejettent un fichier entier pour un seul enregistrement "
        "invalide (notre profil XSD, XSD officiel LHEO 2.3)",
        scope="feed",
        applies_to="other",
        variants=(
            (
                "invalid",
                "Le flux {feed} ({feed_file}) serait invalide pour {schema} à cause de {record} : élément "
                "« {element} », {value_text} ; le validateur indique : {detail}. Cette session est retirée "
                "de ce flux seulement (les autres flux la publient) ; corriger la valeur dans l'extrait.",
            ),
        ),
    ),
    Rule(
        "DQ025",
        "warning",
        "Un SIRET, plusieurs organismes",
        "{detail}",
        "Un SIRET désigne un seul établissement : utiliser partout le même nom (raison sociale) pour ce SIRET, et ne jamais associer un organisme au SIRET d'un autre.",
        "Les consommateurs regroupent les organismes par SIRET (comptes Anotéa, structures data·inclusion)",
        applies_to="publishable",
        variants=(
            (
                "names",
                "« {field} » = « {value} » : le SIRET {siret} est aussi déclaré sous le nom « {published} » ({origin}). Un SIRET ne désigne qu'un organisme : les flux publient « {published} ».",
            ),
            (
                "not_holder",
                "« {field} » nomme l'organisme « {value} », qui n'est pas le titulaire de l'action (« {holder} », SIRET {holder_siret}) : le SIRET du titulaire ne lui est pas attribué, et aucun extrait du jour ne donne le sien. Les flux le publient sans SIRET ({unknown}).",
            ),
        ),
    ),
    Rule(
        "DQ026",
        "warning",
        "Commune introuvable dans le Code officiel géographique",
        "{detail}",
        "Vérifier le code postal et le nom de la commune (et le code INSEE s'il est saisi) : ils doivent désigner une même commune de la base officielle des codes postaux. Tant qu'ils ne le font pas, le code INSEE, le département et la région ne sont publiés que si deux des trois désignent la même commune, jamais devinés.",
        "La Poste, base officielle des codes postaux ; INSEE, Code officiel géographique",
        variants=(("address", "« {field} » = « {value} » : {reason}"),),
    ),
)

BY_ID: dict[str, Rule] = {r.id: r for r in RULES}


def rule(rule_id: str) -> Rule:
    return BY_ID[rule_id]
