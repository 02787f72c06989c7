"""Deliveries to folders of this machine (``file://``: a local disk or a mounted share) and the
``passerelle deliver`` command, on the files the real daily job published (``published``).

Real conditions: a full disk is a 64 KiB tmpfs mounted in a private mount namespace around
``passerelle deliver`` (skipped where the machine cannot); permission denied is a folder the
delivering user may not write to (as root, which bypasses permissions, the command runs without
the capabilities that let it: ``setpriv``).
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import yaml

from passerelle.cli import main
from passerelle.delivery import deliver, load_config
from passerelle.delivery.deliver import FAILED, NOT_ATTEMPTED, SENT
from passerelle.store import default_store_url, open_store
from passerelle.store.deliveries import DeliveryLog
from tests.integration.runs import DAY1, DAY2, ROOT, subprocess_env
from tests.sshd import can_mount_tmpfs, small_tmpfs

ALL = {
    "carif": ["carif/lheo-{date}.xml", "carif/lheo-delta-{date}.xml"],
    "pole-emploi": ["pole-emploi/offres-{date}.xml"],
    "mission-locale": ["mission-locale/sessions-{date}.csv"],
}


@pytest.fixture(autouse=True)
def _no_alert_channels(monkeypatch):
    for name in ("PASSERELLE_ALERT_SMTP", "PASSERELLE_ALERT_WEBHOOK"):
        monkeypatch.delenv(name, raising=False)


def _config(path: Path, share: Path, consumers: dict | None = None, **settings) -> Path:
    consumers = consumers or ALL
    body = {
        "defaults": {"attempts": 2, "backoff_seconds": 0.01, **settings},
        "consumers": {name: {"feeds": feeds, "target": f"file://{share / name}/"} for name, feeds in consumers.items()},
    }
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    for name in consumers:
        (share / name).mkdir(parents=True, exist_ok=True)
    return path


def _log(out: Path) -> list[dict]:
    with open_store(default_store_url(out)) as st:
        return DeliveryLog(st).between(date(2000, 1, 1), date(2100, 1, 1))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cli(out: Path, day: date, config: Path, *extra: str, wrap=(), script: str = ""):
    """``passerelle deliver`` in its own process (optionally inside ``wrap``, or as the ``"$@"`` of
    a shell ``script``)."""
    cmd = [
        sys.executable,
        "-m",
        "passerelle.cli",
        "deliver",
        "--out",
        str(out),
        "--date",
        day.isoformat(),
        "--config",
        str(config),
        *extra,
    ]
    if script:
        cmd = ["sh", "-c", script, "sh", *cmd]
    return subprocess.run([*wrap, *cmd], cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=300)


def test_every_consumer_gets_its_files_through_the_command(published, tmp_path):
    share = tmp_path / "partage"
    config = _config(tmp_path / "deliveries.yaml", share)
    done = _cli(published, DAY1, config)
    assert done.returncode == 0, done.stderr
    assert "4 livré(s)" in done.stdout and "mission-locale → file://" in done.stdout
    for consumer, feeds in ALL.items():
        for feed in feeds:
            rel = feed.format(date=DAY1.isoformat())
            assert _sha(share / consumer / Path(rel).name) == _sha(published / DAY1.isoformat() / rel)
        assert not [p for p in (share / consumer).iterdir() if p.name.startswith(".")], "no temporary file left"
    again = _cli(published, DAY1, config)
    assert again.returncode == 0 and "0 livré(s), 4 déjà livré(s) avant" in again.stdout
    assert len(_log(published)) == 4

    resend = _cli(published, DAY1, config, "--to", "mission-locale")
    assert resend.returncode == 0 and "1 livré(s)" in resend.stdout
    rows = _log(published)
    assert [(r["consumer"], r["forced"]) for r in rows[4:]] == [("mission-locale", True)]


def test_command_line_mistakes(published, tmp_path):
    config = _config(tmp_path / "deliveries.yaml", tmp_path / "partage")
    assert (
        main(
            ["deliver", "--out", str(published), "--date", DAY1.isoformat(), "--config", str(config), "--to", "inconnu"]
        )
        == 2
    )
    assert main(["deliver", "--out", str(published), "--date", "2026-11-01", "--config", str(config)]) == 1
    elsewhere = tmp_path / "pas-la-sortie"
    assert main(["deliver", "--out", str(elsewhere), "--date", DAY1.isoformat(), "--config", str(config)]) == 1
    assert not elsewhere.exists(), "no empty store created by a wrong --out"
    bad = tmp_path / "bad.yaml"
    bad.write_text("consumers: {carif: {feeds: [carif/lheo-{date}.xml], target: 'file:///tmp/'}}\n", encoding="utf-8")
    assert main(["deliver", "--out", str(published), "--date", DAY1.isoformat(), "--config", str(bad)]) == 2
    assert _log(published) == []


def test_missing_folder_fails_every_file_and_the_next_run_sends_them(published, tmp_path):
    share = tmp_path / "partage"
    config = _config(tmp_path / "deliveries.yaml", share, {"carif": ALL["carif"]})
    shutil.rmtree(share / "carif")  # the share is not mounted
    with open_store(default_store_url(published)) as st:
        run = deliver(load_config(config), st, published, DAY1)
    assert [(i.status, i.attempts) for i in run.items] == [(FAILED, 1), (NOT_ATTEMPTED, 0)]
    assert "n'existe pas" in run.items[0].error
    (alert,) = (published / "alerts").glob("*livraison*")
    assert "« carif »" in alert.read_text(encoding="utf-8")

    (share / "carif").mkdir()
    with open_store(default_store_url(published)) as st:
        later = deliver(load_config(config), st, published, DAY2)
    assert [(i.run_date, i.status) for i in later.items] == [(DAY1, SENT), (DAY1, SENT), (DAY2, SENT), (DAY2, SENT)]


def test_a_file_changed_after_its_publication_is_never_sent(published, tmp_path):
    share = tmp_path / "partage"
    config = _config(tmp_path / "deliveries.yaml", share, {"mission-locale": ALL["mission-locale"]})
    feed = published / DAY1.isoformat() / "mission-locale" / "sessions-2026-11-19.csv"
    feed.write_bytes(feed.read_bytes().replace(b";", b",", 1))
    with open_store(default_store_url(published)) as st:
        run = deliver(load_config(config), st, published, DAY1)
    (item,) = run.items
    assert item.status == FAILED and item.attempts == 1 and "ne correspond plus à ce qui a été publié" in item.error
    assert list((share / "mission-locale").iterdir()) == []


def test_full_disk_on_the_target_folder(published, tmp_path):
    reason = can_mount_tmpfs()
    if reason:
        pytest.skip(reason)
    share = tmp_path / "partage"
    config = _config(
        tmp_path / "deliveries.yaml", share, {"carif": ALL["carif"][:1], "mission-locale": ALL["mission-locale"]}
    )
    # one 64 KiB file system holds both folders: the CSV (~10 KB) fits, the LHEO feed (~100 KB) does not
    folders = f'"{share}/carif" "{share}/mission-locale"'
    done = _cli(
        published,
        DAY1,
        config,
        wrap=small_tmpfs(share, "64k"),
        script=f'mkdir {folders} && "$@"; rc=$?; echo "--- partage :"; ls -A {folders}; exit $rc',
    )
    assert done.returncode == 1, done.stdout + done.stderr
    summary, listing = done.stdout.split("--- partage :")
    assert "plus de place sur le disque" in summary
    assert "sessions-2026-11-19.csv : livré" in summary
    assert "sessions-2026-11-19.csv" in listing
    assert "lheo-2026-11-19.xml" not in listing, "neither the feed nor its temporary file is left"
    rows = _log(published)
    assert [(r["consumer"], r["attempt"], r["outcome"]) for r in rows] == [
        ("carif", 1, "failed"),
        ("carif", 2, "failed"),
        ("mission-locale", 1, "delivered"),
    ]


def test_permission_denied_on_the_target_folder(published, tmp_path):
    share = tmp_path / "partage"
    config = _config(tmp_path / "deliveries.yaml", share, {"pole-emploi": ALL["pole-emploi"]})
    target = share / "pole-emploi"
    wrap: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("setpriv (util-linux) not found: cannot run the command as root without its override")
        # root bypasses permissions: the command runs without the capabilities that let it, on a
        # folder that belongs to someone else
        nobody = pwd.getpwnam("nobody")
        os.chown(target, nobody.pw_uid, nobody.pw_gid)
        os.chmod(target, 0o755)
        wrap = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--"]
    else:
        os.chmod(target, 0o555)
    done = _cli(published, DAY1, config, wrap=wrap)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "écriture refusée" in done.stdout and "Permission denied" in done.stdout
    assert list(target.iterdir()) == []
    assert [(r["attempt"], r["outcome"]) for r in _log(published)] == [(1, "failed")], "not retried"
