"""The feeds of a day: where each is written, by which writer, checked against which profile.

``produce_feeds`` writes the feeds into the staging folder, validates the XML feeds against our
XSD profile and the official LHEO 2.3 XSD (:mod:`passerelle.feeds.conformance`), and applies
the DQ023 guard (a full feed that would be empty or lose more than half of the sessions of the
last publication is withheld: yesterday's stays the current one).

Two ways, same files and same answers:

- sequential (small days): each feed is written, then validated, in this process;
- parallel (national days, :data:`PARALLEL_VALIDATION_MIN_SESSIONS` sessions and more): the
  three LHEO feeds are written in one pass over the sessions
  (:func:`passerelle.feeds.lheo.write_lheo_feeds`) while one worker process per feed validates
  the file as it grows (:func:`passerelle.feeds.validate.validate_growing`) and hashes it for
  the manifest; the Mission Locale CSV is written while the workers finish.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from passerelle.feeds.conformance import (  # noqa: F401  (re-exported: the feeds' validation policy)
    OFFICIAL_FULL_MAX_BYTES,
    OFFICIAL_SAMPLE_FORMATIONS,
    SCHEMAS,
    feed_validation_errors,
    growing_feed_validation,
    official_full_max_bytes,
    official_lheo_xsd,
)
from passerelle.findings import findings_frame
from passerelle.publishable import Publication


@dataclass(frozen=True)
class FeedSpec:
    name: str  # carif | carif_delta | pole_emploi | mission_locale
    path_template: str  # relative to the day folder, {d} = YYYY-MM-DD
    profile_xsd: str | None  # our XSD profile (XML feeds)
    guarded: bool  # DQ023 applies (full feeds only; a delta may be empty)
    description: str

    @property
    def xsd(self) -> str:
        """Our XSD profile of an XML feed (a CSV feed has none: asking is a bug)."""
        if self.profile_xsd is None:
            raise ValueError(f"feed {self.name} has no XSD profile")
        return self.profile_xsd


FEEDS: tuple[FeedSpec, ...] = (
    FeedSpec("carif", "carif/lheo-{d}.xml", "lheo-carif-profile.xsd", True, "Catalogue complet LHEO 2.3 pour le Carif"),
    FeedSpec(
        "carif_delta",
        "carif/lheo-delta-{d}.xml",
        "lheo-carif-profile.xsd",
        False,
        "Mouvements depuis la dernière publication (LHEO 2.3)",
    ),
    FeedSpec(
        "pole_emploi",
        "pole-emploi/offres-{d}.xml",
        "lheo-pole-emploi-profile.xsd",
        True,
        "LHEO 2.3 pour les applications Pôle emploi",
    ),
    FeedSpec(
        "mission_locale",
        "mission-locale/sessions-{d}.csv",
        None,
        True,
        "CSV pour les applications des Missions Locales",
    ),
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
    write_seconds: float = 0.0  # parallel way: the one pass that wrote the three LHEO feeds
    validation_seconds: float = 0.0  # in a worker process when validated in parallel
    sha256: str | None = None  # of the staged file, when the validation worker read all of it
    size: int = -1  # bytes of the staged file that sha256 is of
    withheld_sessions: list[str] = field(default_factory=list)  # DQ024: kept out of this feed alone


def feed_session_columns() -> list[str]:
    """The session columns a publication keeps: those the feed writers read, those the
    canonical schema requires (the writers conform their input to it) and the publication's
    own (``content_hash``, ``publication_status``, ``change``, and the LHEO dates ``since_date``
    and ``changed_date``). In canonical order."""
    from passerelle import model
    from passerelle.feeds import lheo, mission_locale

    needed = set(lheo.SESSION_COLUMNS) | set(mission_locale.SESSION_COLUMNS)
    needed |= {f.name for f in model.SESSIONS if not f.nullable}
    return [c for c in model.SESSIONS.names if c in needed] + [
        "content_hash",
        "publication_status",
        "change",
        *lheo.DATE_COLUMNS,
    ]


def feed_path(spec: FeedSpec, run_date: date) -> str:
    return spec.path_template.format(d=run_date.isoformat())


def _lheo_profile(spec: FeedSpec) -> str:
    return "pole_emploi" if spec.name == "pole_emploi" else "carif"


def write_feed(
    spec: FeedSpec,
    pub: Publication,
    staging: Path,
    run_date: date,
    previous_count: int | None,
    organisations: pd.DataFrame | None = None,
) -> FeedResult:
    """Write one feed into the staging folder and apply the DQ023 guard (no validation yet).

    ``organisations``: :func:`publication_organisations` of ``pub`` (computed when None)."""
    started = time.perf_counter()
    rel = feed_path(spec, run_date)
    target = Path(staging) / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    sessions = pub.delta if spec.name == "carif_delta" else pub.sessions
    if spec.name == "mission_locale":
        from passerelle.feeds.mission_locale import write_mission_locale_csv

        if organisations is None:
            organisations = publication_organisations(pub)
        n = write_mission_locale_csv(
            target, pub.formations, pub.actions, sessions, pub.events, run_date=run_date, organisations=organisations
        )
    else:
        from passerelle.feeds.lheo import write_lheo

        if organisations is None:
            organisations = publication_organisations(pub)
        n = write_lheo(
            target,
            pub.formations,
            pub.actions,
            sessions,
            pub.events,
            profile=_lheo_profile(spec),
            delta=spec.name == "carif_delta",
            run_date=run_date,
            organisations=organisations,
        )
    return settle_feed(spec, Path(staging), rel, n, time.perf_counter() - started, previous_count)


def settle_feed(
    spec: FeedSpec, staging: Path, rel: str, n: int, write_seconds: float, previous_count: int | None
) -> FeedResult:
    """A written feed's fate: a delta without movement is not published (LHEO needs at least
    one formation); a guarded feed that fails DQ023 is withheld. The file is removed then."""
    from passerelle.rules.checks import feed_guard

    target = staging / rel
    result = FeedResult(spec.name, rel, n, True, write_seconds=write_seconds)
    if spec.name == "carif_delta" and n == 0:
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


def publication_organisations(pub: Publication) -> pd.DataFrame:
    """The training bodies of the publication (one name, numero and coordinates per SIRET, see
    :func:`passerelle.organisations.cards`), from all its sessions, withdrawn ones included: the
    full and delta feeds describe each body the same way, however they are written."""
    from passerelle.organisations import cards

    return cards(pub.formations, pub.lheo_sessions, pub.actions)


def guard_baselines(previous_counts: dict[str, int], pub: Publication) -> dict[str, int]:
    """What the DQ023 guard compares today's feeds with: the records of the last publication,
    less the sessions that have left since because their period is over (lifecycle: not a
    loss). A vanished session withdrawn after its grace period is a loss and stays counted."""
    expired = int(pub.counts.get("expired", 0) or 0)
    return {name: max(int(count) - expired, 0) for name, count in previous_counts.items()}


def needs_validation(spec: FeedSpec, result: FeedResult) -> bool:
    return bool(spec.profile_xsd) and result.published


def produce_feed(
    spec: FeedSpec,
    pub: Publication,
    staging: Path,
    run_date: date,
    previous_count: int | None,
    organisations: pd.DataFrame | None = None,
) -> FeedResult:
    """Write one feed, guard it, validate it (in this process)."""
    result = write_feed(spec, pub, staging, run_date, previous_count, organisations)
    if needs_validation(spec, result):
        result.validation_errors, result.validation_seconds = feed_validation_errors(
            str(Path(staging) / result.path), spec.xsd
        )
    return result


def produce_feeds(
    pub: Publication,
    staging: Path,
    run_date: date,
    previous_counts: dict[str, int],
    specs: tuple[FeedSpec, ...] = FEEDS,
    parallel: bool | None = None,
) -> list[FeedResult]:
    """All the feeds of the day, in ``specs`` order (see the module doc for the two ways).

    ``parallel``: by default when the publication holds at least
    :data:`PARALLEL_VALIDATION_MIN_SESSIONS` sessions, unless ``PASSERELLE_PARALLEL_VALIDATION=0``.
    If the workers cannot run (a broken pool), the feeds are validated here afterwards.
    """
    if parallel is None:
        parallel = (
            len(pub.sessions) >= PARALLEL_VALIDATION_MIN_SESSIONS
            and os.environ.get("PASSERELLE_PARALLEL_VALIDATION", "1").strip() != "0"
        )
    previous_counts = guard_baselines(previous_counts, pub)
    organisations = publication_organisations(pub)
    if not parallel:
        results = [
            produce_feed(spec, pub, staging, run_date, previous_counts.get(spec.name), organisations) for spec in specs
        ]
    else:
        results = _produce_in_parallel(pub, Path(staging), run_date, previous_counts, specs, organisations)
    return withhold_invalid_records(results, pub, Path(staging), run_date, previous_counts, specs, organisations)


def withhold_invalid_records(
    results: list[FeedResult],
    pub: Publication,
    staging: Path,
    run_date: date,
    previous_counts: dict[str, int],
    specs: tuple[FeedSpec, ...],
    organisations: pd.DataFrame,
) -> list[FeedResult]:
    """DQ024 (:mod:`passerelle.feeds.withhold`): each XML feed its validation rejects is written
    again without the records the errors name, in this process; valid feeds are left alone."""
    from passerelle.feeds.withhold import repair

    out = []
    for spec, result in zip(specs, results, strict=True):
        if spec.profile_xsd and result.published and result.validation_errors:
            result = repair(
                spec,
                result,
                pub,
                staging,
                run_date,
                previous_counts.get(spec.name),
                organisations,
                write_feed,
                feed_validation_errors,
            )
        out.append(result)
    return out


def _produce_in_parallel(
    pub: Publication,
    staging: Path,
    run_date: date,
    previous_counts: dict[str, int],
    specs: tuple[FeedSpec, ...],
    organisations: pd.DataFrame,
) -> list[FeedResult]:
    import tempfile
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    from multiprocessing import get_context

    from passerelle.feeds.lheo import LheoTarget, write_lheo_feeds
    from passerelle.feeds.validate import FeedAbandoned, mark_abandoned, mark_complete

    xml = [s for s in specs if s.profile_xsd]
    results: dict[str, FeedResult] = {}
    futures: dict[str, Future] = {}
    with (
        tempfile.TemporaryDirectory(prefix="passerelle-feeds-") as signals,
        ProcessPoolExecutor(max_workers=max(1, len(xml)), mp_context=get_context("spawn")) as pool,
    ):
        # spawn, not fork: the parent is a large multi-threaded process (Dagster, Arrow pools).
        markers = {s.name: Path(signals) / f"{s.name}.complete" for s in xml}
        files = {}
        try:
            for spec in xml:
                target = staging / feed_path(spec, run_date)
                target.parent.mkdir(parents=True, exist_ok=True)
                files[spec.name] = open(target, "wb", buffering=0)  # every write reaches the workers
                futures[spec.name] = pool.submit(
                    growing_feed_validation, str(target), str(markers[spec.name]), spec.xsd
                )
            started = time.perf_counter()
            counts = write_lheo_feeds(
                [LheoTarget(files[s.name], _lheo_profile(s), delta=s.name == "carif_delta") for s in xml],
                pub.formations,
                pub.actions,
                pub.lheo_sessions,
                pub.events,
                run_date=run_date,
                organisations=organisations,
            )
            seconds = time.perf_counter() - started
            for fh in files.values():
                fh.close()
            for spec, n in zip(xml, counts, strict=True):
                rel = feed_path(spec, run_date)
                size = (staging / rel).stat().st_size
                result = settle_feed(spec, staging, rel, n, seconds, previous_counts.get(spec.name))
                result.size = size
                if result.published:
                    mark_complete(markers[spec.name], size)
                else:
                    mark_abandoned(markers[spec.name])
                results[spec.name] = result
        except BaseException:
            for marker in markers.values():
                if not marker.exists():
                    mark_abandoned(marker)
            raise
        finally:
            for fh in files.values():
                fh.close()
        for spec in specs:  # the other feeds, while the workers finish
            if spec.name not in results:
                results[spec.name] = write_feed(
                    spec, pub, staging, run_date, previous_counts.get(spec.name), organisations
                )
        for spec in xml:
            result = results[spec.name]
            try:
                errors, secs, sha256 = futures[spec.name].result()
            except FeedAbandoned:
                continue  # withheld: nothing to validate
            except BrokenProcessPool:
                if result.published:
                    result.validation_errors, result.validation_seconds = feed_validation_errors(
                        str(staging / result.path), spec.xsd
                    )
                continue
            result.validation_errors, result.validation_seconds, result.sha256 = errors, secs, sha256
    return [results[s.name] for s in specs]


PARALLEL_VALIDATION_MIN_SESSIONS = 20_000
