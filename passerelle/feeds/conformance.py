"""Is a written XML feed valid: against our XSD profile, then against the official LHEO 2.3 XSD.

The policy of the daily run, as plain functions of paths so that they can run in a worker
process (this module imports lxml, not pandas: a worker stays small):

- every XML feed is validated in full against its profile (``schemas/xsd/``);
- when it is valid, it is validated against the official LHEO 2.3 XSD as well: in full up to
  :data:`OFFICIAL_FULL_MAX_BYTES`, on the first :data:`OFFICIAL_SAMPLE_FORMATIONS` formations
  above (our profiles are restrictions of the official schema: same elements, same order,
  tighter types, so a feed valid against its profile is valid LHEO 2.3; the sample still
  catches a writer that drifts from LHEO).

:func:`feed_validation_errors` validates a complete file; :func:`growing_feed_validation` a
file still being written by the run (see :func:`passerelle.feeds.validate.validate_growing`),
and returns its sha256 as well.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas" / "xsd"
OFFICIAL_FULL_MAX_BYTES = 64 * 1024 * 1024  # ~25k sessions
OFFICIAL_SAMPLE_FORMATIONS = 200


def official_lheo_xsd() -> Path | None:
    """The official LHEO 2.3 XSD when available (``PASSERELLE_LHEO_XSD`` or ``../shared``)."""
    env = os.environ.get("PASSERELLE_LHEO_XSD")
    candidates = [Path(env)] if env else []
    candidates.append(ROOT.parent / "shared" / "reference" / "lheo" / "lheo.xsd")
    return next((c for c in candidates if c.is_file()), None)


def official_full_max_bytes() -> int:
    """Feeds up to this size are validated in full against the official LHEO XSD as well
    (``PASSERELLE_OFFICIAL_XSD_MAX_BYTES`` overrides; 0 = sample only, -1 = always in full)."""
    raw = os.environ.get("PASSERELLE_OFFICIAL_XSD_MAX_BYTES", "").strip()
    if not raw:
        return OFFICIAL_FULL_MAX_BYTES
    value = int(raw)
    return 1 << 62 if value < 0 else value


def _official_errors(target: Path) -> list[str]:
    from passerelle.feeds.validate import validate_file, validate_sample

    official = official_lheo_xsd()
    if official is None:
        return []
    if target.stat().st_size <= official_full_max_bytes():
        errors = validate_file(target, official)
    else:
        errors = validate_sample(target, official, OFFICIAL_SAMPLE_FORMATIONS)
    return [f"LHEO 2.3 officiel : {e}" for e in errors]


def feed_validation_errors(feed: str, profile_xsd: str) -> tuple[list[str], float]:
    """Errors of a written XML feed against its profile, then against the official LHEO 2.3 XSD,
    and the seconds it took."""
    from passerelle.feeds.validate import validate_file

    started = time.perf_counter()
    target = Path(feed)
    errors = validate_file(target, SCHEMAS / profile_xsd)
    if not errors:
        errors = _official_errors(target)
    return errors, time.perf_counter() - started


def growing_feed_validation(feed: str, marker: str, profile_xsd: str) -> tuple[list[str], float, str | None]:
    """:func:`feed_validation_errors` for a feed that the run is still writing (the run marks
    it complete in ``marker``), plus the sha256 of the file (``None`` when not all its bytes
    could be read). Raises :class:`passerelle.feeds.validate.FeedAbandoned` when the run gives
    the feed up (withheld, or the run failed)."""
    from passerelle.feeds.validate import validate_growing

    started = time.perf_counter()
    errors, sha256 = validate_growing(feed, marker, SCHEMAS / profile_xsd)
    if not errors:
        errors = _official_errors(Path(feed))
    return errors, time.perf_counter() - started, sha256
