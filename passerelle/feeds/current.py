"""``<out>/current/``: the latest published file of each feed at a stable path, for consumers
that pull (``outputs.md``).

```
<out>/current/carif/lheo.xml              <- <out>/<D>/carif/lheo-<D>.xml
<out>/current/carif/lheo-delta.xml        <- <out>/<D>/carif/lheo-delta-<D>.xml
<out>/current/pole-emploi/offres.xml      <- <out>/<D>/pole-emploi/offres-<D>.xml
<out>/current/mission-locale/sessions.csv <- <out>/<D>/mission-locale/sessions-<D>.csv
<out>/current/manifest.json               for each feed: its date, source file, sha256, records
```

Switched at publication, one file at a time, atomically: the new file is linked (a hard link to
the published file, no copy; a copy where the file system has no hard links) under a temporary
name in the same folder, then renamed over the old one. A consumer opening a current file gets
the old one or the new one, complete, never a mix; a reader that opened the old one keeps
reading it. A feed withheld today (DQ023, a delta without movement) keeps its previous current
file, and ``manifest.json`` says from which date each file is. Re-running an older date does not
move ``current/`` back: a feed is switched only when the date published is the newest it has.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

from passerelle.feeds.publish import fsync_path

CURRENT_DIR = "current"
MANIFEST = "manifest.json"


def current_path(path_template: str) -> str:
    """``carif/lheo-{d}.xml`` -> ``carif/lheo.xml`` (the feed's path without its date)."""
    return path_template.replace("-{d}", "").replace("_{d}", "").replace("{d}", "")


def read_current_manifest(out_dir: Path) -> dict:
    try:
        data = json.loads((Path(out_dir) / CURRENT_DIR / MANIFEST).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _link_or_copy(src: Path, tmp: Path) -> None:
    try:
        os.link(src, tmp)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        shutil.copyfile(src, tmp)
        fsync_path(tmp)


def switch_current(out_dir: str | Path, run_date: date, run_id: str, feeds: list[dict]) -> list[str]:
    """Point ``<out>/current/`` at the feeds just published for ``run_date``.

    ``feeds``: dicts with ``name``, ``path_template`` (``carif/lheo-{d}.xml``), ``file`` (relative to
    the day folder), ``sha256`` and ``records``, one per feed published that day. Returns the
    current paths switched."""
    out_dir = Path(out_dir)
    root = out_dir / CURRENT_DIR
    manifest = read_current_manifest(out_dir)
    entries = {e["feed"]: e for e in manifest.get("feeds", []) if isinstance(e, dict) and "feed" in e}
    switched = []
    tag = "".join(c for c in run_id if c.isalnum())[:16] or "run"
    for feed in feeds:
        previous = entries.get(feed["name"])
        if previous is not None and str(previous.get("date", "")) > run_date.isoformat():
            continue  # a newer date is current: re-running an older one does not go back
        rel = current_path(feed["path_template"])
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{tag}.tmp")
        tmp.unlink(missing_ok=True)
        _link_or_copy(out_dir / run_date.isoformat() / feed["file"], tmp)
        os.replace(tmp, target)
        fsync_path(target.parent)
        entries[feed["name"]] = {
            "feed": feed["name"],
            "file": rel,
            "date": run_date.isoformat(),
            "source": f"{run_date.isoformat()}/{feed['file']}",
            "sha256": feed["sha256"],
            "records": feed["records"],
            "run_id": run_id,
        }
        switched.append(rel)
    if switched:
        root.mkdir(parents=True, exist_ok=True)
        body = {"updated_at": datetime.now(UTC).isoformat(), "feeds": sorted(entries.values(), key=lambda e: e["file"])}
        tmp = root / f".{MANIFEST}.{tag}.tmp"
        tmp.write_text(json.dumps(body, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, root / MANIFEST)
        fsync_path(root)
    return switched


def published_feeds(feeds: list, manifest: dict) -> list[dict]:
    """The feeds a publication put in place (``FeedResult`` list and the day's manifest), in the
    form :func:`switch_current` takes."""
    from passerelle.feeds.catalog import BY_NAME

    outputs = {o["file"]: o for o in manifest["outputs"]}
    return [
        {
            "name": f.name,
            "path_template": BY_NAME[f.name].path_template,
            "file": f.path,
            "sha256": outputs[f.path]["sha256"],
            "records": f.records,
        }
        for f in feeds
        if f.published and f.name in BY_NAME and f.path in outputs
    ]
