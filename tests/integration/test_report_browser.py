"""The quality report as Carif staff use it: opened in a real headless Chromium (Debian's
``chromium`` driven by Selenium through ``/usr/bin/chromedriver``; nothing is downloaded).

The report is the one ``passerelle run`` writes for the second sample day. The test uses the
filters (training body, rule, severity, age: new / older than 7 days), the search, « Tout
replier » / « Tout déplier » and the copy button, checks the console has no error, prints the
page to PDF, and takes a screenshot of the first screen (``PASSERELLE_SCREENSHOT_DIR`` keeps it).

Skipped, with the reason, where Chromium, chromedriver or Selenium is missing (``.ci/run``
installs Chromium).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from tests.integration.runs import DAY2

CHROMIUM = Path(os.environ.get("PASSERELLE_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("PASSERELLE_CHROMEDRIVER", "/usr/bin/chromedriver"))

selenium = pytest.importorskip("selenium", reason="selenium not installed: browser test of the report skipped")
if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip(
        f"no Chromium here ({CHROMIUM} / {CHROMEDRIVER} missing; apt-get install chromium chromium-driver): "
        "browser test of the report skipped",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.print_page_options import PrintOptions  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    profile = tmp_path_factory.mktemp("chromium-profile")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1366,900",
        "--lang=fr-FR",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def report(two_sample_days, browser):
    day = two_sample_days / DAY2.isoformat()
    browser.get((day / "quality" / "report.html").as_uri())
    manifest = json.loads((day / "manifest.json").read_text(encoding="utf-8"))
    return browser, manifest


def _visible(driver, selector: str, attr: str = "data-s") -> list[str]:
    return driver.execute_script(
        "var attr=arguments[1];return [].slice.call(document.querySelectorAll(arguments[0]))"
        ".filter(function(e){return e.offsetParent!==null;}).map(function(e){return e.getAttribute(attr);});",
        selector,
        attr,
    )


def _reset(driver) -> None:
    driver.find_element(By.ID, "f-reset").click()


def test_first_screen_says_what_changed(report, tmp_path):
    driver, manifest = report
    life = manifest["findings_life"]
    changes = driver.find_element(By.CSS_SELECTOR, "section.changes")
    assert changes.is_displayed() and changes.location["y"] < 400  # at the top of the page
    text = changes.text
    assert "Ce qui a changé depuis le contrôle du 19/11/2026" in text
    values = [e.text for e in changes.find_elements(By.CSS_SELECTOR, ".cvalue")]
    assert values == [str(life["new"]), str(life["open"]), str(life["resolved"])]
    shot = tmp_path / "report-first-screen.png"
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    keep = os.environ.get("PASSERELLE_SCREENSHOT_DIR")
    if keep:
        shutil.copy(shot, Path(keep) / shot.name)


def test_no_console_error(report):
    driver, _ = report
    driver.refresh()
    logs = driver.get_log("browser")
    assert not [entry for entry in logs if entry["level"] == "SEVERE"], logs


def test_age_filter_new_and_old(report):
    driver, manifest = report
    _reset(driver)
    total = len(_visible(driver, "li.f"))
    assert total == manifest["findings"]["error"] + manifest["findings"]["warning"] + manifest["findings"]["info"]
    Select(driver.find_element(By.ID, "f-age")).select_by_value("new")
    ages = _visible(driver, "li.f", "data-a")
    assert ages and set(ages) == {"new"} and len(ages) == manifest["findings_life"]["new"]
    assert "nouveau" in driver.find_element(By.CSS_SELECTOR, "li.f.is-new").text
    assert "ancienneté : Nouveaux" in driver.find_element(By.ID, "f-print").get_attribute("textContent")
    Select(driver.find_element(By.ID, "f-age")).select_by_value("open")
    ages = _visible(driver, "li.f", "data-a")
    assert set(ages) == {"open"} and len(ages) == manifest["findings_life"]["open"]
    assert "ouvert depuis le 19/11, 1 jour" in driver.find_element(By.CSS_SELECTOR, 'li.f[data-a="open"]').text
    Select(driver.find_element(By.ID, "f-age")).select_by_value("old")  # nothing is 8 days old in the samples
    assert _visible(driver, "li.f") == []
    assert driver.find_element(By.ID, "nomatch").is_displayed()
    _reset(driver)
    assert len(_visible(driver, "li.f")) == total


def test_severity_rule_and_body_filters(report):
    driver, _ = report
    _reset(driver)
    driver.find_element(By.CSS_SELECTOR, 'input[name=sev][value="info"]').click()
    assert "info" not in _visible(driver, "li.f") and _visible(driver, "li.f")
    _reset(driver)
    Select(driver.find_element(By.ID, "f-rule")).select_by_value("DQ009")
    assert set(_visible(driver, "li.f", "data-r")) == {"DQ009"}
    _reset(driver)
    body = Select(driver.find_element(By.ID, "f-body"))
    body.select_by_index(2)
    shown = driver.execute_script(
        "return [].slice.call(document.querySelectorAll('section.org')).filter(function(e){return !e.hidden;})"
        ".map(function(e){return e.getAttribute('data-b');});"
    )
    assert shown == [body.first_selected_option.get_attribute("value")]
    _reset(driver)


def test_search(report):
    driver, _ = report
    _reset(driver)
    box = driver.find_element(By.ID, "f-q")
    box.send_keys("eos:184224")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(_visible(driver, "li.f")) > 3:
        time.sleep(0.1)
    items = driver.execute_script(
        "return [].slice.call(document.querySelectorAll('li.f')).filter(function(e){return e.offsetParent!==null;})"
        ".map(function(e){return e.closest('.sess').querySelector('h4').textContent;});"
    )
    assert items and all("eos:184224" in h for h in items)
    assert "constat(s) affiché(s) sur" in driver.find_element(By.ID, "f-count").text
    box.clear()
    _reset(driver)


def test_collapse_and_expand_all(report):
    driver, _ = report
    _reset(driver)
    driver.find_element(By.ID, "f-collapse").click()
    assert _visible(driver, "li.f") == []
    toggles = driver.find_elements(By.CSS_SELECTOR, "section.org .toggle")
    assert toggles and all(t.get_attribute("aria-expanded") == "false" and t.text == "Déplier" for t in toggles)
    driver.find_element(By.ID, "f-expand").click()  # « Tout déplier »
    assert len(_visible(driver, "li.f")) > 0
    assert all(t.get_attribute("aria-expanded") == "true" for t in toggles)
    assert driver.find_element(By.ID, "f-expand").text == "Tout déplier"


def test_message_of_a_body_is_shown_with_its_recipients(report):
    driver, manifest = report
    _reset(driver)
    first = manifest["messages"][0]
    mail = driver.find_element(By.CSS_SELECTOR, "section.org .mail")
    assert "Message à envoyer à l'organisme" in mail.text
    assert any(
        m["file"].endswith(mail.find_element(By.CSS_SELECTOR, ".mailto code").text.split("/")[-1])
        for m in manifest["messages"]
    )
    assert first["recipients"]
    text = mail.find_element(By.CSS_SELECTOR, "pre.mailtext").text
    assert text.startswith("Bonjour,") and "Où : fichier" in text
    mail.find_element(By.CSS_SELECTOR, "button.copy").click()
    assert mail.find_element(By.CSS_SELECTOR, "button.copy").text in ("Copié ✓", "Copier le message")


def test_resolved_section(report):
    driver, manifest = report
    section = driver.find_element(By.ID, "resolus")
    rows = section.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(rows) == manifest["findings_life"]["resolved"] >= 1
    assert any("corrigé" in r.text and "19/11/2026" in r.text for r in rows)


def test_prints_to_pdf(report, tmp_path):
    driver, _ = report
    _reset(driver)
    options = PrintOptions()
    options.background = True
    pdf = base64.b64decode(driver.print_page(options))
    assert pdf.startswith(b"%PDF-") and len(pdf) > 20_000
    (tmp_path / "report.pdf").write_bytes(pdf)
    keep = os.environ.get("PASSERELLE_SCREENSHOT_DIR")
    if keep:
        shutil.copy(tmp_path / "report.pdf", Path(keep) / "report.pdf")
