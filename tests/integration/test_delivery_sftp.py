"""Deliveries to a real SFTP server: OpenSSH's sshd, started by the tests on a loopback port with
a temporary configuration and host key (``tests/sshd.py``), and the files the real daily job
published for the sample days (``published`` fixture).

Skipped, with the reason, where sshd cannot run (not installed, no privilege separation folder).
"""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import date
from pathlib import Path

import pytest
import yaml

from passerelle.delivery import deliver, load_config
from passerelle.delivery.deliver import ALREADY, FAILED, NOT_ATTEMPTED, SENT, WITHHELD
from passerelle.store import default_store_url, open_store
from passerelle.store.deliveries import DeliveryLog
from tests.integration.runs import DAY1, DAY2, DAY3
from tests.sshd import SftpServer, ThrottledProxy, can_mount_tmpfs, login_user, small_tmpfs, unavailable

REASON = unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

CARIF = ["carif/lheo-{date}.xml", "carif/lheo-delta-{date}.xml"]


@pytest.fixture
def server():
    srv = SftpServer().start()
    try:
        yield srv
    finally:
        srv.remove()


@pytest.fixture(autouse=True)
def _no_alert_channels(monkeypatch):
    for name in ("PASSERELLE_ALERT_SMTP", "PASSERELLE_ALERT_WEBHOOK"):
        monkeypatch.delenv(name, raising=False)


def _config(folder: Path, server: SftpServer, *, url: str | None = None, feeds=None, **settings) -> Path:
    consumer = {
        "feeds": feeds or CARIF,
        "target": url or server.url(),
        "key": str(server.client_key),
        "known_hosts": str(server.known_hosts),
        "attempts": 3,
        "backoff_seconds": 0.05,
        "timeout_seconds": 10,
        **settings,
    }
    path = folder / "deliveries.yaml"
    path.write_text(yaml.safe_dump({"consumers": {"carif": consumer}}), encoding="utf-8")
    return path


def _deliver(config: Path, out: Path, day: date, **kw):
    with open_store(default_store_url(out)) as st:
        return deliver(load_config(config), st, out, day, **kw)


def _log(out: Path) -> list[dict]:
    with open_store(default_store_url(out)) as st:
        return DeliveryLog(st).between(date(2000, 1, 1), date(2100, 1, 1))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _alerts(out: Path) -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted((out / "alerts").glob("*livraison*.txt"))]


def test_good_delivery_then_nothing_twice_then_resend_on_demand(server, published, tmp_path):
    config = _config(tmp_path, server)
    run = _deliver(config, published, DAY1)
    assert run.ok and [i.status for i in run.items] == [SENT, SENT]
    for item in run.items:
        local = published / DAY1.isoformat() / item.file
        remote = server.depot / item.name
        assert _sha(remote) == _sha(local) == item.sha256
        assert remote.stat().st_uid == login_user().pw_uid  # written by the SFTP account, through sshd
    assert sorted(p.name for p in server.depot.iterdir()) == ["lheo-2026-11-19.xml", "lheo-delta-2026-11-19.xml"]
    rows = _log(published)
    assert [(r["file"], r["outcome"], r["attempt"], r["forced"]) for r in rows] == [
        ("carif/lheo-2026-11-19.xml", "delivered", 1, False),
        ("carif/lheo-delta-2026-11-19.xml", "delivered", 1, False),
    ]
    for r in rows:
        assert r["bytes"] == (published / DAY1.isoformat() / r["file"]).stat().st_size
        assert r["started_at"] <= r["finished_at"] and r["target"] == server.url() and r["error"] is None
    assert _alerts(published) == []

    mtimes = {p.name: p.stat().st_mtime_ns for p in server.depot.iterdir()}
    again = _deliver(config, published, DAY1)
    assert [i.status for i in again.items] == [ALREADY, ALREADY] and again.ok
    assert len(_log(published)) == 2, "a file already delivered is not sent again"
    assert {p.name: p.stat().st_mtime_ns for p in server.depot.iterdir()} == mtimes

    time.sleep(0.01)
    forced = _deliver(config, published, DAY1, only="carif")
    assert [i.status for i in forced.items] == [SENT, SENT]
    assert [r["forced"] for r in _log(published)] == [False, False, True, True]
    assert all(p.stat().st_mtime_ns > mtimes[p.name] for p in server.depot.iterdir())


def test_wrong_or_unknown_host_key_is_refused_before_anything_is_sent(server, published, tmp_path):
    other = tmp_path / "other_host_key"
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    server.write_known_hosts(server.port, " ".join(other.with_suffix(".pub").read_text().split()[:2]))
    config = _config(tmp_path, server)
    run = _deliver(config, published, DAY1)
    first, second = run.items
    assert first.status == FAILED and first.attempts == 1, "a refused server key is not retried"
    assert "n'est pas celle de" in first.error and "SHA256:" in first.error
    assert second.status == NOT_ATTEMPTED and second.error.startswith("non tenté")
    assert list(server.depot.iterdir()) == []
    assert "Accepted publickey" not in server.log(), "the client stopped before authenticating"
    (alert,) = _alerts(published)
    assert "carif" in alert and "lheo-2026-11-19.xml" in alert and "n'est pas celle de" in alert

    server.write_known_hosts(server.port + 1)  # the right key, for another server: this one is unknown
    unknown = _deliver(config, published, DAY2)
    assert unknown.items[0].status == FAILED and "absente de" in unknown.items[0].error
    assert list(server.depot.iterdir()) == []


def test_server_going_away_mid_upload_then_delivered_by_the_next_run(published, tmp_path):
    server = SftpServer().start()
    proxy = ThrottledProxy(server.port, rate=48 * 1024)  # ~100 KB feeds: about two seconds each
    try:
        server.write_known_hosts(proxy.port)
        config = _config(tmp_path, server, url=server.url(port=proxy.port), attempts=3, backoff_seconds=0.05)
        part = server.depot / ".lheo-2026-11-19.xml.part"
        killed = threading.Event()

        def kill_when_uploading() -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if part.exists() and part.stat().st_size > 0:
                    server.kill()
                    killed.set()
                    return
                time.sleep(0.005)

        watcher = threading.Thread(target=kill_when_uploading)
        watcher.start()
        waits: list[float] = []

        def sleep(seconds: float) -> None:
            waits.append(seconds)
            time.sleep(seconds)

        run = _deliver(config, published, DAY1, sleep=sleep)
        watcher.join()
        assert killed.is_set()
        full, delta = run.items
        assert full.status == FAILED and full.attempts == 3
        assert waits == [0.05, 0.1], "retried with a doubling backoff"
        assert delta.status == NOT_ATTEMPTED
        rows = _log(published)
        assert [(r["attempt"], r["outcome"]) for r in rows] == [
            (1, "failed"),
            (2, "failed"),
            (3, "failed"),
            (0, "failed"),
        ]
        assert "perdue pendant l'envoi" in rows[0]["error"]
        assert "a fermé la connexion sans répondre" in rows[1]["error"]  # the server is gone
        local = published / DAY1.isoformat() / full.file
        assert not (server.depot / full.name).exists(), "no partial file under the final name"
        assert part.stat().st_size < local.stat().st_size  # what was cut is only under the temporary name
        (alert,) = _alerts(published)
        assert "« carif »" in alert and "carif/lheo-2026-11-19.xml" in alert and "perdue" in alert

        server.start()  # back, same port and key: the next run sends what is missing, oldest first
        later = _deliver(config, published, DAY2)
        assert [(i.run_date, i.name, i.status, i.catch_up) for i in later.items] == [
            (DAY1, "lheo-2026-11-19.xml", SENT, True),
            (DAY1, "lheo-delta-2026-11-19.xml", SENT, True),
            (DAY2, "lheo-2026-11-20.xml", SENT, False),
            (DAY2, "lheo-delta-2026-11-20.xml", SENT, False),
        ]
        assert sorted(p.name for p in server.depot.iterdir()) == [
            "lheo-2026-11-19.xml",
            "lheo-2026-11-20.xml",
            "lheo-delta-2026-11-19.xml",
            "lheo-delta-2026-11-20.xml",
        ]
        for item in later.items:
            assert _sha(server.depot / item.name) == _sha(published / item.run_date.isoformat() / item.file)
    finally:
        proxy.close()
        server.remove()


def test_permission_denied_on_the_target_is_not_retried(server, published, tmp_path):
    import os

    closed = server.depot / "ferme"
    closed.mkdir()
    if os.geteuid() == 0:
        os.chown(closed, 0, 0)  # root's folder: the SFTP account (nobody) may not write there
        os.chmod(closed, 0o755)
    else:
        os.chmod(closed, 0o555)
    config = _config(tmp_path, server, url=server.url(closed))
    run = _deliver(config, published, DAY1)
    assert [(i.status, i.attempts) for i in run.items] == [(FAILED, 1), (FAILED, 1)]
    assert all("écriture refusée" in i.error for i in run.items)
    assert list(closed.iterdir()) == []
    assert len(_alerts(published)) == 1


def test_full_disk_on_the_server(published, tmp_path):
    import os

    if os.geteuid() != 0:
        pytest.skip("a full disk for sshd needs a tmpfs mounted in its mount namespace (root)")
    reason = can_mount_tmpfs()
    if reason:
        pytest.skip(reason)
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="passerelle-sshd-full-"))
    # sshd sees a 64 KiB file system on its depot: the LHEO feeds (~100 KB) do not fit, the
    # Mission Locale CSV (~10 KB) does
    server = SftpServer(base, wrap=small_tmpfs(base / "depot", "64k", owner=login_user().pw_uid)).start()
    try:
        path = tmp_path / "deliveries.yaml"
        common = {
            "key": str(server.client_key),
            "known_hosts": str(server.known_hosts),
            "attempts": 2,
            "backoff_seconds": 0.05,
            "timeout_seconds": 10,
            "target": server.url(),
        }
        path.write_text(
            yaml.safe_dump(
                {
                    "consumers": {
                        "carif": {"feeds": CARIF[:1], **common},
                        "mission-locale": {"feeds": ["mission-locale/sessions-{date}.csv"], **common},
                    }
                }
            ),
            encoding="utf-8",
        )
        run = _deliver(path, published, DAY1)
        full, csv = run.items
        assert full.status == FAILED and full.attempts == 2, "a full disk may be freed: retried"
        assert "disque plein" in full.error
        assert csv.status == SENT
        import paramiko

        client = paramiko.SSHClient()
        client.load_host_keys(str(server.known_hosts))
        client.connect(
            "127.0.0.1",
            port=server.port,
            username=server.user.pw_name,
            key_filename=str(server.client_key),
            allow_agent=False,
            look_for_keys=False,
        )
        try:
            listing = sorted(client.open_sftp().listdir(str(server.depot)))
        finally:
            client.close()
        assert listing == ["sessions-2026-11-19.csv"], "no partial feed left, under any name"
        assert not any(base.joinpath("depot").iterdir()), "the tmpfs was sshd's only"
    finally:
        server.remove()


def test_withheld_feed_is_not_sent(server, published, tmp_path):
    config = _config(tmp_path, server)
    run = _deliver(config, published, DAY3)
    full, delta = run.items
    assert full.status == SENT and delta.status == WITHHELD
    assert "Aucun mouvement" in delta.error
    assert sorted(p.name for p in server.depot.iterdir()) == ["lheo-2026-11-21.xml"]
    rows = _log(published)
    assert [(r["file"], r["outcome"]) for r in rows] == [
        ("carif/lheo-2026-11-21.xml", "delivered"),
        ("carif/lheo-delta-2026-11-21.xml", "withheld"),
    ]
    assert run.ok and _alerts(published) == []
    _deliver(config, published, DAY3)
    assert len(_log(published)) == 2, "the withheld feed is recorded once"
