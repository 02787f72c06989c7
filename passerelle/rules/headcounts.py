"""Places and hours: Pôle emploi places on Région sessions (DQ010), places per financer vs
target headcount and negative headcounts (DQ011), hours totals vs averages (DQ012)."""

from __future__ import annotations

import pandas as pd

from passerelle import model
from passerelle.rules.common import as_number, combine, emit, field_of, flag, fr_number, number_of

HOURS_TOLERANCE = 0.5  # hours: rounding of the averages in the extract
HEADCOUNT_COLUMNS = ("places", "places_min", "places_region", "places_pole_emploi", "trainees")


def check_pole_emploi_places(sessions: pd.DataFrame) -> pd.DataFrame:
    """DQ010: a Région-financed session has 0 places financed by Pôle emploi."""
    s = sessions
    bad = flag(s["financer"] == model.FINANCER_REGION) & flag(as_number(s["places_pole_emploi"]) > 0)
    return emit(
        "DQ010",
        s,
        bad,
        field="places_pole_emploi",
        value=number_of("places_pole_emploi"),
        columns=("places_pole_emploi",),
    )


def check_places(sessions: pd.DataFrame) -> pd.DataFrame:
    """DQ011: places_region + places_pole_emploi <= places; every headcount >= 0."""
    s = sessions
    region, pe, places = as_number(s["places_region"]), as_number(s["places_pole_emploi"]), as_number(s["places"])
    financed = region.fillna(0) + pe.fillna(0)
    bad = (region.notna() | pe.notna()) & places.notna() & flag(financed > places)
    out = [
        emit(
            "DQ011",
            s,
            bad,
            field="places",
            value=number_of("places"),
            variant="sum",
            columns=("places", "places_region", "places_pole_emploi"),
            region=number_of("places_region"),
            pole_emploi=number_of("places_pole_emploi"),
            total=lambda rows: fr_number(financed.loc[rows.index]),
        )
    ]
    for col in HEADCOUNT_COLUMNS:
        out.append(
            emit("DQ011", s, as_number(s[col]) < 0, field=col, value=number_of(col), variant="negative", columns=(col,))
        )
    return combine(out)


def check_hours(sessions: pd.DataFrame) -> pd.DataFrame:
    """DQ012: total hours = average hours per trainee x target headcount (tolerance 0.5 h),
    in centre and in company. Skipped when one of the three numbers is missing."""
    s = sessions
    places = as_number(s["places"])
    out = []
    for total_col, avg_col in (
        ("hours_centre_total", "hours_centre_avg"),
        ("hours_company_total", "hours_company_avg"),
    ):
        expected = as_number(s[avg_col]) * places
        bad = (as_number(s[total_col]) - expected).abs() > HOURS_TOLERANCE
        out.append(
            emit(
                "DQ012",
                s,
                bad,
                field=total_col,
                value=number_of(total_col),
                columns=(total_col, avg_col, "places"),
                avg_field=field_of(avg_col),
                places_field=field_of("places"),
                avg=number_of(avg_col),
                places=number_of("places"),
                expected=lambda rows, e=expected: fr_number(e.loc[rows.index]),
            )
        )
    return combine(out)
