"""Hooks of the daily job that are not alerts.

:data:`release_memory` runs after every step of ``daily_job`` and ``backfill_job``: with the
in-process executor every step shares one process, and what a step freed (a reader's
temporary tables, a writer's rows) would otherwise stay resident until the run ends
(``passerelle.memory.release_freed_memory``).
"""

from __future__ import annotations

from dagster import HookContext, success_hook

from passerelle.memory import release_freed_memory


@success_hook(name="release_memory")
def release_memory(_context: HookContext) -> None:
    release_freed_memory()  # no log line: each one is an event of the run, written to the event log
