"""The life of a published session (``outputs.md``, « Life of a published session »).

- A session whose end date is past leaves the full feeds the day after its end: it is not an
  open offer any more. A cancelled session stays, closed and flagged, until its start date has
  passed. Such a session has **expired**: it is not published, not announced by the delta
  (consumers drop it by its dates), and its leaving is not a loss for the DQ023 guard.
- A published session that vanishes from an extract read today (DQ022) stays published as it
  was, flagged ``disparue``, during the **grace period** (7 days, ``PASSERELLE_GRACE_DAYS``);
  on the day the period is over it is **withdrawn**: it leaves the feeds and the delta
  announces it (``mouvement`` = ``retrait``, recruitment closed).

Plain vectorised functions over the canonical session columns.
"""

from __future__ import annotations

import os
from datetime import date

import numpy as np
import pandas as pd

GRACE_DAYS_DEFAULT = 7
GRACE_DAYS_ENV = "PASSERELLE_GRACE_DAYS"


def grace_days(value: int | str | None = None) -> int:
    """The grace period of a vanished session, in days: ``value``, else ``PASSERELLE_GRACE_DAYS``,
    else 7. Raises ValueError on something that is not a whole number of days >= 1."""
    raw = value if value is not None else os.environ.get(GRACE_DAYS_ENV, "").strip() or GRACE_DAYS_DEFAULT
    try:
        days = int(str(raw).strip())
    except ValueError:
        raise ValueError(f"{GRACE_DAYS_ENV}={raw!r} : un nombre entier de jours (1 ou plus) est attendu.") from None
    if days < 1:
        raise ValueError(f"{GRACE_DAYS_ENV}={raw!r} : un nombre entier de jours (1 ou plus) est attendu.")
    return days


def _days(s: pd.Series) -> np.ndarray:
    """A date-like column as numpy ``datetime64[D]`` (NaT when unknown)."""
    if isinstance(s.dtype, pd.ArrowDtype):
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = s.array._pa_array
        if pa.types.is_date(arr.type) or pa.types.is_timestamp(arr.type):
            return pc.cast(arr, pa.timestamp("s")).to_numpy().astype("datetime64[D]")
    return pd.to_datetime(s, errors="coerce").to_numpy().astype("datetime64[D]")


def expired(sessions: pd.DataFrame, run_date: date) -> pd.Series:
    """True for the sessions that have left the feeds by ``run_date``: ended (end date before
    it) or cancelled with a start date before it. Unknown dates never expire a session."""
    today = np.datetime64(run_date, "D")
    if sessions.empty:
        return pd.Series(False, index=sessions.index, dtype=bool)
    end = _days(sessions["end_date"])
    start = _days(sessions["start_date"])
    cancelled = sessions["cancelled"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    with np.errstate(invalid="ignore"):
        ended = ~np.isnat(end) & (end < today)
        started = ~np.isnat(start) & (start < today)
    return pd.Series(ended | (cancelled & started), index=sessions.index, dtype=bool)


def vanished_since(status: pd.Series, vanished_date: pd.Series, run_date: date) -> pd.Series:
    """First day each vanished session was missing: its stored date when it was already
    ``vanished`` in the last publication, else ``run_date`` (missing since today)."""
    known = pd.to_datetime(vanished_date, errors="coerce").dt.date
    was_vanished = status.astype("string").eq("vanished").fillna(False).to_numpy(dtype=bool)
    out = pd.Series([run_date] * len(status), index=status.index, dtype=object)
    keep = was_vanished & known.notna().to_numpy(dtype=bool)
    out[keep] = known[keep]
    return out


def withdrawn(since: pd.Series, run_date: date, grace: int) -> pd.Series:
    """True when a session vanished since ``since`` is past its grace period on ``run_date``."""
    days = (np.datetime64(run_date, "D") - _days(since)).astype("int64")
    return pd.Series(days >= grace, index=since.index, dtype=bool)


def last_day(since: pd.Series, grace: int) -> pd.Series:
    """The last day a session vanished since ``since`` is still published."""
    return pd.Series(_days(since) + np.timedelta64(grace - 1, "D"), index=since.index).dt.date
