"""Organisations as consumers key them (passerelle.organisations): names, numeros, one name per SIRET."""

from __future__ import annotations

import pandas as pd

from passerelle import organisations as org


def s(*values) -> pd.Series:
    return pd.Series(list(values), dtype="string")


def test_normalise_names_ignores_case_accents_punctuation_and_spacing_only():
    out = org.normalise_names(
        s(
            "École des  Métiers, de la Montagne",
            "ECOLE DES METIERS DE LA MONTAGNE",
            "Œuvre des Compagnons",
            "AFPA ARA",
            "  ",
            None,
        )
    )
    assert out.iloc[0] == out.iloc[1] == "ECOLE DES METIERS DE LA MONTAGNE"
    assert out.iloc[2] == "OEUVRE DES COMPAGNONS"
    assert out.iloc[3] == "AFPA ARA"
    assert pd.isna(out.iloc[4]) and pd.isna(out.iloc[5])


def test_numeros_from_siret_else_from_name():
    out = org.numeros(s("443 061 841 00047", None, "12345", None), s("HECATE", "BTP Formation 66", "X", None))
    assert out.tolist()[:3] == ["siret:44306184100047", "nom:BTP-FORMATION-66", "nom:X"]
    assert pd.isna(out.iloc[3])


def _formations(*holders):
    return pd.DataFrame({"holder_siret": s(*(h[0] for h in holders)), "holder_name": s(*(h[1] for h in holders))})


def _sessions(*bodies):
    return pd.DataFrame(
        {"siret_formateur": s(*(b[0] for b in bodies)), "organisme_formateur": s(*(b[1] for b in bodies))}
    )


def test_directory_prefers_the_contract_holder_then_the_most_frequent_name():
    formations = _formations(("77889900500012", "AFPA AUVERGNE-RHONE-ALPES"))
    sessions = _sessions(
        ("77889900500012", "AFPA ARA"),
        ("77889900500012", "AFPA ARA"),
        ("41928374200015", "Cuisine et hôtellerie"),
        ("41928374200015", "CUISINE ET HÔTELLERIE"),
        ("41928374200015", "CUISINE ET HÔTELLERIE"),
        ("19300245800019", "GRETA B"),
        ("19300245800019", "GRETA A"),
        (None, "SANS SIRET"),
    )
    d = org.directory(formations, sessions).set_index("siret")
    assert d.loc["77889900500012", "name"] == "AFPA AUVERGNE-RHONE-ALPES"  # the holder wins over 2 sessions
    assert d.loc["77889900500012", "names"] == 2  # a DQ025 conflict
    assert d.loc["41928374200015", "name"] == "CUISINE ET HÔTELLERIE"  # most frequent spelling
    assert d.loc["41928374200015", "names"] == 1  # same name once normalised: no conflict
    assert d.loc["19300245800019", "name"] == "GRETA A"  # tie: alphabetical, deterministic
    assert d.loc["19300245800019", "numero"] == "siret:19300245800019"
    assert "SANS SIRET" not in set(d["name"])


def test_fill_sirets_by_name_only_when_exactly_one_siret_carries_the_name():
    formations = _formations(("13000123300019", "AGRI FORMATION OCCITANIE"), ("81234567600017", "BTP FORMATION 66"))
    sessions = _sessions(
        (None, "Btp Formation 66"),
        (None, "INCONNU SARL"),
        (None, "HOMONYME"),
        ("11111111111111", "HOMONYME"),
        ("22222222222222", "HOMONYME"),
        ("13000123300019", "AGRI FORMATION OCCITANIE"),
    )
    out = org.fill_sirets_by_name(sessions, formations)
    assert out.iloc[0] == "81234567600017"
    assert pd.isna(out.iloc[1])  # nobody by that name
    assert pd.isna(out.iloc[2])  # two SIRETs carry the name: no guess
    assert out.iloc[5] == "13000123300019"


def test_published_names_one_name_per_siret():
    formations = _formations(("77889900500012", "AFPA AUVERGNE-RHONE-ALPES"))
    sessions = _sessions(("77889900500012", "AFPA ARA"), (None, "BTP FORMATION 66"))
    table = org.directory(formations, sessions)
    out = org.published_names(sessions["siret_formateur"], sessions["organisme_formateur"], table)
    assert out.tolist() == ["AFPA AUVERGNE-RHONE-ALPES", "BTP FORMATION 66"]


def test_empty_inputs():
    empty = pd.DataFrame({"holder_siret": s(), "holder_name": s()})
    d = org.directory(empty, pd.DataFrame({"siret_formateur": s(), "organisme_formateur": s()}))
    assert d.empty and {"siret", "name", "numero", "names"} <= set(d.columns)
