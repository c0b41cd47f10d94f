"""Drives docent's web page in headless Chromium (Debian's, through Playwright) as a user would, and
prints what the page showed as JSON for tests/http.rs to check. Screenshots go to ARTIFACTS.

usage: browser.py ask BASE_URL ARTIFACTS QUESTION   (the key, if any, in DOCENT_PAGE_KEY)
       browser.py round BASE_URL ARTIFACTS PDF QUESTION FOLLOW_UP

`ask` types one question and waits for the streamed answer; `round` is the whole "ChatPDF" round:
upload a PDF, see it listed, ask only it, open a citation's evidence, ask a follow-up over every
document, delete the PDF, drop a file on the page. Each step's figures come back, each step's
screenshot is kept.
"""
import json
import os
import sys
import time

from playwright.sync_api import sync_playwright

# Chromium as this machine's closed network wants it (see the machine notes in the README).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
]
ANSWER_TIMEOUT_MS = 240_000


def wait_done(page, turns):
    """Waits until the page has `turns` turns and is no longer busy. (Selectors only: the page's
    policy forbids evaluating strings, which Playwright's wait_for_function would need, and the
    test keeps the policy on, so that a wrong script hash fails it.)"""
    page.locator(".turn").nth(turns - 1).wait_for(timeout=ANSWER_TIMEOUT_MS)
    page.locator("body[data-state='done']").wait_for(timeout=ANSWER_TIMEOUT_MS)


def turn_facts(turn):
    return {
        "question": turn.locator(".question").inner_text(),
        "answer": turn.locator(".answer").inner_text(),
        "meta": turn.locator(".meta").inner_text(),
        "error": turn.locator(".error").inner_text(),
        "citations": turn.locator(".answer .cite").all_inner_texts(),
        "sources": turn.locator(".source-link").all_inner_texts(),
    }


def open_first_citation(turn):
    """Clicks the answer's first citation; returns the evidence panel's text and marked parts."""
    return open_evidence(turn, turn.locator(".answer .cite").first)


def open_evidence(turn, link):
    """Clicks a citation or source link; returns the evidence panel's text and marked parts."""
    link.click()
    panel = turn.locator(".evidence")
    panel.wait_for()
    return {
        "where": panel.locator(".where").inner_text(),
        "text": panel.locator(".text").inner_text(),
        "marked": panel.locator("mark").all_inner_texts(),
    }


def ask(page, base, artifacts, question):
    """One question, timing when its first text appeared."""
    page.goto(base + "/")
    out = {"title": page.title()}
    key = os.environ.get("DOCENT_PAGE_KEY", "")
    if key:
        # The key field sits in a settings panel, opened by itself when the server asks for one.
        if not page.is_visible("#key"):
            page.click("#key-settings summary")
        page.fill("#key", key)
        page.press("#key", "Tab")
    page.fill("#q", question)
    started = time.time()
    page.press("#q", "Enter")
    page.locator(".turn .answer:not(:empty), .turn .error:not(:empty)").first.wait_for(timeout=ANSWER_TIMEOUT_MS)
    out["first_text_seconds"] = time.time() - started
    wait_done(page, 1)
    out["seconds"] = time.time() - started
    # Where the page kept the key: the tab's session storage only, and the page says so.
    out["key_storage"] = page.evaluate(
        "({local: localStorage.getItem('docent-key'), session: sessionStorage.getItem('docent-key'),"
        " note: document.getElementById('key-note').textContent})")
    turn = page.locator(".turn").first
    out.update(turn_facts(turn))
    # The first citation's source, or else the first source listed.
    if out["citations"]:
        out["evidence"] = open_first_citation(turn)
    elif out["sources"]:
        out["evidence"] = open_evidence(turn, turn.locator(".source-link").first)
    page.screenshot(path=os.path.join(artifacts, "ask.png"), full_page=True)
    return out


def round_trip(page, base, artifacts, pdf, question, follow_up):
    shot = lambda name: page.screenshot(path=os.path.join(artifacts, name), full_page=True)
    out = {}
    page.goto(base + "/")
    page.locator("body[data-documents]").wait_for()
    out["documents_before"] = int(page.evaluate("document.body.dataset.documents"))
    out["placeholder"] = page.get_attribute("#q", "placeholder")
    shot("1-page.png")

    # Upload through the file picker, as a drop would, and wait for the list to show it.
    name = os.path.basename(pdf)
    page.set_input_files("#files", pdf)
    page.locator("body[data-upload='done']").wait_for(timeout=120_000)
    out["upload_status"] = page.inner_text("#upload-status")
    row = page.locator("#documents li", has_text=f"upload/{name}")
    row.wait_for()
    out["listed"] = row.inner_text()
    shot("2-uploaded.png")

    # Ask only the uploaded document; Enter asks.
    row.locator("button.only").click()
    out["scope"] = page.inner_text("#scope")
    page.fill("#q", question)
    page.press("#q", "Enter")
    wait_done(page, 1)
    first = page.locator(".turn").nth(0)
    out["first"] = turn_facts(first)
    shot("3-answer.png")
    out["first"]["evidence"] = open_first_citation(first) if out["first"]["citations"] else None
    shot("4-evidence.png")

    # The follow-up is asked of every document: only the first turn says what "it" is.
    page.click("#scope-clear")
    page.fill("#q", follow_up)
    page.press("#q", "Enter")
    wait_done(page, 2)
    second = page.locator(".turn").nth(1)
    out["follow_up"] = turn_facts(second)
    out["follow_up"]["evidence"] = open_first_citation(second) if out["follow_up"]["citations"] else None
    shot("5-follow-up.png")

    # A search kept to one type through the Filters panel.
    page.select_option("#mode", "search")
    page.click("#filters summary")
    page.select_option("#filter-type", "html")
    page.fill("#q", "How does a model call a tool?")
    page.press("#q", "Enter")
    wait_done(page, 3)
    out["filtered_search"] = turn_facts(page.locator(".turn").nth(2))
    page.select_option("#filter-type", "")
    page.select_option("#mode", "ask")

    # Delete, after the confirmation the row asks for.
    row.locator("button.delete").click()
    out["confirmation"] = row.locator(".confirm").first.inner_text()
    row.locator("button.confirm-delete").click()
    row.wait_for(state="detached")
    out["documents_after"] = int(page.evaluate("document.body.dataset.documents"))
    out["listed_after"] = page.locator("#documents li .name").all_inner_texts()
    shot("6-deleted.png")

    # A file dropped on the page is uploaded as a picked one is.
    transfer = page.evaluate_handle(
        """(text) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], "dropped-note.md", { type: "text/markdown" }));
            return transfer;
        }""",
        "# A dropped note\n\nFiles can be dropped on the page as well as picked.\n",
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
    page.locator("#documents li", has_text="upload/dropped-note.md").wait_for(timeout=120_000)
    out["dropped_status"] = page.inner_text("#upload-status")

    # The same page at a phone's width.
    page.set_viewport_size({"width": 390, "height": 844})
    out["phone_overflow"] = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    shot("7-phone.png")
    return out


def main():
    command, base, artifacts = sys.argv[1:4]
    os.makedirs(artifacts, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            if command == "ask":
                out = ask(page, base, artifacts, sys.argv[4])
            elif command == "round":
                out = round_trip(page, base, artifacts, *sys.argv[4:7])
            else:
                raise SystemExit(f"unknown command {command}")
        finally:
            browser.close()
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
