"""Issue 14: when a run does fail (disk, database, a bug, a feed check), the exit message, the
alert file (and so the mail, which carries the same body) name the failed step and the precise
cause in French: check, file, line, element, value."""

from __future__ import annotations

import errno
import re
from pathlib import Path

import pytest

from passerelle.cli import main
from passerelle.failures import exception_cause, feed_check_cause, our_frame
from tests.integration.runs import DAY1, SAMPLES, cli_args

D = DAY1.isoformat()


def _run(tmp_path: Path, capsys, alerts: int = 1) -> tuple[int, str, str]:
    """Exit code, stderr, and the alert files (the mail carries the same body) joined."""
    out = tmp_path / "out"
    code = main(cli_args(SAMPLES, out, DAY1))
    err = capsys.readouterr().err
    files = sorted((out / "alerts").glob("*.txt"))
    assert len(files) == alerts, files
    assert not (out / D).exists()  # nothing published
    return code, err, "\n".join(f.read_text(encoding="utf-8") for f in files)


def test_a_bug_in_a_step_names_the_step_the_error_and_where(tmp_path, capsys, monkeypatch):
    import passerelle.rules.checks as checks

    def broken(ctx):
        return {}["marche_numero"]

    monkeypatch.setattr(checks, "run_checks", broken)
    code, err, alert = _run(tmp_path, capsys)
    assert code == 1
    for text in (err, alert):
        assert "étape « règles qualité » en échec : erreur interne KeyError : clé absente 'marche_numero'" in text, text
        assert re.search(r"passerelle/daily\.py, ligne \d+, dans check_day", text), text
        assert "à signaler à l'équipe Passerelle" in text


def test_disk_full_names_the_step_and_the_path(tmp_path, capsys, monkeypatch):
    import passerelle.publication as publication

    def full(staging, canonical):
        raise OSError(errno.ENOSPC, "No space left on device", str(Path(staging) / "canonical"))

    monkeypatch.setattr(publication, "write_canonical", full)
    code, err, alert = _run(tmp_path, capsys)
    assert code == 1
    for text in (err, alert):
        assert "étape « publication » en échec : disque plein sur « " in text, text
        assert "/canonical »" in text and "No space left on device" in text


def test_a_failing_feed_check_names_the_check_file_line_element_value_and_record(tmp_path, capsys, monkeypatch):
    import passerelle.feeds.catalog as catalog

    real = catalog.feed_validation_errors
    seen: dict = {}

    def invalid_pole_emploi(path, profile):
        errors, secs = real(path, profile)
        if "pole-emploi" not in str(path):
            return errors, secs
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        n = next(i for i, line in enumerate(lines, 1) if 'info="numero-marche"' in line)
        value = re.search(r">([^<]+)<", lines[n - 1]).group(1)
        session = [re.search(r'numero="([^"]+)"', x).group(1) for x in lines[:n] if "<session " in x][-1]
        seen.update(line=n, value=value, session=session)
        return [
            f"line {n}: Element '{{http://lheo.gouv.fr/2.3}}extra': [facet 'pattern'] The value '{value}' is "
            "not accepted by the pattern '[A-Z][0-9]{7}'."
        ], secs

    monkeypatch.setattr(catalog, "feed_validation_errors", invalid_pole_emploi)
    # the DQ024 repair is what normally handles this: switched off, the blocking check is the last guard
    monkeypatch.setattr(catalog, "withhold_invalid_records", lambda results, *a, **k: results)
    code, err, alert = _run(tmp_path, capsys, alerts=2)  # the blocking-check hook's, the CLI's
    assert code == 1
    for text in (err, alert):
        assert "out_pole_emploi_lheo / valid_against_profile" in text, text
        assert f"flux pole-emploi/offres-{D}.xml invalide : ligne {seen['line']}" in text
        assert "élément « extra »" in text and f"valeur « {seen['value']} »" in text
        assert f"session {seen['session']}" in text


@pytest.mark.parametrize(
    "cls,message,expected",
    [
        (
            "PermissionError",
            "[Errno 13] Permission denied: '/srv/out/2026-11-19'",
            "permission refusée sur « /srv/out/2026-11-19 »",
        ),
        (
            "OSError",
            "[Errno 30] Read-only file system: '/srv/out'",
            "système de fichiers en lecture seule sur « /srv/out »",
        ),
        (
            "OperationalError",
            "(psycopg.OperationalError) connection failed: could not connect to server",
            "base de données injoignable ou en erreur (OperationalError)",
        ),
        ("StoreError", "Impossible d'ouvrir la base postgresql://…", "Impossible d'ouvrir la base"),
    ],
)
def test_exception_causes(cls, message, expected):
    assert expected in exception_cause(cls, message)


def test_our_frame_and_feed_cause():
    stack = [
        '  File "/usr/lib/python3.11/site-packages/dagster/x.py", line 3, in run\n',
        '  File "/work/wt/passerelle/daily.py", line 12, in check_day\n',
        '  File "/work/wt/tests/t.py", line 5, in broken\n',
    ]
    assert our_frame(stack) == "passerelle/daily.py, ligne 12, dans check_day"
    cause = feed_check_cause(
        "pole-emploi/offres.xml",
        ["line 7: Element 'extra': The value 'X' is not accepted.", "... and 3 more errors"],
        {7: ("session", "eos:1")},
    )
    assert cause.startswith(
        "flux pole-emploi/offres.xml invalide : ligne 7, élément « extra », valeur « X », "
        "session eos:1 (profil) : Element 'extra'"
    )
