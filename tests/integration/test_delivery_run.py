"""The daily job's last step: ``out_delivery`` after the publication, when a delivery
configuration is given; ``<out>/current/``; what the run summary and the report say."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import yaml
from dagster import AssetKey, build_asset_context

from passerelle.cli import main, run_daily
from passerelle.store import default_store_url, open_store
from passerelle.store.deliveries import DeliveryLog
from pipelines.resources import DeliveriesResource, OutboxResource, StoreResource
from tests.integration.runs import DAY2, SAMPLES, cli_args

DAY4 = date(2026, 11, 22)  # the day-2 extracts once more: a full publication, no delta


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _config(tmp_path: Path) -> tuple[Path, Path]:
    share = tmp_path / "partage"
    consumers = {
        "carif": ["carif/lheo-{date}.xml", "carif/lheo-delta-{date}.xml"],
        "mission-locale": ["mission-locale/sessions-{date}.csv"],
    }
    for name in consumers:
        (share / name).mkdir(parents=True)
    path = tmp_path / "deliveries.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "consumers": {
                    name: {"feeds": feeds, "target": f"file://{share / name}/"} for name, feeds in consumers.items()
                }
            }
        ),
        encoding="utf-8",
    )
    return path, share


def test_the_daily_job_delivers_after_publishing_and_a_rerun_sends_nothing_twice(published, tmp_path, capsys):
    config, share = _config(tmp_path)
    result = run_daily(SAMPLES, published, DAY4, deliveries=str(config))
    assert result.success
    materialized = {m.asset_key for m in result.get_asset_materialization_events()}
    assert AssetKey("out_delivery") in materialized
    checks = {(e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert checks[("out_delivery", "delivered")] is True
    day = published / DAY4.isoformat()
    assert _sha(share / "carif" / "lheo-2026-11-22.xml") == _sha(day / "carif" / "lheo-2026-11-22.xml")
    assert _sha(share / "mission-locale" / "sessions-2026-11-22.csv") == _sha(
        day / "mission-locale" / "sessions-2026-11-22.csv"
    )
    assert sorted(p.name for p in (share / "carif").iterdir()) == ["lheo-2026-11-22.xml"]  # no delta that day

    # the report was written before the deliveries: it says what will be sent, and what will not
    report = (day / "quality" / "report.html").read_text(encoding="utf-8")
    section = report[report.index('<section class="deliveries"') :]
    assert "Livraisons aux partenaires" in section and f"file://{share / 'carif'}/" in section
    assert "lheo-2026-11-22.xml</td><td>à envoyer après la publication" in section
    assert (
        'lheo-delta-2026-11-22.xml</td><td><span class="badge b-warning">non envoyé</span> Aucun mouvement' in section
    )

    # current/: the newest file of each feed; the delta stays the last one published (day 2)
    current = json.loads((published / "current" / "manifest.json").read_text(encoding="utf-8"))
    dates = {e["file"]: e["date"] for e in current["feeds"]}
    assert dates == {
        "carif/lheo.xml": "2026-11-22",
        "carif/lheo-delta.xml": DAY2.isoformat(),
        "pole-emploi/offres.xml": "2026-11-22",
        "mission-locale/sessions.csv": "2026-11-22",
    }
    assert _sha(published / "current" / "carif" / "lheo.xml") == _sha(day / "carif" / "lheo-2026-11-22.xml")
    assert _sha(published / "current" / "carif" / "lheo-delta.xml") == _sha(
        published / DAY2.isoformat() / "carif" / "lheo-delta-2026-11-20.xml"
    )

    with open_store(default_store_url(published)) as st:
        before = DeliveryLog(st).between(DAY4, DAY4)
    assert sorted((r["consumer"], r["file"], r["outcome"]) for r in before) == [
        ("carif", "carif/lheo-2026-11-22.xml", "delivered"),
        ("carif", "carif/lheo-delta-2026-11-22.xml", "withheld"),
        ("mission-locale", "mission-locale/sessions-2026-11-22.csv", "delivered"),
    ]
    mtimes = {p: p.stat().st_mtime_ns for p in share.rglob("*") if p.is_file()}

    capsys.readouterr()
    assert main(cli_args(SAMPLES, published, DAY4, "", "--deliveries", str(config))) == 0
    out = capsys.readouterr().out
    assert "livraisons : 0 livré(s), 2 déjà livré(s) avant, 0 en échec, 1 non publié(s)" in out
    assert "carif → file://" in out and "lheo-2026-11-22.xml : déjà livré le" in out
    assert "lheo-delta-2026-11-22.xml : non envoyé, non publié : Aucun mouvement" in out
    with open_store(default_store_url(published)) as st:
        assert DeliveryLog(st).between(DAY4, DAY4) == before, "nothing sent nor recorded twice"
    assert {p: p.stat().st_mtime_ns for p in share.rglob("*") if p.is_file()} == mtimes
    rerun = (published / DAY4.isoformat() / "quality" / "report.html").read_text(encoding="utf-8")
    assert "lheo-2026-11-22.xml</td><td>déjà livré le" in rerun


def test_a_wrong_configuration_stops_the_command_before_the_run(tmp_path, capsys):
    bad = tmp_path / "deliveries.yaml"
    bad.write_text("consumers:\n  carif: {feeds: ['carif/lheo-{date}.xml'], target: 'ftp://x/'}\n", encoding="utf-8")
    assert main(cli_args(SAMPLES, tmp_path / "out", DAY4, "", "--deliveries", str(bad))) == 2
    assert "ftp://x/" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_without_configuration_the_step_materialises_nothing(tmp_path):
    from assets.deliver import out_delivery

    context = build_asset_context(partition_key=DAY4.isoformat())
    produced = list(
        out_delivery(
            context,
            outbox=OutboxResource(path=str(tmp_path)),
            store=StoreResource(default_dir=str(tmp_path)),
            deliveries=DeliveriesResource(config=""),
            publication={},
        )
    )
    assert produced == []
