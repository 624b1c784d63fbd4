"""The inbox page in real headless Chromium (Debian's, driven by Playwright for Python) against
the simulator on a real socket: live arrivals, escaping, the inbound form, and screenshots
(saved under test-artifacts/inbox/)."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway_sim.domain.clock import ManualClock
from gateway_sim.domain.scenario import DEFAULT_SCENARIO, load_scenario
from gateway_sim.server.app import create_app
from gateway_sim.server.demo import png_of
from tests.conftest import MMS, SEND, START, LiveServer, build_app
from tests.helpers_browser import ARTIFACTS, WAIT_MS, Start, launch_chromium
from tests.helpers_callbacks import Receiver, scenario

LOGIN = {"username": "demo", "password": "demo"}


def png(width: int, height: int) -> bytes:
    """A real PNG (an RGB gradient), made here so that the tests need no image files."""
    return png_of(width, height, lambda x, y: (40 + 200 * x // width, 90 + 120 * y // height, 235))


def send_mms(url: str, to: str, subject: str, parts: list[tuple[str, str, bytes]]) -> str:
    files = [("file", (name, data, kind)) for name, kind, data in parts]
    fields = {**LOGIN, "to": to, "type": "5", "text": subject}
    return httpx.post(url + MMS, data=fields, files=files).text


def send_sms(url: str, **fields: str) -> str:
    return httpx.post(url + SEND, data={**LOGIN, **fields}).text


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_chromium()


@pytest.fixture
def inbox(browser: Any, live_server: Start) -> Iterator[tuple[Any, LiveServer]]:
    """The simulator on a free port, and a page showing its inbox, connected and live."""
    server = live_server(build_app())
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(server.url + "/")
    page.wait_for_selector("#live[data-mode='on']", timeout=WAIT_MS)
    yield page, server
    context.close()  # closes the event stream, so the server can stop


def test_an_mms_sent_over_http_appears_without_a_reload(inbox: tuple[Any, LiveServer]) -> None:
    page, server = inbox
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads
    answer = send_mms(
        server.url,
        "07700900123",
        "Holiday",
        [
            ("beach.png", "image/png", png(48, 32)),
            ("note.txt", "text/plain", b"Wish you were here"),
        ],
    )
    assert answer.startswith("ID:")
    image = page.wait_for_selector("img.media", timeout=WAIT_MS)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image)
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [48, 32]
    assert page.locator(".subject").inner_text() == "Holiday"
    page.wait_for_selector("text=Wish you were here", timeout=WAIT_MS)
    assert page.evaluate("window.loadedOnce") is True


def wav(seconds: float, rate: int = 8000) -> bytes:
    """A real WAV file of silence (mono, 16-bit)."""
    data = b"\x00\x00" * int(seconds * rate)
    header = struct.pack("<4sI4s", b"RIFF", 36 + len(data), b"WAVE")
    fmt = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, rate, rate * 2, 2, 16)
    return header + fmt + struct.pack("<4sI", b"data", len(data)) + data


def test_audio_gets_a_player_svg_and_html_are_downloads(inbox: tuple[Any, LiveServer]) -> None:
    page, server = inbox
    dialogs: list[str] = []

    def dismissed(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismissed)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    html = b"<script>alert(2)</script>"
    send_mms(
        server.url,
        "07700900123",
        "files",
        [
            ("hello.wav", "audio/wav", wav(0.5)),
            ("x.svg", "image/svg+xml", svg),
            ("y.html", "text/html", html),
        ],
    )
    player = page.wait_for_selector("audio.media[controls]", timeout=WAIT_MS)
    page.wait_for_function("a => a.duration > 0.4", arg=player, timeout=WAIT_MS)
    page.wait_for_selector("button.download >> text=x.svg", timeout=WAIT_MS)
    assert page.locator("button.download").count() == 2
    with page.expect_download() as downloading:
        page.locator("button.download", has_text="y.html").press("Enter")
    assert Path(downloading.value.path()).read_bytes() == html
    assert page.locator("img.media, iframe, object, embed").count() == 0
    assert dialogs == []


def test_markup_in_a_message_shows_literally(inbox: tuple[Any, LiveServer]) -> None:
    page, server = inbox
    dialogs: list[str] = []

    def dismissed(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismissed)
    markup = "<img src=x onerror=alert(1)>"
    assert send_sms(server.url, to="07700900123", text=markup).startswith("ID:")
    shown = page.wait_for_selector("p.text", timeout=WAIT_MS)
    assert shown.inner_text() == markup
    page.wait_for_timeout(300)  # time for an injected onerror to fire, were there one
    assert dialogs == []
    assert page.locator("img[src='x']").count() == 0
    assert markup in page.locator("#conversation-list").inner_text()


def test_a_text_cut_by_maxconcat_is_marked_truncated(inbox: tuple[Any, LiveServer]) -> None:
    page, server = inbox
    assert send_sms(server.url, to="07700900123", text="a" * 222, maxconcat="1").startswith("ID:")
    assert send_sms(server.url, to="07700900123", text="whole").startswith("ID:")
    page.wait_for_selector("text=whole", timeout=WAIT_MS)
    cut = page.locator("li.message", has_text="a" * 160)
    assert cut.locator(".truncated").inner_text() == "truncated"
    assert "maxconcat" in (cut.locator(".truncated").get_attribute("title") or "")
    assert page.locator("li.message", has_text="whole").locator(".truncated").count() == 0
    page.screenshot(path=ARTIFACTS / "inbox-truncated.png")


def test_refused_requests_appear_live_with_their_reason(inbox: tuple[Any, LiveServer]) -> None:
    page, server = inbox
    answer = httpx.post(server.url + SEND, data={"username": "demo", "password": "nope"}).text
    assert answer.startswith("ERR:")
    entry = page.wait_for_selector("#journal li.refused", timeout=WAIT_MS)
    assert "ERR:" in entry.inner_text()
    assert entry.query_selector(".reason").inner_text().strip()


def test_the_inbound_form_delivers_a_reply_the_control_api_lists(
    inbox: tuple[Any, LiveServer],
) -> None:
    page, server = inbox
    page.select_option("#reply-account", "demo")
    page.fill("#reply-from", "+447700900555")
    page.fill("#reply-text", "Yes please <b>now</b>")
    page.press("#reply-text", "Enter")  # keyboard only
    page.wait_for_selector("#reply-result[data-mode='ok']", timeout=WAIT_MS)
    listed = httpx.get(server.url + "/_sim/messages", params={"direction": "inbound"}).json()
    texts = [(m["account"], m["from"], m["text"]) for m in listed["messages"]]
    assert ("demo", "447700900555", "Yes please <b>now</b>") in texts  # as the gateway forwards it
    page.wait_for_selector(".message.in >> text=Yes please <b>now</b>", timeout=WAIT_MS)


def test_rules_switch_off_and_credit_tops_up_from_the_page(
    inbox: tuple[Any, LiveServer],
) -> None:
    page, server = inbox
    page.click("#tab-rules")  # rules share the side panel with the journal and callbacks
    toggle = page.locator(".rule", has_text="magic-gateway-error").locator("input")
    toggle.press("Space")
    page.wait_for_selector(".rule.off >> text=magic-gateway-error", timeout=WAIT_MS)
    rules = httpx.get(server.url + "/_sim/rules").json()["rules"]
    assert next(r for r in rules if r["name"] == "magic-gateway-error")["enabled"] is False
    assert send_sms(server.url, to="07700900801", text="hi").startswith("ID:")
    card = page.locator(".card", has_text="demo")
    card.locator("input.amount").fill("50")
    card.locator("button").click()
    page.wait_for_function(
        "() => document.querySelector('.card .credit').textContent.startsWith('149')",
        timeout=WAIT_MS,
    )
    credit = httpx.get(server.url + "/_sim/accounts").json()["accounts"][0]["credit"]
    assert credit.startswith("149")


def test_delivery_status_steps_appear_live(inbox: tuple[Any, LiveServer]) -> None:
    page, server = inbox
    assert send_sms(server.url, to="07700900123", text="track me", delrpt="1").startswith("ID:")
    page.wait_for_selector("text=report asked, none yet", timeout=WAIT_MS)
    httpx.post(server.url + "/_sim/clock/advance", json={"seconds": 10})
    page.wait_for_selector(".timeline li.good >> text=delivered", timeout=WAIT_MS)
    steps = page.locator(".timeline .status").all_inner_texts()
    assert steps == ["queued", "sent", "delivered"]


def test_search_by_number_or_text_from_the_keyboard(inbox: tuple[Any, LiveServer]) -> None:
    page, server = inbox
    send_sms(server.url, to="07700900456", text="Your parcel arrives today")
    send_sms(server.url, to="07700900789", text="Your code is 1234")
    page.wait_for_selector("text=Your code is 1234", timeout=WAIT_MS)
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "search"
    page.keyboard.type("parcel")
    page.wait_for_function("() => document.querySelectorAll('.message').length === 1")
    assert "parcel" in page.locator(".message").inner_text()
    page.fill("#search", "900789")
    page.wait_for_selector(".conversation >> text=+44 7700 900789", timeout=WAIT_MS)
    page.wait_for_function("() => document.querySelectorAll('.conversation').length === 2")
    assert "parcel" not in page.locator("#conversation-list").inner_text()
    page.keyboard.press("Escape")
    page.wait_for_function("() => document.querySelectorAll('.message').length === 2")
    conversation = page.locator(".conversation", has_text="+44 7700 900456")
    conversation.focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelectorAll('.message').length === 1")
    assert page.locator("#reply-from").input_value() == "447700900456"


def test_the_reset_button_empties_the_inbox(inbox: tuple[Any, LiveServer]) -> None:
    page, server = inbox
    send_sms(server.url, to="07700900123", text="soon gone")
    page.wait_for_selector("text=soon gone", timeout=WAIT_MS)
    page.click("#reset")
    page.click("#reset-confirm")  # it asks first (tests/test_inbox_busy.py tries both answers)
    page.wait_for_selector("text=soon gone", state="detached", timeout=WAIT_MS)
    assert httpx.get(server.url + "/_sim/messages").json()["messages"] == []


def test_callback_attempts_appear_live_failures_highlighted(
    browser: Any, live_server: Start
) -> None:
    receiver = Receiver()
    receiver.statuses = [500]
    server = live_server(build_app(scenario(receiver.url)))
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        page.goto(server.url + "/")
        page.wait_for_selector("#live[data-mode='on']", timeout=WAIT_MS)
        assert send_sms(server.url, to="07700900123", text="hi", delrpt="1").startswith("ID:")
        httpx.post(server.url + "/_sim/clock/advance", json={"seconds": 1})
        page.click("#tab-callbacks")
        failed = page.wait_for_selector("#callbacks li.refused", timeout=WAIT_MS)
        assert "HTTP 500" in failed.inner_text()
        assert f"{receiver.url}/status" in failed.inner_text()
        httpx.post(server.url + "/_sim/clock/advance", json={"seconds": 1})
        page.wait_for_selector("#callbacks li.accepted >> text=HTTP 200", timeout=WAIT_MS)
    finally:
        context.close()
        receiver.close()


def test_with_a_control_token_the_page_asks_for_it_and_then_works(
    browser: Any, live_server: Start
) -> None:
    app = create_app(
        load_scenario(DEFAULT_SCENARIO), clock=ManualClock(START), control_token="s3cret"
    )
    server = live_server(app)
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(server.url + "/_sim/ui")
        page.wait_for_selector("#token-form:not([hidden])", timeout=WAIT_MS)
        page.fill("#token", "s3cret")
        page.press("#token", "Enter")
        page.wait_for_selector("#live[data-mode='on']", timeout=WAIT_MS)
        assert page.evaluate("sessionStorage.getItem('gateway-sim-token')") == "s3cret"
        send_mms(server.url, "07700900123", "locked", [("a.png", "image/png", png(8, 6))])
        image = page.wait_for_selector("img.media", timeout=WAIT_MS)
        page.wait_for_function("img => img.naturalWidth === 8", arg=image, timeout=WAIT_MS)
        page.wait_for_selector(".card .username >> text=demo", timeout=WAIT_MS)
    finally:
        context.close()


def seed_traffic(url: str) -> None:
    """A little of everything, for the screenshots."""
    send_mms(
        url,
        "07700900123",
        "Holiday snaps",
        [("beach.png", "image/png", png(240, 140)), ("note.txt", "text/plain", b"Arrived!")],
    )
    httpx.post(
        url + "/_sim/inbound",
        json={"account": "demo", "from": "447700900123", "text": "Got it, thanks!"},
    )
    send_sms(url, to="07700900123", text="Your code is 482913", delrpt="1")
    send_sms(url, to="07700900456", text="Your parcel arrives today between 10:00 and 12:00.")
    send_sms(url, to="07700900789", type="4", href="https://example.com/offer", text="Offer")
    send_sms(url, to="07700900801", text="this one hits a rule")
    httpx.post(url + SEND, data={"username": "demo", "password": "wrong", "to": "1", "text": "x"})
    httpx.post(url + "/_sim/clock/advance", json={"seconds": 10})


def test_screenshots_at_desktop_and_phone_widths(browser: Any, live_server: Start) -> None:
    server = live_server(build_app())
    seed_traffic(server.url)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name, viewport in (
        ("desktop", {"width": 1280, "height": 800}),
        ("phone", {"width": 390, "height": 844}),
    ):
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        page.goto(server.url + "/_sim/ui")
        page.wait_for_selector("#live[data-mode='on']", timeout=WAIT_MS)
        page.wait_for_selector("text=Holiday snaps", state="attached", timeout=WAIT_MS)
        page.click(".conversation >> text=+44 7700 900123")
        page.wait_for_function(
            "() => [...document.images].every(img => img.complete)"
            " && !document.querySelector('.loading')",
            timeout=WAIT_MS,
        )
        path = ARTIFACTS / f"inbox-{name}.png"
        page.screenshot(path=str(path))
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], f"{name}: the page scrolls sideways ({width} px)"
        context.close()
        assert path.stat().st_size > 10_000
