"""passerelle.alerts: the alert file, SMTP and webhook delivery, against servers on loopback."""

from __future__ import annotations

import email
import email.policy

import pytest

from passerelle.alerts import ENV_FROM, ENV_SMTP, ENV_TO, ENV_WEBHOOK, send_alert, slugify
from tests.loopback import free_port, smtp_server, webhook_server

SUBJECT = "Passerelle : le run du 2026-11-20 a échoué"
BODY = "étape publication : disque plein\ncontrôle bloquant en échec : out_carif_lheo / valid_against_profile"


@pytest.fixture(autouse=True)
def _no_alert_env(monkeypatch):
    for name in (ENV_SMTP, ENV_WEBHOOK, ENV_FROM, ENV_TO):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def smtp():
    with smtp_server() as server:
        yield server


@pytest.fixture
def hook():
    with webhook_server() as server:
        yield server


# --- tests ---------------------------------------------------------------------------------------


def test_alert_file_is_always_written(tmp_path):
    result = send_alert(tmp_path, SUBJECT, BODY)
    assert result.path is not None and result.path.parent == tmp_path / "alerts"
    assert result.path.name.endswith("-passerelle-le-run-du-2026-11-20-a-echoue.txt")
    text = result.path.read_text(encoding="utf-8")
    assert text.startswith(f"Sujet : {SUBJECT}\n")
    assert "disque plein" in text and "valid_against_profile" in text
    assert (result.mailed, result.posted, result.errors) == (False, False, [])
    again = send_alert(tmp_path, SUBJECT, BODY)
    assert again.path != result.path and len(list((tmp_path / "alerts").iterdir())) == 2
    assert not list((tmp_path / "alerts").glob(".*"))  # no temporary file left


def test_slugify():
    assert slugify("Contrôle bloquant : échec / XSD") == "controle-bloquant-echec-xsd"
    assert slugify("«»") == "alerte"


def test_mail_through_a_local_smtp_server(tmp_path, smtp, monkeypatch):
    monkeypatch.setenv(ENV_FROM, "passerelle@carif.example")
    monkeypatch.setenv(ENV_TO, "dq@carif.example, astreinte@carif.example")
    result = send_alert(tmp_path, SUBJECT, BODY, smtp_url=smtp.url, webhook_url="")
    assert result.mailed and not result.errors, result.errors
    assert len(smtp.mails) == 1
    mail = smtp.mails[0]
    assert mail["from"] == "passerelle@carif.example"
    assert mail["to"] == ["dq@carif.example", "astreinte@carif.example"]
    message = email.message_from_bytes(mail["data"], policy=email.policy.default)
    assert message["Subject"] == SUBJECT
    assert "disque plein" in message.get_content()
    assert result.path.is_file()


def test_smtp_configured_by_environment(tmp_path, smtp, monkeypatch):
    monkeypatch.setenv(ENV_SMTP, smtp.url)
    monkeypatch.setenv(ENV_TO, "dq@carif.example")
    result = send_alert(tmp_path, SUBJECT, BODY)
    assert result.mailed and len(smtp.mails) == 1


def test_webhook_post_to_a_local_http_server(tmp_path, hook):
    received = hook.received
    result = send_alert(
        tmp_path, SUBJECT, BODY, webhook_url=hook.url, smtp_url="", extra={"run_id": "r-1", "date": "2026-11-20"}
    )
    assert result.posted and not result.errors
    assert len(received) == 1
    post = received[0]
    assert post["path"] == "/hooks/passerelle" and post["type"].startswith("application/json")
    payload = post["json"]
    assert payload["subject"] == SUBJECT and payload["body"] == BODY
    assert payload["run_id"] == "r-1" and payload["date"] == "2026-11-20"
    assert payload["file"] == str(result.path)


def test_webhook_configured_by_environment(tmp_path, hook, monkeypatch):
    monkeypatch.setenv(ENV_WEBHOOK, hook.url)
    assert send_alert(tmp_path, SUBJECT, BODY).posted
    assert hook.received[0]["json"]["subject"] == SUBJECT


def test_delivery_failures_are_reported_never_raised(tmp_path, hook, monkeypatch):
    hook.status = 500
    received = hook.received
    monkeypatch.setenv(ENV_TO, "dq@carif.example")
    result = send_alert(tmp_path, SUBJECT, BODY, smtp_url=f"smtp://127.0.0.1:{free_port()}", webhook_url=hook.url)
    assert result.path.is_file()  # the file is written whatever happens
    assert not result.mailed and not result.posted
    assert len(result.errors) == 2
    assert "courriel d'alerte non envoyé" in result.errors[0]
    assert "webhook d'alerte non appelé" in result.errors[1] and "500" in result.errors[1]
    assert len(received) == 1


def test_mail_without_recipient_or_with_a_bad_url_is_an_error_not_a_crash(tmp_path):
    result = send_alert(tmp_path, SUBJECT, BODY, smtp_url="smtp://127.0.0.1:25")
    assert not result.mailed and "PASSERELLE_ALERT_TO" in result.errors[0]
    result = send_alert(tmp_path, SUBJECT, BODY, webhook_url="ftp://example/")
    assert not result.posted and "http(s)" in result.errors[0]


def test_unwritable_output_still_sends(tmp_path, hook):
    blocker = tmp_path / "out"
    blocker.write_text("a file where the output folder should be")
    result = send_alert(blocker, SUBJECT, BODY, webhook_url=hook.url)
    assert result.path is None and "fichier d'alerte non écrit" in result.errors[0]
    assert result.posted and hook.received[0]["json"]["file"] is None
