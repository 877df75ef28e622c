"""The web UI in a real browser: Playwright driving Debian's Chromium against a real uvicorn server.

Flow: log in with a member key, ask a demo question, see a cited answer, open the citation (the
quote is highlighted on the page view), give a thumbs-down with a comment; an admin finds it on
the traces page; the member cannot open the admin page; the chat works at phone width.
Screenshots go to test-artifacts/ (and to docs/ with UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
DOCS = ROOT / "docs"
QUESTION = "How many weeks of paid parental leave does Fernhill offer?"

if not Path(CHROMIUM).exists():
    if os.environ.get("CITELINE_REQUIRE_BROWSER"):
        raise RuntimeError("Chromium is required (apt-get install -y chromium) but not found")
    pytest.skip("Chromium not installed (apt-get install -y chromium); .ci/run installs it", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (citeline[test])")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)
    if os.environ.get("UPDATE_SCREENSHOTS"):
        DOCS.mkdir(exist_ok=True)
        shutil.copy(ARTIFACTS / name, DOCS / name)


def _login(browser, base: str, key: str, **context):
    ctx = browser.new_context(**context)
    page = ctx.new_page()
    page.goto(base + "/")
    assert "/login" in page.url
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base + "/")
    return ctx, page


def test_ask_cite_thumbs_down_and_trace(live, browser):
    base, admin, member = live
    ctx, page = _login(browser, base, member, viewport={"width": 1100, "height": 900})
    page.get_by_label("Your question").fill(QUESTION)
    page.keyboard.press("Enter")
    card = page.locator("article.answer-card").last
    sync_api.expect(card.locator(".decision")).to_have_text("answered", timeout=30_000)
    sync_api.expect(card.locator(".answer")).to_contain_text("16 weeks")
    chip = card.locator("a.citation-chip").first
    sync_api.expect(chip).to_be_visible()
    card.locator(".down").click()
    card.locator(".comment-text").fill("It should mention the 90-day waiting period.")
    card.get_by_role("button", name="Send feedback").click()
    sync_api.expect(card.locator(".feedback-status")).to_contain_text("recorded")
    _shot(page, "chat.png")

    # the citation opens the page view with the exact quote highlighted
    quote = card.locator("ol.citations blockquote").first.inner_text()
    chip.click()
    page.wait_for_url("**/documents/**")
    sync_api.expect(page.locator("mark#quote")).to_have_text(quote)
    _shot(page, "citation.png")

    # the member cannot open the admin page
    response = page.goto(base + "/admin/traces")
    assert response.status == 403
    sync_api.expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    ctx.close()

    # the admin finds the thumbs-down, with its comment, and opens the trace
    ctx, page = _login(browser, base, admin, viewport={"width": 1100, "height": 900})
    page.goto(base + "/admin/traces")
    page.get_by_label("Feedback").select_option("down")
    page.get_by_role("button", name="Filter").click()
    row = page.locator("#traces tbody tr").filter(has_text=QUESTION).first
    sync_api.expect(row).to_contain_text("90-day waiting period")
    _shot(page, "traces.png")
    row.get_by_role("link").click()
    sync_api.expect(page.locator("#trace-answer")).to_contain_text("16 weeks")
    sync_api.expect(page.locator("#retrieved tbody tr").first).to_be_visible()
    sync_api.expect(page.locator("#timings")).to_contain_text("keyword")
    sync_api.expect(page.get_by_text("It should mention the 90-day waiting period.")).to_be_visible()
    _shot(page, "trace.png")
    ctx.close()


def test_phone_width_and_keyboard(live, browser):
    base, _, member = live
    ctx, page = _login(browser, base, member, viewport={"width": 375, "height": 740}, is_mobile=True)
    # keyboard only: focus the question, type, Enter
    page.get_by_label("Your question").focus()
    page.keyboard.type("When do Fernhill employees get paid?")
    page.keyboard.press("Enter")
    card = page.locator("article.answer-card").last
    sync_api.expect(card.locator(".decision")).to_have_text("answered", timeout=30_000)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"page overflows the phone viewport ({width}px)"
    _shot(page, "chat-phone.png")
    ctx.close()


def test_documents_page_lists_and_uploads(live, browser, tmp_path):
    base, admin, _ = live
    ctx, page = _login(browser, base, admin, viewport={"width": 1100, "height": 900})
    page.goto(base + "/documents")
    sync_api.expect(page.locator("#documents tbody tr").nth(36)).to_be_visible()  # the 37 demo documents
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 this is not really a pdf")
    page.get_by_label("File").set_input_files(str(bad))
    page.get_by_role("button", name="Upload").click()
    sync_api.expect(page.locator("#upload-status")).to_contain_text("failed", timeout=60_000)
    page.wait_for_load_state()
    page.goto(base + "/documents")
    sync_api.expect(page.locator("#uploads")).to_contain_text("broken.pdf")
    _shot(page, "documents.png")
    ctx.close()


def test_admin_opens_an_eval_report(live, browser, demo_data, embedder, tmp_path):
    from tests.server.test_evals import small_run

    base, admin, _ = live
    run = small_run(demo_data, embedder, tmp_path, "browser")
    ctx, page = _login(browser, base, admin, viewport={"width": 1100, "height": 900})
    blocked = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    page.get_by_role("link", name="Evals").click()
    page.get_by_role("link", name=run.id).click()
    sync_api.expect(page.get_by_role("heading", name=f"Evaluation run {run.id}")).to_be_visible()
    sync_api.expect(page.locator("svg[aria-label='metric intervals'] circle").first).to_be_visible()
    # the report's inline style is allowed by its nonce: the page is styled, nothing was blocked
    assert page.evaluate("getComputedStyle(document.body).maxWidth") == "980px"
    assert not blocked, blocked
    _shot(page, "eval-report.png")
    ctx.close()
