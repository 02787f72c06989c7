"""Training bodies (DQ025): one SIRET, one name; a body is never given another body's SIRET.

Two ways to fail, both warnings (the session is published, with one name per SIRET and no
borrowed SIRET, see :mod:`passerelle.organisations`):

- ``names``: a SIRET of the day's extracts carries several organisation names (once case,
  accents and punctuation are set aside). Reported on each record whose name is not the one
  the feeds publish (the contract holder's, else the most frequent), naming the other;
- ``not_holder``: a session names a training body that is not its action's contract holder
  and has no SIRET of its own (SIGMA gives only the titulaire's SIRET, which is not this
  body's), and no other record of the day gives it one: the feeds publish it without a SIRET.
"""

from __future__ import annotations

import pandas as pd

from passerelle.organisations import UNKNOWN_SIRET, directory, normalise_names, valid_sirets
from passerelle.rules.common import combine, emit, flag, lookup, no_findings, text


def _origins(formations: pd.DataFrame, sessions: pd.DataFrame, table: pd.DataFrame) -> pd.Series:
    """SIRET -> where its published name comes from, in French (« titulaire de l'action … »)."""
    chosen = pd.Series(table["norm"].to_numpy(), index=table["siret"].to_numpy())
    f_siret = valid_sirets(formations["holder_siret"])
    f_ok = flag(normalise_names(formations["holder_name"]) == f_siret.map(chosen))
    marche = text(formations.loc[f_ok, "marche_numero"]) if "marche_numero" in formations else None
    action = text(formations.loc[f_ok, "formation_key"])
    origin = "titulaire de l'action " + action
    if marche is not None:
        origin = ("titulaire du marché " + marche + ", action " + action).fillna(origin)
    f = pd.DataFrame({"siret": f_siret[f_ok], "origin": origin})
    s_siret = valid_sirets(sessions["siret_formateur"])
    s_ok = flag(normalise_names(sessions["organisme_formateur"]) == s_siret.map(chosen))
    s = pd.DataFrame(
        {
            "siret": s_siret[s_ok],
            "origin": "organisme formateur de la session " + text(sessions.loc[s_ok, "session_key"]),
        }
    )
    both = pd.concat([f, s], ignore_index=True).dropna().sort_values(["siret"], kind="stable")
    first = both.drop_duplicates("siret")
    return pd.Series(first["origin"].to_numpy(), index=first["siret"].to_numpy(), dtype="string")


def check_organisations(formations: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """DQ025 findings over the day's formations (contract holders) and ``sessions`` (the
    publishable ones: their training bodies)."""
    if not len(formations) and not len(sessions):
        return no_findings()
    table = directory(formations, sessions)
    out: list[pd.DataFrame] = []
    conflicted = table[table["names"] > 1]
    if len(conflicted):
        chosen = pd.Series(conflicted["norm"].to_numpy(), index=conflicted["siret"].to_numpy())
        published = pd.Series(conflicted["name"].to_numpy(), index=conflicted["siret"].to_numpy())
        origins = _origins(formations, sessions, conflicted)
        for df, name_col, siret_col, tbl in (
            (sessions, "organisme_formateur", "siret_formateur", "sessions"),
            (formations, "holder_name", "holder_siret", "formations"),
        ):
            siret = valid_sirets(df[siret_col])
            want = siret.map(chosen)
            bad = want.notna() & flag(normalise_names(df[name_col]) != want)
            out.append(
                emit(
                    "DQ025",
                    df,
                    bad,
                    field=name_col,
                    value=text(df[name_col]),
                    variant="names",
                    table=tbl,
                    siret=siret,
                    published=siret.map(published),
                    origin=siret.map(origins),
                )
            )
    # a body named without a SIRET of its own, whose action has another contract holder
    s = sessions
    holder = lookup(text(s["formation_key"]), formations, "formation_key", "holder_name")
    holder_siret = lookup(text(s["formation_key"]), formations, "formation_key", "holder_siret")
    body = normalise_names(s["organisme_formateur"])
    not_holder = (
        body.notna()
        & valid_sirets(s["siret_formateur"]).isna()
        & holder.notna()
        & flag(body != normalise_names(holder))
    )
    out.append(
        emit(
            "DQ025",
            s,
            not_holder,
            field="organisme_formateur",
            value=text(s["organisme_formateur"]),
            variant="not_holder",
            holder=holder,
            holder_siret=holder_siret,
            unknown=UNKNOWN_SIRET,
        )
    )
    return combine(out)
