"""The store, on SQLite and (when PASSERELLE_TEST_POSTGRES_URL is set) PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from passerelle.sources.base import ExtractRead
from passerelle.store import Store, StoreError, StoreLockedError, default_store_url, open_store
from passerelle.store import models as m
from passerelle.store.db import current_revision, downgrade, head_revision, upgrade, write_transaction

D0 = date(2026, 11, 18)
D1 = date(2026, 11, 19)
D2 = date(2026, 11, 20)
D3 = date(2026, 11, 21)
UTC = UTC

FEEDS_D1 = [
    {"feed": "carif", "file": "2026-11-19/carif/lheo-2026-11-19.xml", "sha256": "a" * 64, "records": 3},
    {"feed": "carif_delta", "file": "2026-11-19/carif/lheo-delta-2026-11-19.xml", "sha256": "b" * 64, "records": 3},
    {"feed": "pole_emploi", "file": "2026-11-19/pole-emploi/offres-2026-11-19.xml", "sha256": "c" * 64, "records": 3},
    {
        "feed": "mission_locale",
        "file": "2026-11-19/mission-locale/sessions-2026-11-19.csv",
        "sha256": "d" * 64,
        "records": 3,
    },
]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def versions(items: list[tuple[str, str]]) -> pd.DataFrame:
    """(session_key, payload) -> versions frame with the payload's sha256."""
    return pd.DataFrame(
        {
            "session_key": [k for k, _ in items],
            "content_hash": [sha(p) for _, p in items],
            "payload": [p for _, p in items],
        }
    )


def state(rows: list[tuple[str, str, str, date | None]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["session_key", "content_hash", "status", "since_date"])


def tables(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names())


def count(store: Store, table: str) -> int:
    return store.counts()[table]


def model_diff(engine: sa.Engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), m.metadata)


# --- migrations ----------------------------------------------------------------------------------


def test_migrations_create_every_table(store):
    assert tables(store.engine) == set(m.TABLE_NAMES) | {"alembic_version"}
    assert set(m.TABLE_NAMES) == {
        "runs",
        "inputs_read",
        "session_versions",
        "entity_versions",
        "publications",
        "published_sessions",
        "published_entities",
        "run_locks",
        "deliveries",
        "finding_states",
        "notifications",
    }
    assert store.schema_revision() == head_revision() == "0006"
    with store.engine.connect() as conn:
        inspector = sa.inspect(conn)
        assert {c["name"] for c in inspector.get_columns("session_versions")} == {
            "session_key",
            "content_hash",
            "payload",
            "first_seen_run_id",
        }
        assert inspector.get_pk_constraint("session_versions")["constrained_columns"] == ["session_key", "content_hash"]
        assert inspector.get_pk_constraint("published_sessions")["constrained_columns"] == ["run_date", "session_key"]
        uniques = [u["column_names"] for u in inspector.get_unique_constraints("publications")]
        assert ["run_date", "feed"] in uniques
        fks = inspector.get_foreign_keys("publications")
        assert [(fk["referred_table"], fk["constrained_columns"]) for fk in fks] == [("runs", ["run_id"])]
        for name, table in m.metadata.tables.items():
            checks = {c["name"] for c in inspector.get_check_constraints(name)}
            assert checks == {c.name for c in table.constraints if isinstance(c, sa.CheckConstraint)}, name
    # the models describe exactly what the migrations build
    assert model_diff(store.engine) == []


def test_check_constraints_refuse_unknown_codes(store):
    started = datetime(2026, 11, 19, 6, 0, tzinfo=UTC)
    with pytest.raises(sa.exc.IntegrityError):
        with store.engine.begin() as conn:
            conn.execute(sa.insert(m.runs), {"run_id": "r", "run_date": D1, "started_at": started, "status": "done"})
    store.begin_run("r1", D1)
    with pytest.raises(sa.exc.IntegrityError):
        with store.engine.begin() as conn:
            conn.execute(
                sa.insert(m.publications),
                {"run_id": "r1", "run_date": D1, "feed": "carif_full", "file": "f", "sha256": "x", "records": 0},
            )
    with pytest.raises(sa.exc.IntegrityError):  # foreign keys are enforced on SQLite too
        with store.engine.begin() as conn:
            conn.execute(sa.insert(m.inputs_read), {"run_id": "ghost", "file": "f"})


def test_migrations_are_transactional(store):
    """A migration that fails half-way leaves the schema as it was (SQLite included)."""
    store.begin_run("r1", D1)
    with pytest.raises(RuntimeError, match="stop"):
        with write_transaction(store.engine) as conn:
            downgrade(conn, "base")
            assert sa.inspect(conn).get_table_names() == ["alembic_version"]
            raise RuntimeError("stop")
    assert tables(store.engine) == set(m.TABLE_NAMES) | {"alembic_version"}
    assert store.schema_revision() == head_revision()
    assert store.get_run("r1")["status"] == "running"


def test_open_store_twice_is_idempotent(db_url):
    first = open_store(db_url)
    first.begin_run("r1", D1, "/inbox", "/out")
    first.save_session_versions("r1", versions([("eos:1", '{"a": 1}')]))
    before = first.counts()
    first.dispose()

    second = open_store(db_url)
    try:
        assert second.schema_revision() == head_revision()
        assert second.counts() == before
        assert second.get_run("r1")["status"] == "running"
    finally:
        second.dispose()


def test_downgrade_base_then_upgrade_head(store):
    store.begin_run("r1", D1)
    with write_transaction(store.engine) as conn:
        downgrade(conn, "base")
    assert tables(store.engine) == {"alembic_version"}
    with store.engine.connect() as conn:
        assert current_revision(conn) is None

    with write_transaction(store.engine) as conn:
        upgrade(conn, "head")
    assert tables(store.engine) == set(m.TABLE_NAMES) | {"alembic_version"}
    assert store.schema_revision() == head_revision()
    assert store.counts() == dict.fromkeys(m.TABLE_NAMES, 0)
    assert model_diff(store.engine) == []


def test_two_runs_opening_a_fresh_database_at_once(db_url):
    """Both migrate-or-wait; neither fails on tables the other just created."""
    from concurrent.futures import ThreadPoolExecutor

    def open_and_close(_):
        with open_store(db_url) as opened:
            return opened.schema_revision()

    with ThreadPoolExecutor(max_workers=3) as pool:
        assert list(pool.map(open_and_close, range(3))) == [head_revision()] * 3


def test_upgrade_from_0001_keeps_the_data(store):
    store.begin_run("r1", D1)
    store.save_session_versions("r1", versions([("eos:1", "{}")]))
    with write_transaction(store.engine) as conn:
        downgrade(conn, "0001")
    assert "entity_versions" not in tables(store.engine)
    assert store.schema_revision() == "0001"
    store.dispose()
    with open_store(store.engine.url.render_as_string(hide_password=False)) as reopened:
        assert reopened.schema_revision() == head_revision()
        assert "entity_versions" in tables(reopened.engine)
        assert reopened.known_session_keys() == {"eos:1"}
        assert reopened.get_run("r1")["run_date"] == D1


def test_open_store_refuses_a_database_from_a_newer_version(db_url):
    store = open_store(db_url)
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    store.dispose()
    with pytest.raises(StoreError, match="version plus récente"):
        open_store(db_url)


def test_open_store_refuses_an_unsupported_database():
    with pytest.raises(StoreError, match="non prise en charge"):
        open_store("mysql+pymysql://user:secret@localhost/passerelle")


def test_open_store_reports_an_unopenable_sqlite_file(tmp_path):
    with pytest.raises(StoreError, match="Impossible d'ouvrir la base"):
        open_store(f"sqlite:///{tmp_path}")  # a folder, not a file


def test_in_memory_sqlite_keeps_its_data_between_calls():
    with open_store("sqlite://") as store:
        store.begin_run("r1", D1)
        assert store.get_run("r1")["run_date"] == D1


def test_sqlite_file_folder_is_created(tmp_path):
    with open_store(f"sqlite:///{tmp_path / 'out' / 'db' / 'passerelle.sqlite3'}") as store:
        store.begin_run("r1", D1)
    assert (tmp_path / "out" / "db" / "passerelle.sqlite3").is_file()


def test_default_store_url_is_an_sqlite_file_under_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url = default_store_url("out")
    assert url == f"sqlite:///{tmp_path / 'out' / 'passerelle.sqlite3'}"
    with open_store(url) as store:
        store.begin_run("r1", D1)
    assert (tmp_path / "out" / "passerelle.sqlite3").is_file()


# --- runs and inputs ------------------------------------------------------------------------------


def test_run_lifecycle_and_summary_round_trip(store):
    started = datetime(2026, 11, 19, 6, 0, tzinfo=timezone(timedelta(hours=1)))
    store.begin_run("r1", "2026-11-19", "/données/inbox", "/out", started_at=started)
    run = store.get_run("r1")
    assert run["status"] == "running" and run["run_date"] == D1 and run["inbox"] == "/données/inbox"
    assert run["started_at"] == datetime(2026, 11, 19, 5, 0, tzinfo=UTC)
    assert run["started_at"].tzinfo is not None and run["finished_at"] is None

    summary = {
        "sessions": {"read": np.int64(12), "published": 10, "quarantined": 1, "not_publishable": 1, "cancelled": 0},
        "findings": {"error": 2, "warning": 1, "info": 0, "by_rule": {"DQ001": 2, "DQ021": 1}},
        "note": "Été « chargé » — 😀",
    }
    store.finish_run("r1", "succeeded", summary)
    run = store.get_run("r1")
    assert run["status"] == "succeeded"
    assert run["summary"]["sessions"]["read"] == 12
    assert run["summary"]["findings"]["by_rule"] == {"DQ001": 2, "DQ021": 1}
    assert run["summary"]["note"] == "Été « chargé » — 😀"
    assert run["finished_at"].tzinfo is not None
    assert run["finished_at"] >= run["started_at"]


def test_run_errors(store):
    store.begin_run("r1", D1)
    with pytest.raises(StoreError, match="déjà enregistrée"):
        store.begin_run("r1", D1)
    with pytest.raises(StoreError, match="inconnue"):
        store.finish_run("nope", "succeeded", {})
    with pytest.raises(ValueError, match="succeeded"):
        store.finish_run("r1", "running", {})
    with pytest.raises(ValueError, match="timezone"):
        store.begin_run("r2", D1, started_at=datetime(2026, 11, 19, 6, 0))
    with pytest.raises(ValueError, match="date"):
        store.begin_run("r3", "19/11/2026")
    assert store.get_run("r2") is None and store.get_run("r3") is None


def test_record_inputs_from_dicts_and_extract_reads(store):
    store.begin_run("r1", D1)
    read = ExtractRead(
        source="eos",
        kind="sessions",
        file="eos_sessions_20261119.csv",
        sha256="e" * 64,
        encoding="cp1252",
        extract_date=D1,
        rows_read={"": 42},
    )
    store.record_inputs(
        "r1",
        [
            {
                "file": "sam_offre_20261119.xml",
                "source": "sam",
                "kind": "offer",
                "sha256": "f" * 64,
                "rows": 7,
                "encoding": "utf-8",
            },
            read,
            ExtractRead(source="sigma", kind="workbook", file=None),
        ],
    )
    rows = store.inputs_read("r1")
    assert [r["file"] for r in rows] == ["sam_offre_20261119.xml", "eos_sessions_20261119.csv", None]
    assert rows[0]["rows"] == 7 and rows[0]["ok"] is None
    assert rows[1] == {
        "source": "eos",
        "kind": "sessions",
        "file": "eos_sessions_20261119.csv",
        "sha256": "e" * 64,
        "rows": 42,
        "encoding": "cp1252",
        "ok": True,
        "extract_date": D1,
    }
    # recording again for the same run replaces, never duplicates
    store.record_inputs("r1", [read])
    assert [r["file"] for r in store.inputs_read("r1")] == ["eos_sessions_20261119.csv"]


def test_run_history_keeps_latest_succeeded_run_per_date(store):
    def run(run_id, day, status, finished_hour):
        store.begin_run(
            run_id, day, started_at=datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=finished_hour - 1)
        )
        store.finish_run(
            run_id,
            status,
            {"run": run_id},
            finished_at=datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=finished_hour),
        )

    run("d0", D0, "succeeded", 6)
    run("d1-first", D1, "succeeded", 6)
    run("d1-rerun", D1, "succeeded", 12)
    run("d1-failed", D1, "failed", 13)
    run("d2-failed", D2, "failed", 6)
    run("d3", D3, "succeeded", 6)
    store.begin_run("d3-running", D3)

    history = store.run_history()
    assert [(h["run_date"], h["run_id"]) for h in history] == [(D3, "d3"), (D1, "d1-rerun"), (D0, "d0")]
    assert all(h["status"] == "succeeded" for h in history)
    assert history[1]["summary"] == {"run": "d1-rerun"}
    assert [h["run_id"] for h in store.run_history(limit=2)] == ["d3", "d1-rerun"]


# --- session versions ------------------------------------------------------------------------------


def test_versions_are_deduplicated(store):
    store.begin_run("r1", D1)
    store.begin_run("r2", D2)
    payload = '{"session_key": "eos:1", "places": 12}'
    assert store.save_session_versions("r1", versions([("eos:1", payload), ("eos:1", payload)])) == 1
    assert count(store, "session_versions") == 1
    assert store.save_session_versions("r2", versions([("eos:1", payload)])) == 0
    assert count(store, "session_versions") == 1
    # a new content for the same session is a second version; the first keeps its first run
    assert store.save_session_versions("r2", versions([("eos:1", payload), ("eos:1", payload + " ")])) == 1
    assert count(store, "session_versions") == 2
    with store.engine.connect() as conn:
        first_seen = dict(
            conn.execute(sa.select(m.session_versions.c.content_hash, m.session_versions.c.first_seen_run_id)).all()
        )
    assert first_seen == {sha(payload): "r1", sha(payload + " "): "r2"}
    assert store.save_session_versions("r2", versions([])) == 0


def test_bulk_versions_20k(store):
    store.begin_run("r1", D1)
    store.begin_run("r2", D2)
    n = 20_000
    items = [
        (f"eos:{i:06d}", json.dumps({"id": i, "intitulé": f"Session n°{i}"}, ensure_ascii=False)) for i in range(n)
    ]
    frame = versions(items)
    frame = frame.astype({c: pd.ArrowDtype(pa.string()) for c in frame.columns})  # Arrow-backed, as the run has it
    assert store.save_session_versions("r1", frame) == n
    assert count(store, "session_versions") == n

    # half already stored, 5000 new (changed content or new sessions)
    changed = [(f"eos:{i:06d}", json.dumps({"id": i, "v": 2})) for i in range(0, 2_500)]
    new = [(f"eos:{i:06d}", json.dumps({"id": i})) for i in range(n, n + 2_500)]
    assert store.save_session_versions("r2", versions(items[:10_000] + changed + new)) == 5_000
    assert count(store, "session_versions") == n + 5_000

    wanted = versions(items[::-1] + changed[:10] + [("eos:absent", "{}")])[["session_key", "content_hash"]]
    got = store.session_payloads(wanted)
    assert list(got.columns) == ["session_key", "content_hash", "payload"]
    assert len(got) == n + 10  # the absent pair is not there
    assert got["session_key"].iloc[0] == "eos:019999"  # order of the request
    # every payload is the one its hash was computed from
    assert all(sha(p) == h for h, p in zip(got["content_hash"], got["payload"]))
    # a key has two versions now: each pair brings back its own payload
    by_pair = {(k, h): p for k, h, p in got.itertuples(index=False)}
    assert by_pair[("eos:000000", sha(items[0][1]))] == items[0][1]
    assert by_pair[("eos:000000", sha(changed[0][1]))] == changed[0][1]
    assert len(store.known_session_keys()) == n + 2_500


def test_payload_round_trip_keeps_accents_and_json(store):
    store.begin_run("r1", D1)
    record = {
        "session": {
            "session_key": "sigma:23P0000000_TEST_1:01:01",
            "intitule": "Cuisinière — « Été » ½ 😀",
            "adresse": "12, rue de l'Église\nBâtiment B",
            "places": 12,
            "annulee": False,
            "debut": "2026-12-01",
        },
        "events": [
            {
                "type": "Information collective",
                "date": "2026-11-25",
                "heure": "09:30",
                "lieu": 'Salle "Zénith" \\ 2e étage',
            }
        ],
    }
    payload = json.dumps(record, ensure_ascii=False, sort_keys=True)
    store.save_session_versions("r1", versions([("sigma:23P0000000_TEST_1:01:01", payload)]))
    got = store.session_payloads(versions([("sigma:23P0000000_TEST_1:01:01", payload)]))
    assert got["payload"].iloc[0] == payload
    assert json.loads(got["payload"].iloc[0]) == record


def test_bad_versions_are_refused_and_nothing_is_written(store):
    store.begin_run("r1", D1)
    good = versions([("eos:1", "{}")])
    with pytest.raises(ValueError, match="missing column"):
        store.save_session_versions("r1", good.drop(columns="payload"))
    with pytest.raises(ValueError, match="sha256"):
        store.save_session_versions("r1", good.assign(content_hash="not-a-hash"))
    with pytest.raises(ValueError, match="sha256"):
        store.save_session_versions("r1", good.assign(content_hash=sha("{}").upper()))
    with pytest.raises(ValueError, match="empty value"):
        store.save_session_versions("r1", good.assign(session_key=[None]))
    with pytest.raises(ValueError, match="text"):
        store.save_session_versions("r1", good.assign(payload=[{"a": 1}]))
    assert count(store, "session_versions") == 0
    with pytest.raises(StoreError, match="no-such-run est inconnue"):
        store.save_session_versions("no-such-run", good)
    assert count(store, "session_versions") == 0


def test_bulk_load_errors_come_out_as_sqlalchemy_errors(store):
    """The foreign key still guards the raw bulk path (COPY / executemany)."""
    from passerelle.store import bulk

    store.begin_run("r1", D1)
    with pytest.raises(sa.exc.IntegrityError):
        with write_transaction(store.engine) as conn:
            bulk.load(
                conn,
                "session_versions",
                ["session_key", "content_hash", "payload", "first_seen_run_id"],
                [pa.array(["eos:1"]), pa.array([sha("{}")]), pa.array(["{}"]), pa.array(["ghost"])],
                skip_conflicts_on=["session_key", "content_hash"],
            )
    assert count(store, "session_versions") == 0


def test_new_version_pairs(store):
    store.begin_run("r1", D1)
    store.save_session_versions("r1", versions([("eos:1", "{}"), ("eos:2", "{}")]))
    today = versions([("eos:3", "{}"), ("eos:1", "{}"), ("eos:2", '{"v": 2}'), ("eos:3", "{}")])
    new = store.new_version_pairs(today[["session_key", "content_hash"]])
    assert list(new.columns) == ["session_key", "content_hash"]
    assert new.values.tolist() == [["eos:3", sha("{}")], ["eos:2", sha('{"v": 2}')]]
    assert store.new_version_pairs(today.iloc[:0]).empty
    assert count(store, "session_versions") == 2  # only a question: nothing written


def test_entity_versions_latest_payload(store):
    def entities(items):
        return pd.DataFrame(
            {"key": [k for k, _ in items], "content_hash": [sha(p) for _, p in items], "payload": [p for _, p in items]}
        )

    store.begin_run("r1", D1)
    store.begin_run("r2", D2)
    store.begin_run("r3", D3)
    v1, v2 = '{"title": "Cuisine"}', '{"title": "Cuisine « été »"}'
    assert store.save_entity_versions("r1", "formation", entities([("sam:1", v1), ("sam:2", v1), ("sam:1", v1)])) == 2
    assert store.save_entity_versions("r2", "formation", entities([("sam:1", v2)])) == 1
    latest = store.latest_entity_payloads("formation", ["sam:2", "sam:1", "sam:9"])
    assert latest.to_dict() == {"sam:2": v1, "sam:1": v2}
    assert list(latest) == [v1, v2]  # iterates over payloads, in the order asked
    # back to the first content on D3: that version is the latest again (no new row)
    assert store.save_entity_versions("r3", "formation", entities([("sam:1", v1)])) == 0
    assert store.latest_entity_payloads("formation", ["sam:1"]).to_dict() == {"sam:1": v1}
    # a re-run of an older date does not make its versions "latest"
    store.begin_run("r2-rerun", D2)
    assert store.save_entity_versions("r2-rerun", "formation", entities([("sam:1", v2)])) == 0
    assert store.latest_entity_payloads("formation", ["sam:1"]).to_dict() == {"sam:1": v1}
    # kinds are separate
    assert store.latest_entity_payloads("action", ["sam:1"]).empty
    assert store.latest_entity_payloads("action", []).empty
    with pytest.raises(ValueError, match="kind"):
        store.save_entity_versions("r1", "session", entities([("sam:1", v1)]))
    with pytest.raises(ValueError, match="sha256"):
        store.save_entity_versions("r1", "action", entities([("sam:1", v1)]).assign(content_hash="x"))
    assert count(store, "entity_versions") == 3


def test_known_session_keys_before_a_date(store):
    store.begin_run("r1", D1)
    store.begin_run("r2", D2)
    store.save_session_versions("r1", versions([("eos:1", "{}"), ("eos:2", "{}")]))
    store.save_session_versions("r2", versions([("eos:2", '{"v": 2}'), ("eos:3", "{}")]))
    assert store.known_session_keys() == {"eos:1", "eos:2", "eos:3"}
    assert store.known_session_keys(before=D2) == {"eos:1", "eos:2"}
    assert store.known_session_keys(before="2026-11-19") == set()


# --- publications ------------------------------------------------------------------------------------


def test_publication_of_a_date_is_replaced_not_duplicated(store):
    store.begin_run("r1", D1)
    store.begin_run("r1-rerun", D1)
    store.begin_run("r0", D0)
    store.record_publication("r0", D0, FEEDS_D1[:1], state([("eos:9", sha("9"), "created", D0)]))
    store.record_publication(
        "r1",
        D1,
        FEEDS_D1,
        state(
            [
                ("eos:1", sha("1"), "created", D1),
                ("eos:2", sha("2"), "created", D1),
                ("eos:3", sha("3"), "created", D1),
            ]
        ),
    )
    assert count(store, "publications") == 5 and count(store, "published_sessions") == 4

    second = state([("eos:1", sha("1b"), "updated", D1), ("eos:3", sha("3"), "cancelled", D1)])
    store.record_publication("r1-rerun", D1, FEEDS_D1[:2], second)
    pubs = store.publications(D1)
    assert [(p["feed"], p["run_id"]) for p in pubs] == [("carif", "r1-rerun"), ("carif_delta", "r1-rerun")]
    got = store.published_state(D1)
    assert got[["session_key", "content_hash", "status"]].values.tolist() == [
        ["eos:1", sha("1b"), "updated"],
        ["eos:3", sha("3"), "cancelled"],
    ]
    # the other date is untouched
    assert store.published_state(D0)["session_key"].tolist() == ["eos:9"]
    assert [p["run_id"] for p in store.publications(D0)] == ["r0"]
    assert count(store, "publications") == 3 and count(store, "published_sessions") == 3


def test_publication_is_one_transaction(store, monkeypatch):
    from passerelle.store import bulk

    store.begin_run("r1", D1)
    store.begin_run("r2", D1)
    store.record_publication("r1", D1, FEEDS_D1, state([("eos:1", sha("1"), "created", D1)]))
    with pytest.raises(StoreError, match="ghost est inconnue"):
        store.record_publication("ghost", D1, FEEDS_D1, state([("eos:2", sha("2"), "created", D1)]))

    # a failure after the old rows were deleted and the feeds inserted: everything is rolled back
    def broken_load(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(bulk, "load", broken_load)
    with pytest.raises(RuntimeError, match="disk full"):
        store.record_publication("r2", D1, FEEDS_D1[:1], state([("eos:2", sha("2"), "created", D1)]))
    monkeypatch.undo()
    assert [p["run_id"] for p in store.publications(D1)] == ["r1"] * 4
    assert store.published_state(D1)["session_key"].tolist() == ["eos:1"]
    assert len(store.publications(D1)) == 4


def test_bad_publications_are_refused_before_anything_changes(store):
    store.begin_run("r1", D1)
    store.record_publication("r1", D1, FEEDS_D1, state([("eos:1", sha("1"), "created", D1)]))
    with pytest.raises(ValueError, match="unknown status"):
        store.record_publication("r1", D1, FEEDS_D1, state([("eos:1", sha("1"), "published", D1)]))
    with pytest.raises(ValueError, match="unknown feed"):
        store.record_publication(
            "r1", D1, [{"feed": "carif_full", "file": "x", "sha256": "x", "records": 1}], state([])
        )
    with pytest.raises(ValueError, match="given twice"):
        store.record_publication("r1", D1, FEEDS_D1, state([("eos:1", sha("1"), "created", D1)] * 2))
    with pytest.raises(ValueError, match="given twice"):
        store.record_publication("r1", D1, FEEDS_D1[:1] * 2, state([]))
    with pytest.raises(ValueError, match="missing column"):
        store.record_publication("r1", D1, FEEDS_D1, state([]).drop(columns="since_date"))
    assert store.published_state(D1)["status"].tolist() == ["created"]
    assert len(store.publications(D1)) == 4


def test_last_publication_date(store):
    for run_id, day in [("r0", D0), ("r1", D1), ("r2", D2), ("r3", D3)]:
        store.begin_run(run_id, day)
    assert store.last_publication_date(D2) is None
    store.record_publication("r0", D0, FEEDS_D1[:1], state([]))
    store.record_publication("r1", D1, FEEDS_D1, state([("eos:1", sha("1"), "created", D1)]))
    store.record_publication("r3", D3, FEEDS_D1, state([]))
    # r2 ran on D2 but published nothing (e.g. every feed blocked by DQ023)
    assert store.last_publication_date(D2) == D1
    assert store.last_publication_date(D3) == D1  # D2 published nothing
    assert store.last_publication_date("2026-11-22") == D3
    assert store.last_publication_date(D1) == D0  # strictly before
    assert store.last_publication_date(D0) is None
    last, previous = store.previous_publication(D2)
    assert last == D1 and previous["session_key"].tolist() == ["eos:1"]
    assert store.publication_counts(D1) == {"carif": 3, "carif_delta": 3, "pole_emploi": 3, "mission_locale": 3}
    assert store.publication_counts(D2) == {} and store.publication_counts(None) == {}


def test_published_state_types_and_since_dates(store):
    store.begin_run("r1", D1)
    frame = state(
        [
            ("eos:2", sha("2"), "kept", D0),
            ("eos:1", sha("1"), "vanished", None),
            ("eos:3", sha("3"), "unchanged", D1),
        ]
    )
    frame["since_date"] = frame["since_date"].astype(pd.ArrowDtype(pa.date32()))
    store.record_publication("r1", D1, FEEDS_D1, frame)
    got = store.published_state(D1)
    assert list(got.columns) == ["session_key", "content_hash", "status", "since_date", "changed_date", "vanished_date"]
    assert got["since_date"].dtype == pd.ArrowDtype(pa.date32())
    assert got["changed_date"].isna().all() and got["vanished_date"].isna().all()  # not given: null
    assert got["session_key"].dtype == pd.ArrowDtype(pa.string())
    assert got["session_key"].tolist() == ["eos:1", "eos:2", "eos:3"]  # sorted by key
    assert got["since_date"].iloc[1] == D0 and pd.isna(got["since_date"].iloc[0])
    for empty in (store.published_state(D2), store.published_state(None)):
        assert empty.empty and list(empty.columns) == list(got.columns)
        assert empty["since_date"].dtype == pd.ArrowDtype(pa.date32())
    # since_date given as datetime64 is accepted too
    store.begin_run("r2", D2)
    store.record_publication(
        "r2", D2, [], state([("eos:1", sha("1"), "unchanged", D1)]).astype({"since_date": "datetime64[ns]"})
    )
    assert store.published_state(D2)["since_date"].tolist() == [D1]


def test_publication_dates_and_entities_round_trip(store):
    store.begin_run("r1", D1)
    frame = state([("eos:1", sha("1"), "vanished", D0), ("eos:2", sha("2"), "updated", D0)])
    frame["changed_date"] = [D0, D1]
    frame["vanished_date"] = [D1, None]
    entities = pd.DataFrame(
        {
            "kind": ["formation", "action"],
            "entity_key": ["sam:1", "eos:a"],
            "content_hash": [sha("f"), sha("a")],
            "since_date": [D0, D0],
            "changed_date": [D1, D0],
        }
    )
    store.record_publication("r1", D1, FEEDS_D1, frame, entities)
    got = store.published_state(D1).set_index("session_key")
    assert got.loc["eos:1", "changed_date"] == D0 and got.loc["eos:1", "vanished_date"] == D1
    assert got.loc["eos:2", "changed_date"] == D1 and pd.isna(got.loc["eos:2", "vanished_date"])
    ents = store.published_entities(D1)
    assert ents[["kind", "entity_key"]].values.tolist() == [["action", "eos:a"], ["formation", "sam:1"]]
    assert ents["changed_date"].tolist() == [D0, D1] and ents["since_date"].tolist() == [D0, D0]
    assert store.published_entities(D2).empty and store.published_entities(None).empty
    # a re-run of the date replaces the entities too
    store.record_publication("r1", D1, FEEDS_D1, frame, entities.iloc[:1])
    assert store.published_entities(D1)["entity_key"].tolist() == ["sam:1"]
    with pytest.raises(ValueError, match="given twice"):
        store.record_publication("r1", D1, FEEDS_D1, frame, pd.concat([entities, entities]))
    with pytest.raises(ValueError, match="unknown entity kind"):
        store.record_publication("r1", D1, FEEDS_D1, frame, entities.assign(kind="session"))


def test_prune_published_sessions_keeps_the_newest_dates(store):
    for i, day in enumerate([D0, D1, D2, D3]):
        store.begin_run(f"r{i}", day)
        store.record_publication(
            f"r{i}",
            day,
            FEEDS_D1[:1],
            state([("eos:1", sha("1"), "unchanged", D0), (f"eos:{i + 10}", sha("x"), "created", day)]),
        )
    assert store.prune_published_sessions(keep_dates=5) == 0
    assert store.prune_published_sessions(keep_dates=2) == 4
    assert store.published_state(D1).empty and store.published_state(D0).empty
    assert store.published_state(D2)["session_key"].tolist() == ["eos:1", "eos:12"]
    assert len(store.published_state(D3)) == 2
    assert len(store.publications(D0)) == 1  # the record of what was published stays
    with pytest.raises(ValueError):
        store.prune_published_sessions(keep_dates=0)


# --- locks ---------------------------------------------------------------------------------------------


def test_lock_twice_fails_naming_the_holder(store):
    store.acquire_lock("run:2026-11-19", "run-aaa")
    with pytest.raises(StoreLockedError) as raised:
        store.acquire_lock("run:2026-11-19", "run-bbb")
    error = raised.value
    assert error.holder_run_id == "run-aaa" and error.name == "run:2026-11-19"
    assert "run-aaa" in str(error) and "verrou « run:2026-11-19 » est déjà pris" in str(error)
    assert isinstance(error, StoreError)
    with pytest.raises(StoreLockedError):  # not re-entrant, even for its holder
        store.acquire_lock("run:2026-11-19", "run-aaa")
    store.acquire_lock("run:2026-11-20", "run-bbb")  # another lock name is independent

    assert store.release_lock("run:2026-11-19", "run-bbb") is False  # not the holder
    assert store.lock_holder("run:2026-11-19")["holder_run_id"] == "run-aaa"
    assert store.release_lock("run:2026-11-19", "run-aaa") is True
    assert store.lock_holder("run:2026-11-19") is None
    store.acquire_lock("run:2026-11-19", "run-bbb")
    assert store.lock_holder("run:2026-11-19")["holder_run_id"] == "run-bbb"


def test_lock_context_manager_releases_on_error(store):
    with pytest.raises(RuntimeError, match="boom"):
        with store.lock("daily", "run-1"):
            assert store.lock_holder("daily")["holder_run_id"] == "run-1"
            raise RuntimeError("boom")
    assert store.lock_holder("daily") is None


def test_lock_is_shared_between_two_store_instances(db_url):
    with open_store(db_url) as one, open_store(db_url) as two:
        one.acquire_lock("daily", "run-1")
        with pytest.raises(StoreLockedError, match="run-1"):
            two.acquire_lock("daily", "run-2")
