"""The feeds of a day: where each is written, by which writer, checked against which profile.

``produce_feeds`` writes each feed into the staging folder (validating an XML feed in a worker
process while the next one is written), validates XML feeds against our XSD
profile (and the official LHEO 2.3 XSD: in full up to 64 MB, on a sample of formations above),
and applies the DQ023 guard (a full feed that would be empty or lose more than half of
the sessions of the last publication is withheld: yesterday's stays the current one).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from passerelle.findings import findings_frame
from passerelle.publishable import Publication

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas" / "xsd"


def official_lheo_xsd() -> Path | None:
    """The official LHEO 2.3 XSD when available (``PASSERELLE_LHEO_XSD`` or ``../shared``)."""
    import os

    env = os.environ.get("PASSERELLE_LHEO_XSD")
    candidates = [Path(env)] if env else []
    candidates.append(ROOT.parent / "shared" / "reference" / "lheo" / "lheo.xsd")
    return next((c for c in candidates if c.is_file()), None)


@dataclass(frozen=True)
class FeedSpec:
    name: str  # carif | carif_delta | pole_emploi | mission_locale
    path_template: str  # relative to the day folder, {d} = YYYY-MM-DD
    profile_xsd: str | None  # our XSD profile (XML feeds)
    guarded: bool  # DQ023 applies (full feeds only; a delta may be empty)
    description: str


FEEDS: tuple[FeedSpec, ...] = (
    FeedSpec("carif", "carif/lheo-{d}.xml", "lheo-carif-profile.xsd", True, "Catalogue complet LHEO 2.3 pour le Carif"),
    FeedSpec("carif_delta", "carif/lheo-delta-{d}.xml", "lheo-carif-profile.xsd", False, "Mouvements depuis la dernière publication (LHEO 2.3)"),
    FeedSpec("pole_emploi", "pole-emploi/offres-{d}.xml", "lheo-pole-emploi-profile.xsd", True, "LHEO 2.3 pour les applications Pôle emploi"),
    FeedSpec("mission_locale", "mission-locale/sessions-{d}.csv", None, True, "CSV pour les applications des Missions Locales"),
)
BY_NAME = {f.name: f for f in FEEDS}


@dataclass
class FeedResult:
    name: str
    path: str  # relative to the day folder
    records: int
    published: bool
    validation_errors: list[str] = field(default_factory=list)
    findings: pd.DataFrame = field(default_factory=findings_frame)
    withheld_reason: str | None = None
    write_seconds: float = 0.0
    validation_seconds: float = 0.0  # in a worker process when validated in parallel


def feed_path(spec: FeedSpec, run_date: date) -> str:
    return spec.path_template.format(d=run_date.isoformat())


def write_feed(
    spec: FeedSpec, pub: Publication, staging: Path, run_date: date, previous_count: int | None
) -> FeedResult:
    """Write one feed into the staging folder and apply the DQ023 guard (no validation yet)."""
    from passerelle.rules.checks import feed_guard

    started = time.perf_counter()
    rel = feed_path(spec, run_date)
    target = Path(staging) / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    sessions = pub.delta if spec.name == "carif_delta" else pub.sessions
    if spec.name == "mission_locale":
        from passerelle.feeds.mission_locale import write_mission_locale_csv

        n = write_mission_locale_csv(target, pub.formations, pub.actions, sessions, pub.events, run_date=run_date)
    else:
        from passerelle.feeds.lheo import write_lheo

        profile = "pole_emploi" if spec.name == "pole_emploi" else "carif"
        n = write_lheo(target, pub.formations, pub.actions, sessions, pub.events, profile=profile,
                       delta=spec.name == "carif_delta", run_date=run_date)
    result = FeedResult(spec.name, rel, n, True)
    result.write_seconds = time.perf_counter() - started
    if spec.name == "carif_delta" and n == 0:
        # LHEO needs at least one formation: a day without movement publishes no delta file.
        target.unlink(missing_ok=True)
        result.published = False
        result.withheld_reason = "Aucun mouvement (création, modification, annulation) depuis la dernière publication."
        return result
    if spec.guarded:
        guard = feed_guard(target.name, n, previous_count)
        if len(guard):
            target.unlink(missing_ok=True)
            result.published = False
            result.findings = guard
            result.withheld_reason = str(guard["message"].iloc[0])
    return result


def needs_validation(spec: FeedSpec, result: FeedResult) -> bool:
    return bool(spec.profile_xsd) and result.published


def feed_validation_errors(feed: str, profile_xsd: str) -> tuple[list[str], float]:
    """Errors of a written XML feed against its profile, then against the official LHEO 2.3 XSD,
    and the seconds it took. A plain function of paths, so that it can run in a worker process."""
    from passerelle.feeds.validate import validate_file, validate_sample

    started = time.perf_counter()
    target = Path(feed)
    errors = validate_file(target, SCHEMAS / profile_xsd)
    official = official_lheo_xsd()
    if official is not None and not errors:
        if target.stat().st_size <= official_full_max_bytes():
            official_errors = validate_file(target, official)
        else:
            # Our profiles are restrictions of the official schema (same elements, same
            # order, tighter types): a feed valid against its profile is valid LHEO 2.3.
            # Above the threshold the second full pass (as long as the first) is replaced
            # by a sample of the first formations, which still catches a writer that drifts
            # from LHEO.
            official_errors = validate_sample(target, official, OFFICIAL_SAMPLE_FORMATIONS)
        errors = [f"LHEO 2.3 officiel : {e}" for e in official_errors]
    return errors, time.perf_counter() - started


def produce_feed(
    spec: FeedSpec, pub: Publication, staging: Path, run_date: date, previous_count: int | None
) -> FeedResult:
    """Write one feed, guard it, validate it (in this process)."""
    result = write_feed(spec, pub, staging, run_date, previous_count)
    if needs_validation(spec, result):
        result.validation_errors, result.validation_seconds = feed_validation_errors(
            str(Path(staging) / result.path), spec.profile_xsd)
    return result


def produce_feeds(
    pub: Publication, staging: Path, run_date: date, previous_counts: dict[str, int],
    specs: tuple[FeedSpec, ...] = FEEDS, parallel: bool | None = None,
) -> list[FeedResult]:
    """All the feeds of the day, in ``specs`` order.

    Writing is Python work; XSD validation is libxml2 work on the written file. With
    ``parallel`` (by default when the publication holds at least
    :data:`PARALLEL_VALIDATION_MIN_SESSIONS` sessions, unless ``PASSERELLE_PARALLEL_VALIDATION=0``),
    each XML feed is validated in one worker process while the next feed is being written,
    so on a machine with two cores the validation costs almost no wall time. The answer is
    the same either way; if the worker cannot run (a broken pool), the feeds left are
    validated here.
    """
    if parallel is None:
        parallel = (len(pub.sessions) >= PARALLEL_VALIDATION_MIN_SESSIONS
                    and os.environ.get("PASSERELLE_PARALLEL_VALIDATION", "1").strip() != "0")
    if not parallel:
        return [produce_feed(spec, pub, staging, run_date, previous_counts.get(spec.name)) for spec in specs]

    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    from multiprocessing import get_context

    results: list[FeedResult] = []
    pending: list[tuple[FeedSpec, FeedResult, object]] = []
    # spawn, not fork: the parent is a large multi-threaded process (Dagster, Arrow pools).
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        for spec in specs:
            result = write_feed(spec, pub, staging, run_date, previous_counts.get(spec.name))
            results.append(result)
            if needs_validation(spec, result):
                future = pool.submit(feed_validation_errors, str(Path(staging) / result.path), spec.profile_xsd)
                pending.append((spec, result, future))
        for spec, result, future in pending:
            try:
                result.validation_errors, result.validation_seconds = future.result()
            except BrokenProcessPool:
                result.validation_errors, result.validation_seconds = feed_validation_errors(
                    str(Path(staging) / result.path), spec.profile_xsd)
    return results


PARALLEL_VALIDATION_MIN_SESSIONS = 20_000
OFFICIAL_FULL_MAX_BYTES = 64 * 1024 * 1024  # ~25k sessions
OFFICIAL_SAMPLE_FORMATIONS = 200


def official_full_max_bytes() -> int:
    """Feeds up to this size are validated in full against the official LHEO XSD as well
    (``PASSERELLE_OFFICIAL_XSD_MAX_BYTES`` overrides; 0 = sample only, -1 = always in full)."""
    import os

    raw = os.environ.get("PASSERELLE_OFFICIAL_XSD_MAX_BYTES", "").strip()
    if not raw:
        return OFFICIAL_FULL_MAX_BYTES
    value = int(raw)
    return 1 << 62 if value < 0 else value
