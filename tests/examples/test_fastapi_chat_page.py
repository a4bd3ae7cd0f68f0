"""examples/fastapi_chat's page in headless Chromium, served by ``duplex serve chat:ChatServer
--path /chat --asgi app:app`` (a real process, from the example's folder).

Two pages get the page from the FastAPI app and its rooms from ``GET /api/rooms``, join the lobby
through ``ws://HOST/chat`` and chat with each other; each page's room counts follow who joins and
leaves. Bob's page posts to the python room with its REST form (``POST /api/messages``): a
WebSocket client in that room gets it, and neither page (both in the lobby) shows it. Ada's page
posts to the lobby: both pages show it, marked as REST. A screenshot is saved to
``test-artifacts/fastapi-chat.png``.

Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright, as in tests/demo/test_chat_page.py;
without it this test fails (it does not skip) and says how to install it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, LocatorAssertions, Page, expect

from browser import launch_chromium
from cli.serve_process import ServeProcess
from examples.fastapi_chat_process import ROOMS, join, receive, said, start_example

pytestmark = pytest.mark.timeout(90)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# Playwright's default for every action and expectation, in milliseconds.
PAGE_TIMEOUT = 10_000

expect.set_options(timeout=PAGE_TIMEOUT)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch_chromium()


@pytest.fixture
def served() -> Iterator[ServeProcess]:
    """The example, serving; killed afterwards."""
    with start_example() as process:
        process.wait_until_serving()
        yield process


def open_page(browser: Browser, url: str, failures: list[str]) -> Page:
    """A new page in its own context at ``url``, once it has listed the rooms (``GET /api/rooms``).
    Responses of 400 and over, and the page's errors, are added to ``failures``."""
    context = browser.new_context(viewport={"width": 900, "height": 600})
    context.set_default_timeout(PAGE_TIMEOUT)
    page = context.new_page()
    page.on("response", lambda r: failures.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("pageerror", lambda error: failures.append(f"page error: {error}"))
    page.goto(url)
    expect(page.locator("#rooms li .name")).to_have_text(ROOMS)
    expect(page.locator("#room option")).to_have_text(ROOMS)
    return page


def enter(page: Page, name: str, room: str) -> None:
    page.fill("#name", name)
    page.select_option("#room", room)
    page.click("#join")
    expect(page.locator("#status")).to_have_class(re.compile(r"\bonline\b"))
    expect(page.locator("#messages li.notice").last).to_have_text(f"You joined {room} as {name}")
    expect(page.locator("#chat-form")).to_be_visible()


def count_of(page: Page, room: str) -> LocatorAssertions:
    """The expectations of ``room``'s count in the page's list of rooms."""
    return expect(page.locator(f'#rooms li[data-room="{room}"] .count'))


def say(page: Page, text: str) -> None:
    page.fill("#text", text)
    page.click("#send")
    expect(page.locator("#text")).to_have_value("")


def post(page: Page, room: str, text: str) -> None:
    """Post ``text`` to ``room`` with the page's REST form."""
    page.select_option("#post-room", room)
    page.fill("#post-text", text)
    page.click("#post")


def expect_message(page: Page, who: str, text: str, kind: str = "") -> None:
    """``page`` shows ``text`` once, labelled ``who``; ``kind``: "mine", "rest" or "" (another's)."""
    selector = f"#messages li.{kind}" if kind else "#messages li:not(.notice):not(.mine):not(.rest)"
    item = page.locator(selector, has_text=text)
    expect(item).to_have_count(1)
    expect(item.locator(".who")).to_have_text(who)


def test_two_pages_chat_and_a_rest_post_reaches_its_room(browser: Browser, served: ServeProcess) -> None:
    failures: list[str] = []
    ada = open_page(browser, served.http_url, failures)
    bob = open_page(browser, served.http_url, failures)
    try:
        enter(ada, "Ada", "lobby")
        count_of(ada, "lobby").to_have_text("1")
        enter(bob, "Bob", "lobby")
        expect(ada.locator("#messages li.notice", has_text="Bob joined")).to_have_count(1)
        # Each page asks GET /api/rooms again when someone joins.
        count_of(ada, "lobby").to_have_text("2")
        count_of(bob, "lobby").to_have_text("2")

        say(ada, "Hello Bob, from FastAPI's page")
        expect_message(bob, "Ada", "Hello Bob, from FastAPI's page")
        expect_message(ada, "Ada", "Hello Bob, from FastAPI's page", "mine")
        reply = "Hi Ada! <b>not bold</b> & ça marche 👋"
        say(bob, reply)
        expect_message(ada, "Bob", reply)
        expect_message(bob, "Bob", reply, "mine")
        expect(ada.locator("#messages b")).to_have_count(0)  # text stays text

        with join(served, "Cy", "python") as (cy, _):
            # Bob's page posts to the python room: Cy hears it, the lobby's pages do not.
            post(bob, "python", "ping the python room")
            expect(bob.locator("#post-result")).to_have_text("Posted to python: 1 listening")
            assert receive(cy) == said(None, "Bob", "python", "ping the python room")
            count_of(bob, "python").to_have_text("1")  # the page asks for the counts after a post

            # Ada's page posts to the lobby: both pages show it, marked as coming through REST.
            post(ada, "lobby", "Lunch at noon, posted over REST")
            expect(ada.locator("#post-result")).to_have_text("Posted to lobby: 2 listening")
            for page in (ada, bob):
                expect_message(page, "Ada (REST)", "Lunch at noon, posted over REST", "rest")
                expect(page.locator("#messages li", has_text="ping the python room")).to_have_count(0)
            assert failures == []

            # An empty post: FastAPI's 422, said on the page.
            post(ada, "lobby", "   ")
            expect(ada.locator("#post-result")).to_have_text("Not posted: write a message first")
            assert [failure.split()[0] for failure in failures] == ["422"]

        ARTIFACTS.mkdir(exist_ok=True)
        ada.screenshot(path=str(ARTIFACTS / "fastapi-chat.png"))

        bob.context.close()
        expect(ada.locator("#messages li.notice", has_text="Bob left")).to_have_count(1)
        count_of(ada, "lobby").to_have_text("1")
    finally:
        for page in (ada, bob):
            page.context.close()
