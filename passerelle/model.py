"""The canonical model: one pyarrow schema per table, aligned on LHEO.

LHEO hierarchy and how our sources map onto it:

    formation  = the action as described by the financer
                 SAM ``<action>`` (key ``sam:<dossier>:<lot>:<action>``)
                 SIGMA sheet ``Actions`` row (key ``sigma:<N° Action>``)
    action     = one per place / training body
                 SIGMA sheet ``Composantes`` row (key ``sigma:<N° Action>:<N°>``)
                 EOS: derived from the sessions of one formation given by one body at one place
                 (key ``eos:<dossier>:<lot>:<action>:<SIRET formateur>:<postcode>``)
    session    = one per session
                 EOS row (key ``eos:<Identifiant EOS>``)
                 SIGMA sheet ``Sessions`` row (key ``sigma:<N° Action>:<Composante>:<Num. de session>``)
    event      = information collective, test, interview... attached to a session

Every record carries its lineage: ``source`` (a source of the registry, ``passerelle.sources.registry``; ``lheo:<producer>`` per producer), ``source_file`` (the extract
file name), ``source_sheet`` (workbook sheet, empty for CSV/XML) and ``source_line`` (CSV line
counting the header as 1, sheet row with header = 1, or XML line of the element).

Values are normalised: dates are ``date32``; enumerations use the English codes below; free
text is kept as received (stripped). A value that could not be parsed is null in the table and
reported as a finding naming the field and the raw value.
"""

from __future__ import annotations

import pyarrow as pa

# --- enumerations (canonical codes) -----------------------------------------------------------
ENTRY_FIXED = "fixed"  # EOS "Entrées/Sorties fixes", SIGMA "Dates fixes"  -> LHEO modalites-entrees-sorties 0
ENTRY_PERMANENT = "permanent"  # "Entrées/Sorties permanentes"               -> LHEO modalites-entrees-sorties 1
ENTRY_MODES = (ENTRY_FIXED, ENTRY_PERMANENT)

RECRUITMENT_OPEN = "open"  # Ouvert   -> LHEO etat-recrutement 1
RECRUITMENT_CLOSED = "closed"  # Fermé    -> LHEO etat-recrutement 2
RECRUITMENT_SUSPENDED = "suspended"  # Suspendu -> LHEO etat-recrutement 3
RECRUITMENT_STATES = (RECRUITMENT_OPEN, RECRUITMENT_CLOSED, RECRUITMENT_SUSPENDED)

# Workflow states as written by the source, and whether they allow publication.
WORKFLOW_PUBLISHABLE = {
    "Transmise": True,
    "Validée OF": True,
    "Validée": True,
    "A finaliser": False,
    "En attente d'émission": False,
}

# Financers (LHEO dict-financeurs code).
FINANCER_REGION = "2"  # Conseil régional
FINANCER_POLE_EMPLOI = "4"  # Pôle emploi

# --- lineage ----------------------------------------------------------------------------------
LINEAGE_FIELDS = [
    pa.field("source", pa.string(), nullable=False),
    pa.field("source_file", pa.string(), nullable=False),
    pa.field("source_sheet", pa.string(), nullable=False),  # "" for CSV and XML
    pa.field("source_line", pa.int32(), nullable=False),
]

# --- the commune of an address, from the Code officiel géographique (passerelle.reference.cog) ---
# The INSEE code of the commune (the given one when consistent with postcode and city, else
# derived from them; null when it cannot be determined without guessing, DQ026), its
# département, its région (INSEE codes since 2016), the country ("FR"), and the reference's
# answer (ok | derived | city_not_served | insee_mismatch...). Derived: not in content hashes.
COG_FIELDS = [
    pa.field("commune_code", pa.string()),
    pa.field("departement", pa.string()),
    pa.field("region", pa.string()),
    pa.field("country", pa.string()),
    pa.field("address_status", pa.string()),
]

# --- core_formations --------------------------------------------------------------------------
FORMATIONS = pa.schema(
    [
        pa.field("formation_key", pa.string(), nullable=False),
        *LINEAGE_FIELDS,
        pa.field("marche_numero", pa.string()),  # SAM marché n° / SIGMA N° Contrat/Conv.
        pa.field("programme", pa.string()),
        pa.field("dossier", pa.string()),  # SAM dossier (EOS joins on it)
        pa.field("lot", pa.string()),  # 3 digits, zero-padded ("005")
        pa.field("action_number", pa.string()),  # SAM action numero / SIGMA N° Action
        pa.field("title", pa.string()),  # intitulé de l'action
        pa.field("lot_title", pa.string()),
        pa.field("objective", pa.string()),
        pa.field("content", pa.string()),
        pa.field("prerequisites", pa.string()),
        pa.field("formacode", pa.string()),  # FORMACODE code(s), space-separated, the principal first
        pa.field("rome", pa.string()),  # ROME code(s), space-separated
        pa.field("certifying", pa.bool_()),
        pa.field("rncp", pa.string()),  # RNCP12345 / RS1234
        # FORMACODE version of ``formacode`` ("V14"); null = the default version of the source
        pa.field("formacode_ref", pa.string()),
        pa.field("nsf", pa.string()),  # NSF codes (3 characters), space-separated, when a source carries them
        pa.field("certifinfo", pa.string()),  # CERTIFINFO code, when a source carries it
        pa.field("sessions_planned", pa.int32()),  # SAM sessions-envisagees
        pa.field("headcount", pa.int32()),  # SAM effectif
        pa.field("hours_centre", pa.float64()),
        pa.field("hours_company", pa.float64()),
        pa.field("period_start", pa.date32()),  # SAM lot debut / SIGMA Date de début réelle
        pa.field("period_end", pa.date32()),  # SAM lot fin / SIGMA Date de fin prévue
        pa.field("execution_end", pa.date32()),  # SAM lot fin-execution
        pa.field("holder_name", pa.string()),  # titulaire / mandataire
        pa.field("holder_siret", pa.string()),
        pa.field("holder_nda", pa.string()),  # 11 digits
        pa.field("status", pa.string()),  # SIGMA Statut EC/SO/AN
        pa.field("year", pa.string()),  # SIGMA Année
        pa.field("dispositif", pa.string()),  # SIGMA Dispositif
        pa.field("financer", pa.string()),  # LHEO code-financeur of the buyer (2 = Région)
    ]
)

# --- core_actions -----------------------------------------------------------------------------
ACTIONS = pa.schema(
    [
        pa.field("action_key", pa.string(), nullable=False),
        pa.field("formation_key", pa.string(), nullable=False),
        *LINEAGE_FIELDS,
        pa.field("composante_number", pa.string()),  # SIGMA "N°" ("01")
        pa.field("composante_label", pa.string()),  # SIGMA "FORP - Formation Projet Pro"
        pa.field("organisme_formateur", pa.string()),
        pa.field("siret_formateur", pa.string()),
        pa.field("address_line", pa.string()),
        pa.field("postcode", pa.string()),
        pa.field("city", pa.string()),
        pa.field("insee_code", pa.string()),  # as given by the source
        *COG_FIELDS,
        pa.field("entry_mode", pa.string()),  # ENTRY_MODES
        pa.field("places", pa.int32()),  # SIGMA Effectif
        pa.field("hours_centre", pa.float64()),  # average hours in centre per trainee
        pa.field("hours_company", pa.float64()),
        pa.field("period_start", pa.date32()),  # SIGMA composante Date début
        pa.field("period_end", pa.date32()),  # SIGMA composante Date fin
    ]
)

# --- core_sessions ----------------------------------------------------------------------------
SESSIONS = pa.schema(
    [
        pa.field("session_key", pa.string(), nullable=False),
        pa.field("action_key", pa.string(), nullable=False),
        pa.field("formation_key", pa.string(), nullable=False),
        *LINEAGE_FIELDS,
        pa.field("source_session_id", pa.string()),  # Identifiant EOS / Num. de session
        pa.field("session_number", pa.string()),  # EOS N° ses. / SIGMA Num. de session
        pa.field("marche_numero", pa.string()),  # EOS N° marché / SIGMA N° Contrat/Conv.
        pa.field("dossier", pa.string()),
        pa.field("lot", pa.string()),
        pa.field("action_number", pa.string()),  # EOS number before " - " / SIGMA N° Action
        pa.field("composante_number", pa.string()),
        pa.field("purchase_order", pa.string()),  # EOS N° BC
        pa.field("obligation", pa.string()),  # EOS O / F / S
        pa.field("programme", pa.string()),
        pa.field("title", pa.string()),  # public title when given, else the action label
        pa.field("organisme_formateur", pa.string()),
        pa.field("siret_formateur", pa.string()),
        pa.field("site", pa.string()),  # SIGMA site from "Lieu de la session"
        pa.field("address_line", pa.string()),  # "12 bis rue de la Paix"
        pa.field("address_complement", pa.string()),
        pa.field("postcode", pa.string()),
        pa.field("city", pa.string()),
        pa.field("insee_code", pa.string()),  # as given by the source
        *COG_FIELDS,
        pa.field("place_label", pa.string()),  # EOS Lieu
        pa.field("start_date", pa.date32()),
        pa.field("end_date", pa.date32()),
        pa.field("prescription_start", pa.date32()),
        pa.field("prescription_end", pa.date32()),
        pa.field("parent_period_start", pa.date32()),  # EOS lot start / SIGMA composante start
        pa.field("parent_period_end", pa.date32()),  # EOS Fin exéc. / SIGMA composante end
        pa.field("lot_end", pa.date32()),  # EOS Date fin lot
        pa.field("entry_mode", pa.string()),  # ENTRY_MODES
        pa.field("places", pa.int32()),  # EOS Eff. visé tot. / SIGMA Nb. de places
        pa.field("places_min", pa.int32()),  # EOS Eff. min. MO
        pa.field("places_region", pa.int32()),  # EOS Eff. visé région.
        pa.field("places_pole_emploi", pa.int32()),  # EOS Eff. visé PE
        pa.field("trainees", pa.int32()),  # EOS nb Stagiaires.
        pa.field("hours_centre_avg", pa.float64()),
        pa.field("hours_company_avg", pa.float64()),
        pa.field("hours_centre_total", pa.float64()),
        pa.field("hours_company_total", pa.float64()),
        pa.field("workflow_state", pa.string()),  # as written: A finaliser, Transmise, Validée...
        pa.field("workflow_publishable", pa.bool_(), nullable=False),
        pa.field("cancelled", pa.bool_(), nullable=False),
        pa.field("state_date", pa.date32()),  # EOS Date état
        pa.field("recruitment_state", pa.string()),  # RECRUITMENT_STATES
        pa.field("contact_name", pa.string()),
        pa.field("contact_phone", pa.string()),
        pa.field("contact_email", pa.string()),
        pa.field("offer_info_code", pa.string()),  # SIGMA Code Offre Info
        pa.field("financer", pa.string()),  # LHEO code-financeur of the buyer (2 = Région)
    ]
)

# --- core_events ------------------------------------------------------------------------------
EVENTS = pa.schema(
    [
        pa.field("event_key", pa.string(), nullable=False),  # "<session_key>:ev<line>"
        pa.field("session_key", pa.string(), nullable=False),
        *LINEAGE_FIELDS,
        pa.field("event_type", pa.string()),  # Information Collective, Test, Bilan, Entretien
        pa.field("is_information_collective", pa.bool_(), nullable=False),
        pa.field("start_date", pa.date32()),
        pa.field("end_date", pa.date32()),
        pa.field("start_time", pa.string()),  # normalised "HH:MM"
        pa.field("end_time", pa.string()),
        pa.field("places", pa.int32()),  # SIGMA Nb. de places
        pa.field("cancelled", pa.bool_(), nullable=False),  # SIGMA 0 places
        pa.field("address_line", pa.string()),
        pa.field("postcode", pa.string()),
        pa.field("city", pa.string()),
        *COG_FIELDS,
        pa.field("description", pa.string()),
    ]
)

# --- quarantine: input rows that could not enter the canonical tables -------------------------
QUARANTINE = pa.schema(
    [
        *LINEAGE_FIELDS,
        pa.field("kind", pa.string(), nullable=False),  # formation | action | session | event
        pa.field("session_key", pa.string()),  # when one could be built
        pa.field("rule", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),  # French
        pa.field("raw", pa.string()),  # the raw row, as JSON
    ]
)

# --- findings (one per rule violation; issues.csv is this table) ------------------------------
FINDINGS = pa.schema(
    [
        pa.field("rule", pa.string(), nullable=False),
        pa.field("severity", pa.string(), nullable=False),  # error | warning | info
        pa.field("source", pa.string(), nullable=False),
        pa.field("file", pa.string(), nullable=False),
        pa.field("sheet", pa.string(), nullable=False),  # "" for CSV and XML
        pa.field("line", pa.int32()),  # null for a whole-file finding without a line
        pa.field("session_key", pa.string()),
        pa.field("field", pa.string()),
        pa.field("value", pa.string()),
        pa.field("message", pa.string(), nullable=False),  # French
    ]
)
ISSUES_CSV_COLUMNS = ["rule", "severity", "source", "file", "line", "session_key", "field", "value", "message"]

TABLES: dict[str, pa.Schema] = {
    "core_formations": FORMATIONS,
    "core_actions": ACTIONS,
    "core_sessions": SESSIONS,
    "core_events": EVENTS,
    "core_quarantine": QUARANTINE,
    "core_findings": FINDINGS,
}

KEYS: dict[str, str] = {
    "core_formations": "formation_key",
    "core_actions": "action_key",
    "core_sessions": "session_key",
    "core_events": "event_key",
}


def empty_frame(schema: pa.Schema):
    """An empty pandas DataFrame with the columns and dtypes of ``schema``."""
    return schema.empty_table().to_pandas(types_mapper=_types_mapper)


def _types_mapper(pa_type: pa.DataType):
    import pandas as pd

    return pd.ArrowDtype(pa_type)


def conform(df, schema: pa.Schema) -> pa.Table:
    """Cast a pandas DataFrame to ``schema`` exactly (column order, types).

    Missing nullable columns are added as nulls; extra columns are an error (a programming
    mistake, not bad input). Raises ``ValueError`` naming the offending column.
    """
    import pandas as pd

    extra = [c for c in df.columns if c not in schema.names]
    if extra:
        raise ValueError(f"columns not in the canonical schema: {extra}")
    n = len(df)
    arrays = []
    for field in schema:
        if field.name in df.columns:
            col = df[field.name]
            src = getattr(col.array, "_pa_array", None)
            if isinstance(src, pa.ChunkedArray):
                # Arrow-backed column (ArrowDtype, pyarrow "string"): reuse its buffers; pa.array()
                # on a ChunkedArray would walk it value by value in Python (~1000x slower).
                arr = src.chunk(0) if src.num_chunks == 1 else src
                if pa.types.is_floating(arr.type):  # NaN is a missing value, as pandas has it
                    import pyarrow.compute as pc

                    arr = pc.if_else(pc.is_nan(arr), pa.scalar(None, arr.type), arr)
            elif isinstance(col.dtype, pd.ArrowDtype):
                arr = pa.array(col.array._pa_array if hasattr(col.array, "_pa_array") else col, from_pandas=True)
            else:
                arr = pa.array(col, from_pandas=True)
            if isinstance(arr, pa.ChunkedArray):
                arr = arr.combine_chunks()
            try:
                arr = arr.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ValueError(f"column {field.name!r} cannot be cast to {field.type}: {exc}") from exc
        else:
            if not field.nullable:
                raise ValueError(f"required column {field.name!r} is missing")
            arr = pa.nulls(n, field.type)
        if not field.nullable and arr.null_count:
            raise ValueError(f"required column {field.name!r} has {arr.null_count} null value(s)")
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=schema)


def to_frame(table: pa.Table):
    """A pyarrow table as a pandas DataFrame with Arrow-backed dtypes (no lossy conversion)."""
    return table.to_pandas(types_mapper=_types_mapper)
