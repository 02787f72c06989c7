"""The delivery core without a server: deliveries.yaml, the delivery log (SQLite and PostgreSQL),
migration 0005, ``<out>/current/``, the texts (summary, alert, report part)."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from passerelle.delivery.config import DeliveryConfigError, known_feed_templates, load_config, parse_config
from passerelle.delivery.deliver import ALREADY, FAILED, NOT_ATTEMPTED, SENT, WITHHELD, DeliveryRun, Item
from passerelle.delivery.texts import failure_alert, summary_lines
from passerelle.feeds.current import current_path, switch_current
from passerelle.store import open_store
from passerelle.store.db import downgrade, head_revision, write_transaction
from passerelle.store.deliveries import DeliveryLog

D = date(2026, 11, 20)


@pytest.fixture
def keys(tmp_path) -> dict[str, str]:
    key, known = tmp_path / "id_ed25519", tmp_path / "known_hosts"
    key.write_text("not read by the configuration\n")
    known.write_text("[sftp.example]:2222 ssh-ed25519 AAAA\n")
    return {"key": str(key), "known_hosts": str(known)}


def _one(consumer: dict, defaults: dict | None = None):
    data = {"consumers": {"carif": consumer}}
    if defaults is not None:
        data["defaults"] = defaults
    return parse_config(data, "deliveries.yaml")


# --- deliveries.yaml -------------------------------------------------------------------------------


def test_the_example_of_the_contract_with_defaults(keys):
    config = parse_config(
        {
            "defaults": {**keys, "attempts": 4, "backoff_seconds": 10},
            "consumers": {
                "carif": {
                    "feeds": ["carif/lheo-{date}.xml", "carif/lheo-delta-{date}.xml"],
                    "target": "sftp://passerelle@sftp.carif.example:22/depot/",
                },
                "pole-emploi": {
                    "feeds": ["pole-emploi/offres-{date}.xml"],
                    "target": "sftp://pe@[2001:db8::1]:2222/entrant/",
                    "verify": "size",
                    "attempts": 1,
                },
                "mission-locale": {
                    "feeds": ["mission-locale/sessions-{date}.csv"],
                    "target": "file:///srv/partage/mission-locale/",
                },
            },
        },
        "deliveries.yaml",
    )
    carif, pe, ml = config.consumers
    assert config.names == ("carif", "pole-emploi", "mission-locale")
    assert carif.target.url == "sftp://passerelle@sftp.carif.example:22/depot/"
    assert carif.files(D) == ["carif/lheo-2026-11-20.xml", "carif/lheo-delta-2026-11-20.xml"]
    assert (carif.attempts, carif.backoff_seconds, carif.verify, carif.key) == (4, 10.0, "sha256", keys["key"])
    assert pe.target.url == "sftp://pe@[2001:db8::1]:2222/entrant/" and (pe.verify, pe.attempts) == ("size", 1)
    assert ml.target.url == "file:///srv/partage/mission-locale/" and ml.key is None
    assert set(known_feed_templates()) == {
        "carif/lheo-{date}.xml",
        "carif/lheo-delta-{date}.xml",
        "pole-emploi/offres-{date}.xml",
        "mission-locale/sessions-{date}.csv",
    }


@pytest.mark.parametrize(
    "consumer, message",
    [
        ({"feeds": ["carif/lheo-{date}.xml"], "target": "ftp://h/x/"}, "non prise en charge"),
        ({"feeds": ["carif/lheo-{date}.xml"], "target": "sftp://u:secret@h/x/"}, "mot de passe refusé"),
        ({"feeds": ["carif/lheo-{date}.xml"], "target": "sftp://h/x/"}, "nommer l'utilisateur"),
        ({"feeds": ["carif/lheo-{date}.xml"], "target": "file://serveur/partage/"}, "hôte « serveur » refusé"),
        ({"feeds": ["carif/lheo-{date}.xml"], "target": "file:///srv/../etc/"}, "« .. » refusé"),
        ({"feeds": ["carif/lheo.xml"], "target": "file:///srv/"}, "flux « carif/lheo.xml » inconnu"),
        ({"feeds": ["quality/issues.csv"], "target": "file:///srv/"}, "inconnu"),
        ({"feeds": [], "target": "file:///srv/"}, "liste non vide"),
        ({"feeds": ["carif/lheo-{date}.xml", "carif/lheo-{date}.xml"], "target": "file:///srv/"}, "même nom"),
        ({"feeds": ["carif/lheo-{date}.xml"], "target": "file:///srv/", "key": "/k"}, "qu'aux destinations sftp"),
        ({"feeds": ["carif/lheo-{date}.xml"], "target": "file:///srv/", "atempts": 3}, "clé(s) inconnue(s) atempts"),
        ({"feeds": ["carif/lheo-{date}.xml"], "target": "file:///srv/", "attempts": 0}, "au moins 1"),
        ({"feeds": ["carif/lheo-{date}.xml"], "target": "file:///srv/", "attempts": "3"}, "nombre entier"),
        ({"feeds": ["carif/lheo-{date}.xml"], "target": "file:///srv/", "verify": "md5"}, "sha256 ou size"),
        ({"feeds": ["carif/lheo-{date}.xml"], "target": "file:///${PASSERELLE_NO_SUCH_VAR}/"}, "n'est pas définie"),
    ],
)
def test_a_wrong_consumer_is_refused_with_a_french_message(consumer, message):
    with pytest.raises(DeliveryConfigError, match="partenaire « carif »") as err:
        _one(consumer)
    assert message in str(err.value)


def test_sftp_needs_a_key_and_known_hosts_that_exist(keys, tmp_path):
    target = {"feeds": ["carif/lheo-{date}.xml"], "target": "sftp://u@h:2222/depot/"}
    with pytest.raises(DeliveryConfigError, match="« key » manquant"):
        _one(target)
    with pytest.raises(DeliveryConfigError, match="known_hosts .* introuvable"):
        _one({**target, "key": keys["key"], "known_hosts": str(tmp_path / "absent")})
    consumer = _one(target, keys).consumers[0]
    assert (consumer.target.host, consumer.target.port, consumer.target.user) == ("h", 2222, "u")


def test_environment_variables_and_yaml_mistakes(tmp_path, monkeypatch):
    monkeypatch.setenv("PARTAGE", str(tmp_path))
    path = tmp_path / "deliveries.yaml"
    path.write_text(
        "consumers:\n  ml:\n    feeds:\n      - mission-locale/sessions-{date}.csv\n"
        '    target: "file://${PARTAGE}/ml/"\n',
        encoding="utf-8",
    )
    assert load_config(path).consumers[0].target.path == f"{tmp_path}/ml"
    path.write_text(
        "consumers: {ml: {feeds: [mission-locale/sessions-{date}.csv], target: 'file:///x/'}}\n", encoding="utf-8"
    )
    with pytest.raises(DeliveryConfigError, match="entre guillemets"):
        load_config(path)
    with pytest.raises(DeliveryConfigError, match="introuvable"):
        load_config(tmp_path / "absent.yaml")
    with pytest.raises(DeliveryConfigError, match="inconnu"):
        parse_config(
            {"consumers": {"ml": {"feeds": ["mission-locale/sessions-{date}.csv"], "target": "file:///x/"}}}
        ).consumer("carif")
    with pytest.raises(DeliveryConfigError, match="attendu un document"):
        parse_config(["consumers"])


# --- the delivery log --------------------------------------------------------------------------------


def _attempt(log: DeliveryLog, **over) -> int:
    fields = {
        "batch_id": "b1",
        "run_date": D,
        "consumer": "carif",
        "target": "sftp://u@h:22/d/",
        "file": "carif/lheo-2026-11-20.xml",
        "sha256": "a" * 64,
        "bytes": 10,
        "attempt": 1,
    }
    return log.begin(**{**fields, **over})


def test_delivery_log_records_attempts(store):
    log = DeliveryLog(store)
    first = _attempt(log)
    assert log.of_batch("b1")[0]["outcome"] == "running"
    log.finish(first, "failed", "connexion perdue")
    assert log.delivered("carif", "carif/lheo-2026-11-20.xml", "a" * 64) is None
    second = _attempt(log, attempt=2)
    log.finish(second, "delivered")
    done = log.delivered("carif", "carif/lheo-2026-11-20.xml", "a" * 64)
    assert done["id"] == second and done["finished_at"] >= done["started_at"]
    assert log.delivered("carif", "carif/lheo-2026-11-20.xml", "b" * 64) is None, "another content"
    assert log.delivered("pole-emploi", "carif/lheo-2026-11-20.xml", "a" * 64) is None, "another consumer"
    assert log.last_delivered("carif", D, "carif/lheo-2026-11-20.xml") == done["finished_at"]
    assert log.first_date("carif") == D and log.first_date("pole-emploi") is None
    log.record(
        outcome="withheld",
        error="non publié",
        **{
            "batch_id": "b2",
            "run_date": D,
            "consumer": "carif",
            "target": "t",
            "file": "carif/lheo-delta-2026-11-20.xml",
            "sha256": None,
            "bytes": None,
            "attempt": 0,
        },
    )
    assert log.withheld_recorded("carif", D, "carif/lheo-delta-2026-11-20.xml")
    assert [r["outcome"] for r in log.between(D, D)] == ["failed", "delivered", "withheld"]
    with pytest.raises(ValueError):
        log.finish(first, "running")
    with pytest.raises(sa.exc.IntegrityError):
        with store.engine.begin() as conn:
            conn.execute(sa.text("UPDATE deliveries SET outcome = 'lost'"))


def test_migration_0005_up_and_down_keeps_the_rest(store):
    store.begin_run("r1", D)
    log = DeliveryLog(store)
    log.finish(_attempt(log), "delivered")
    with write_transaction(store.engine) as conn:
        downgrade(conn, "0003")
    assert "deliveries" not in sa.inspect(store.engine).get_table_names()
    url = store.engine.url.render_as_string(hide_password=False)
    store.dispose()
    with open_store(url) as reopened:
        assert reopened.schema_revision() == head_revision()
        assert reopened.get_run("r1")["status"] == "running"
        assert DeliveryLog(reopened).between(D, D) == []


# --- <out>/current/ ---------------------------------------------------------------------------------


def _publish(out: Path, day: date, name: str, text: str) -> dict:
    rel = f"carif/lheo-{day.isoformat()}.xml"
    path = out / day.isoformat() / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return {"name": name, "path_template": "carif/lheo-{d}.xml", "file": rel, "sha256": text * 8, "records": 1}


def test_current_holds_the_newest_file_of_each_feed(tmp_path):
    assert current_path("mission-locale/sessions-{d}.csv") == "mission-locale/sessions.csv"
    d1, d2 = date(2026, 11, 19), date(2026, 11, 20)
    assert switch_current(tmp_path, d1, "run-1", [_publish(tmp_path, d1, "carif", "1")]) == ["carif/lheo.xml"]
    current = tmp_path / "current" / "carif" / "lheo.xml"
    old_inode = os.stat(current).st_ino
    with open(current) as reader:  # a consumer reading while the next day is switched in
        switch_current(tmp_path, d2, "run-2", [_publish(tmp_path, d2, "carif", "2")])
        assert reader.read() == "1", "a reader keeps the file it opened"
    assert current.read_text() == "2" and os.stat(current).st_ino != old_inode
    assert os.stat(current).st_ino == os.stat(tmp_path / "2026-11-20" / "carif" / "lheo-2026-11-20.xml").st_ino
    assert switch_current(tmp_path, d1, "run-3", [_publish(tmp_path, d1, "carif", "9")]) == [], "no going back"
    assert current.read_text() == "2"
    manifest = json.loads((tmp_path / "current" / "manifest.json").read_text())
    assert [(e["file"], e["date"], e["source"]) for e in manifest["feeds"]] == [
        ("carif/lheo.xml", "2026-11-20", "2026-11-20/carif/lheo-2026-11-20.xml")
    ]
    assert sorted(p.name for p in current.parent.iterdir()) == ["lheo.xml"], "no temporary file left"


# --- texts --------------------------------------------------------------------------------------------


def test_summary_and_alert_say_what_went_where(keys):
    config = _one(
        {"feeds": ["carif/lheo-{date}.xml", "carif/lheo-delta-{date}.xml"], "target": "sftp://u@h:22/depot/"}, keys
    )
    url = config.consumers[0].target.url
    when = datetime(2026, 11, 20, 4, 30, tzinfo=UTC)
    items = [
        Item(
            "carif",
            url,
            date(2026, 11, 19),
            "carif/lheo-2026-11-19.xml",
            "c" * 64,
            2048,
            SENT,
            2,
            when=when,
            catch_up=True,
        ),
        Item(
            "carif",
            url,
            D,
            "carif/lheo-2026-11-20.xml",
            "d" * 64,
            10,
            FAILED,
            3,
            "connexion perdue <b>",
            errors=["connexion perdue", "connexion refusée", "connexion perdue <b>"],
        ),
        Item("carif", url, D, "carif/lheo-delta-2026-11-20.xml", status=WITHHELD, error="non publié : DQ023"),
        Item("carif", url, D, "carif/x.xml", status=ALREADY, when=when),
        Item("carif", url, D, "carif/y.xml", status=NOT_ATTEMPTED, error="non tenté : connexion refusée"),
    ]
    run = DeliveryRun(D, "batch-1", items)
    assert run.counts() == {SENT: 1, ALREADY: 1, FAILED: 2, WITHHELD: 1} and not run.ok
    lines = summary_lines(run)
    assert lines[0] == f"    carif → {url}"
    assert "lheo-2026-11-19.xml (flux du 19/11/2026) : livré (2,0 Ko, sha256 cccccccccccc…, 2 essais)" in lines[1]
    assert "ÉCHEC après 3 essais : connexion perdue" in lines[2]
    assert "déjà livré le 20/11/2026 05:30" in lines[4]
    subject, body = failure_alert(config.consumers[0], run.failed, run, out_dir="/srv/out", config_source="d.yaml")
    assert subject == "Passerelle : livraison à « carif » en échec (lheo-2026-11-20.xml, y.xml)"
    assert "carif/lheo-2026-11-20.xml (flux du 20/11/2026, 3 essais) : connexion perdue <b>" in body, (
        "text: no escaping"
    )
    assert "    essai 2 : connexion refusée" in body
    assert "passerelle deliver --out /srv/out --date 2026-11-20 --config d.yaml --to carif" in body
