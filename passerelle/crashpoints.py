"""Crash injection for the crash-safety tests (TEST ONLY).

``PASSERELLE_CRASH_AT=<point>`` makes the process die on the spot (``os._exit(137)``, like a
``kill -9``: no ``finally``, no ``atexit``, no flush of anything but stdout/stderr) the first
time the run reaches ``<point>``. Several points may be given, separated by commas. Never set it
in production: the variable is read here and nowhere else.

The points, in the order a daily run reaches them:

``locked``                 the store-wide run lock was just taken (``passerelle.runlock``)
``after-read``             an extract was read (the first ``raw_*`` step to finish)
``staged``                 feeds, report, canonical Parquet, archived inputs and manifest are
                           written in the staging folder, nothing in the store yet
``versions-saved``         the run row, the inputs read and the session/entity versions are in
                           the store, nothing published
``before-fsync``           about to fsync the staging folder
``before-swap``            staging fsynced, ``<out>/<D>/`` untouched
``between-renames``        re-running a date without an atomic exchange (not Linux): the old
                           ``<out>/<D>/`` is in ``.trash``, the new one not yet in place
``after-swap``             the new ``<out>/<D>/`` is in place; when re-running a date, the old
                           one is still at the staging path (or in ``.trash``), not yet deleted
``moved``                  the day folder is published, the store does not know it yet
``publication-recorded``   the store's publication history is written, the run still ``running``
``finished``               the run is ``succeeded`` in the store, its lock not released yet
"""

from __future__ import annotations

import os
import sys

CRASH_ENV = "PASSERELLE_CRASH_AT"
CRASH_EXIT_CODE = 137  # what a shell reports for a process killed by SIGKILL

POINTS = (
    "locked",
    "after-read",
    "staged",
    "versions-saved",
    "before-fsync",
    "before-swap",
    "between-renames",
    "after-swap",
    "moved",
    "publication-recorded",
    "finished",
)


def crash_point(point: str) -> None:
    """Die here when ``PASSERELLE_CRASH_AT`` names ``point`` (test only; a no-op otherwise)."""
    wanted = os.environ.get(CRASH_ENV)
    if not wanted or point not in {p.strip() for p in wanted.split(",")}:
        return
    try:
        print(f"passerelle: arrêt brutal simulé au point « {point} » ({CRASH_ENV})", file=sys.stderr, flush=True)
        sys.stdout.flush()
    finally:
        os._exit(CRASH_EXIT_CODE)
