"""End-to-end browser scenario (marker ``browser``): the real app served by uvicorn on a free
port, driven by Playwright through Debian's Chromium (``/usr/bin/chromium``; ``make browser``
installs it with apt, Playwright never downloads a browser).

The business desk captures a need through the intake page (live occupation suggestions while
typing), then a counsellor opens a need's shortlist (reasons, missing skills), proposes a person
of their caseload and sees the decision on the page. A screenshot of each step is written to
``test-artifacts/`` (gitignored).
"""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from api.main import create_app
from matching.config import PROJECT_DIR
from matching.services.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = PROJECT_DIR / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(settings, territory):
    """Base URL of the app served by uvicorn in a thread (normaliser and engine preloaded in
    the background, as in production)."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings, preload=True), host="127.0.0.1", port=port, log_level="warning"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True, name="uvicorn-test")
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn n'a pas démarré"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Chromium de Debian absent (/usr/bin/chromium) : lancez `make browser`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


def shot(page, name: str, *, focus=None) -> None:
    """Screenshot of the whole page, or of the viewport around ``focus`` (long shortlists)."""
    ARTIFACTS.mkdir(exist_ok=True)
    if focus is not None:
        focus.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / f"browser-{name}.png"), full_page=focus is None)


def log_in(page, base: str, username: str, then: str) -> None:
    page.goto(f"{base}/connexion?suivant={then}")
    page.fill("#identifiant", username)
    page.fill("#mot_de_passe", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{then}")


def test_desk_captures_a_need_then_a_counsellor_proposes_a_candidate(server, browser, territory):
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
    cand, counsellor = territory["candidate"], territory["candidate_counsellor"]

    # 1. The business desk captures a need; occupations are suggested while typing.
    desk = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    page = desk.new_page()
    log_in(page, server, "guichet", "/besoins/nouveau")
    expect(page.locator("h1")).to_have_text("Saisir un besoin d'employeur")
    shot(page, "01-guichet-saisie")
    page.select_option("#employeur", territory["employer"])
    # Typed key by key, as a person does: each pause lets the page ask for suggestions.
    page.locator("#intitule").press_sequentially("téléconseiller", delay=40)
    first = page.locator("#suggestions input[type=radio]").first
    # The first request waits for the normaliser, fitted in the background at start-up with
    # one core (no cache yet in this test's data directory): about 50 s since the fiche
    # classifier (two linear SVMs, fitted one after the other at n_jobs=1), more on a busy
    # machine.
    expect(first).to_be_visible(timeout=180_000)
    labels = page.locator("#suggestions label").all_inner_texts()
    # D1408 is the ROME fiche of remote customer advisers ("téléconseiller" is one of its titles).
    assert any("(D1408)" in t for t in labels[:3]), labels
    shot(page, "02-guichet-suggestions")
    first.check()
    code_rome = first.get_attribute("value")
    page.fill("#postes", "3")
    page.fill("#date_embauche", "2027-09-01")
    page.click("#form-besoin button[type=submit]")
    page.wait_for_url(re.compile(r".*/besoins/BES\d+$"))
    expect(page.locator(".flash")).to_contain_text("enregistré")
    expect(page.locator("h1")).to_contain_text("téléconseiller")
    assert code_rome in page.locator("main, body").first.inner_text()
    shot(page, "03-guichet-besoin-enregistre")
    desk.close()

    # 2. A counsellor opens a shortlist and proposes a person of their caseload.
    ctx = browser.new_context(locale="fr-FR", viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    log_in(page, server, counsellor, "/besoins/BES0001")
    row = page.locator(f"#c-{cand}")
    expect(row).to_contain_text("(mon portefeuille)")
    cells = row.locator("td")
    assert cells.nth(3).inner_text().strip(), "explication (pourquoi) absente"
    missing = page.locator("table.shortlist tbody tr td:nth-child(5)").all_inner_texts()
    assert any(t.strip() not in ("", "—") for t in missing), "aucune compétence manquante affichée"
    expect(
        page.locator("table.shortlist").get_by_role("link", name="Parcours de formation").first
    ).to_be_visible()
    expect(page.locator("table.shortlist caption")).to_contain_text("exécution nocturne")
    shot(page, "04-conseiller-liste", focus=row)
    row.get_by_role("button", name=f"Proposer {cand}").click()
    page.wait_for_url(re.compile(rf".*/besoins/BES0001#c-{cand}$"))
    expect(page.locator(".flash")).to_contain_text(f"Décision enregistrée : {cand} proposé·e")
    expect(page.locator(f"#c-{cand} .status")).to_have_attribute("data-status", "proposed")
    expect(page.locator(f"#c-{cand} .status")).to_have_text("proposé·e")
    shot(page, "05-conseiller-decision", focus=page.locator(f"#c-{cand}"))
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "browser-06-conseiller-message.png"))
    ctx.close()
