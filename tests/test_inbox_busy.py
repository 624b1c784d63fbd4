"""The inbox on a busy day, in real headless Chromium against the simulator on a real socket: 200
conversations in a 1280x800 window (the list scrolls, the document does not), the loading state,
reset's confirmation, numbers shown grouped but copied raw, and the journal, callbacks and rules
tabs. Screenshots go to test-artifacts/inbox/ (inbox-busy-*.png, inbox-loading.png)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest

from tests.conftest import SEND, LiveServer, build_app
from tests.helpers_browser import ARTIFACTS, WAIT_MS, Start, launch_chromium

LOGIN = {"username": "demo", "password": "demo"}
BUSY = """\
version: 1
accounts: [{username: demo, password: demo, credit: 1000}]
rules:
  - {name: quiet-hours, match: {to: "447700999999"}, action: {error: GATEWAY_ERROR}}
"""
"""Credit for 200 sends, and one rule for the rules tab to show."""
COUNT = 200
VIEWPORT = {"width": 1280, "height": 800}
WINDOW = {"x": 0, "y": 0, **VIEWPORT}
FITS = "() => document.scrollingElement.scrollHeight <= window.innerHeight"
CONVERSATIONS = "n => document.querySelectorAll('.conversation').length === n"


def handset(n: int) -> str:
    """The n-th of 200 different UK mobiles, as the gateway stores them: 447700900000 on."""
    return f"4477009{n:05d}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_chromium()


@pytest.fixture
def busy(live_server: Start) -> LiveServer:
    """The simulator after 200 sends through the gateway's send path, each to its own number."""
    server = live_server(build_app(BUSY))
    with httpx.Client(base_url=server.url) as http:
        for n in range(COUNT):
            text = f"Order {n} is on its way"
            answer = http.post(SEND, data={**LOGIN, "to": handset(n), "text": text})
            assert answer.text.startswith("ID:"), answer.text
    return server


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    yield context.new_page()
    context.close()  # closes the event stream, so the server can stop


def open_inbox(page: Any, server: LiveServer) -> None:
    page.goto(server.url + "/")
    page.wait_for_selector("#live[data-mode='on']", timeout=WAIT_MS)
    page.wait_for_function(CONVERSATIONS, arg=COUNT + 1, timeout=WAIT_MS)  # and "All messages"


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000


def box_inside(inner: Mapping[str, float], outer: Mapping[str, float]) -> bool:
    """Whether box `inner` lies within box `outer` (Playwright's bounding boxes, 1 px leeway)."""
    return (
        inner["y"] >= outer["y"] - 1
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + 1
        and inner["x"] >= outer["x"] - 1
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 1
    )


def test_two_hundred_conversations_scroll_in_their_list_not_the_page(
    page: Any, busy: LiveServer
) -> None:
    open_inbox(page, busy)
    assert page.evaluate(FITS), page.evaluate("document.scrollingElement.scrollHeight")
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
    scrolls = "l => l.scrollHeight > l.clientHeight && getComputedStyle(l).overflowY === 'auto'"
    assert page.locator("#conversation-list").evaluate(scrolls)
    shot(page, "inbox-busy-1280x800.png")

    page.locator(".conversation").nth(150).click()  # the 150th conversation, newest first
    wanted = handset(COUNT - 150)
    page.wait_for_function(
        "raw => document.querySelector('#thread-title .number')?.title === raw", arg=wanted
    )
    assert page.inner_text("#thread-title") == "+44 7700 900050"
    assert page.locator(".message").count() == 1
    assert page.inner_text(".message .text") == "Order 50 is on its way"
    assert box_inside(page.locator("#thread-title").bounding_box(), WINDOW)
    assert box_inside(page.locator("#reply-form").bounding_box(), WINDOW)
    assert page.evaluate("document.scrollingElement.scrollTop") == 0
    assert page.evaluate(FITS)
    listed = page.locator("#conversation-list")
    assert listed.evaluate("l => l.scrollTop") > 0  # the list scrolled, on its own
    chosen = page.locator(".conversation[aria-current='true']")
    assert chosen.locator(".number").inner_text() == "+44 7700 900050"
    assert box_inside(chosen.bounding_box(), listed.bounding_box())  # still in view
    shot(page, "inbox-busy-lower-conversation.png")


def test_numbers_read_grouped_hover_and_copy_raw(page: Any, busy: LiveServer) -> None:
    open_inbox(page, busy)
    shown = page.locator(".conversation .number", has_text="+44 7700 900123")
    assert shown.get_attribute("title") == "447700900123"
    assert shown.get_attribute("data-raw") == "447700900123"
    assert page.locator("#copy-number").is_hidden()  # "All messages" has no number to copy
    shown.click()
    page.click("#copy-number")
    page.wait_for_selector("#copy-number >> text=Copied", timeout=WAIT_MS)
    assert page.evaluate("navigator.clipboard.readText()") == "447700900123"

    page.evaluate("navigator.clipboard.writeText('something else')")
    page.evaluate(
        """() => {
            const range = document.createRange();
            range.selectNodeContents(document.querySelector('#thread-title .number'));
            getSelection().removeAllRanges();
            getSelection().addRange(range);
        }"""
    )
    page.keyboard.press("Control+C")  # a selected number copies raw too
    assert page.evaluate("navigator.clipboard.readText()") == "447700900123"

    recipient = page.locator(".message .from .num")
    assert page.inner_text(".message .from") == "to +44 7700 900123"  # the account has no sender
    assert recipient.get_attribute("title") == "447700900123"

    grouped = {
        "447700900123": "+44 7700 900123",
        "+447700900123": "+44 7700 900123",
        "12025550123": "+1 202 555 0123",
        "33612345678": "+33 612 345 678",
        "35312345678": "+353 123 456 78",
        "4915112345678": "+49 151 123 456 78",
        "4930123456": "+49 301 234 56",
        "861380013800": "+86 138 001 3800",  # a lone last digit joins the group before
        "07700900123": "07700900123",  # national form: as it came
        "MyShop": "MyShop",
        "60000": "60000",  # a short code
    }
    assert page.evaluate("raws => raws.map(readable)", list(grouped)) == list(grouped.values())


def test_reset_asks_first_and_only_yes_resets(page: Any, busy: LiveServer) -> None:
    open_inbox(page, busy)

    def kept() -> int:
        answer = httpx.get(busy.url + "/_sim/messages", params={"limit": 500})
        return len(answer.json()["messages"])

    page.click("#reset")
    page.wait_for_selector("#reset-dialog[open]", timeout=WAIT_MS)
    assert page.evaluate("document.activeElement.id") == "reset-cancel"  # the safe answer
    page.click("#reset-cancel")
    page.wait_for_selector("#reset-dialog", state="hidden", timeout=WAIT_MS)
    page.click("#reset")
    page.keyboard.press("Escape")
    page.wait_for_selector("#reset-dialog", state="hidden", timeout=WAIT_MS)
    page.wait_for_timeout(300)  # time for a reset to land, were one sent
    assert kept() == COUNT
    assert page.locator(".conversation").count() == COUNT + 1

    page.click("#reset")
    page.click("#reset-confirm")
    page.wait_for_selector("#no-conversations", state="visible", timeout=WAIT_MS)
    assert kept() == 0
    assert page.locator(".conversation").count() == 1  # "All messages" only


def test_rules_and_callbacks_are_tabs_inside_the_window(page: Any, busy: LiveServer) -> None:
    open_inbox(page, busy)
    journal = page.locator("#journal-panel")
    assert journal.is_visible()
    assert journal.evaluate("p => p.scrollHeight > p.clientHeight")  # 200 entries scroll inside
    page.click("#tab-rules")
    rule = page.locator(".rule", has_text="quiet-hours")
    assert rule.is_visible()
    assert journal.is_hidden()
    assert box_inside(rule.bounding_box(), WINDOW)
    assert page.locator("#tab-rules").get_attribute("aria-selected") == "true"
    page.keyboard.press("ArrowLeft")  # the tabs pattern: arrows move between tabs
    assert page.evaluate("document.activeElement.id") == "tab-callbacks"
    empty = page.locator("#no-callbacks")
    assert empty.is_visible()
    assert box_inside(empty.bounding_box(), WINDOW)
    assert page.evaluate(FITS)
    assert page.evaluate("document.scrollingElement.scrollTop") == 0
    shot(page, "inbox-busy-rules-tab.png")


def test_the_page_says_loading_until_the_first_fetch_answers(page: Any, live_server: Start) -> None:
    server = live_server(build_app(BUSY))  # empty: "No messages yet" is the answer, once known
    held: list[Any] = []

    def hold(route: Any) -> None:
        held.append(route)  # answered later, by the test

    page.route("**/_sim/messages?*", hold)
    page.goto(server.url + "/")
    page.wait_for_selector("#live[data-mode='on']", timeout=WAIT_MS)
    for _ in range(WAIT_MS // 50):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the page never asked for the messages"
    page.wait_for_timeout(300)  # time to draw a wrong "empty", were there one
    assert page.inner_text("#loading") == "Loading conversations…"
    assert page.locator("#loading").is_visible()
    assert page.locator("#no-conversations").is_hidden()
    assert "Loading messages…" in page.inner_text("#thread")
    assert "Nothing here yet" not in page.inner_text("#thread")
    shot(page, "inbox-loading.png")

    for route in held:
        route.continue_()
    page.unroute("**/_sim/messages?*")
    page.wait_for_selector("#loading", state="hidden", timeout=WAIT_MS)
    assert page.locator("#no-conversations").is_visible()
    assert "Nothing here yet" in page.inner_text("#thread")
