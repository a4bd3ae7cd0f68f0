"""examples/fastapi_chat as its README says to run it: ``duplex serve chat:ChatServer --path /chat
--asgi app:app``, started from that folder as a real process (the ``duplex`` script, ``--port 0``).

With httpx: the FastAPI app serves the page and its REST routes (the rooms and their counts, a
message posted to a room, FastAPI's 404 and 422 answers). With the ``websockets`` client: members
chat through the 4D-style server at /chat, each room hearing only its own messages; a
``POST /api/messages`` reaches the WebSocket clients of that room only; a client without a name, or
naming no room, is refused. Ctrl-C closes the clients with 1001 and exits 0 without a traceback,
and the app alone (``--asgi app:app`` without the handler) answers 503 on its REST routes.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from cli.serve_process import TIMEOUT, ServeProcess
from examples.fastapi_chat_process import COMMAND, EXAMPLE, ROOMS, join, receive, said, start_example

pytestmark = pytest.mark.timeout(60)

# How long a closed client may still count in a room (the server sees the close after the client).
SETTLE = 5.0


@pytest.fixture(scope="module")
def served() -> Iterator[ServeProcess]:
    """The example, serving; killed at the end of the module."""
    with start_example() as process:
        url = process.wait_until_serving()
        assert url == f"ws://127.0.0.1:{process.port}/chat"
        process.wait_for(r"the ASGI application app:app answers", streams=("stdout",), timeout=0)
        yield process


@pytest.fixture
def http(served: ServeProcess) -> Iterator[httpx.Client]:
    """An httpx client of the example, once every room is empty (what earlier tests left is gone)."""
    with httpx.Client(base_url=served.http_url, timeout=TIMEOUT, trust_env=False) as client:
        wait_for_counts(client, {})
        yield client


def wait_for_counts(http: httpx.Client, expected: dict[str, int]) -> None:
    """Wait until ``GET /api/rooms`` gives ``expected`` (the rooms not named: 0)."""
    want = {"rooms": [{"name": room, "count": expected.get(room, 0)} for room in ROOMS]}
    deadline = time.monotonic() + SETTLE
    while True:
        response = http.get("/api/rooms")
        assert response.status_code == 200, response.text
        if response.json() == want or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert response.json() == want


# -- the documentation ---------------------------------------------------------------------------------


def test_readme_and_docstring_give_the_command_tested_here() -> None:
    documented = f"cd examples/fastapi_chat && {COMMAND}"
    assert documented in (EXAMPLE / "README.md").read_text(encoding="utf-8")
    app_source = (EXAMPLE / "app.py").read_text(encoding="utf-8")
    docstring = app_source.split('"""', 2)[1]
    assert documented in docstring


# -- the FastAPI app -----------------------------------------------------------------------------------


def test_the_page_is_served_by_the_app(http: httpx.Client) -> None:
    response = http.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["server"] == "duplex"
    page = response.text
    assert page.startswith("<!doctype html>")
    assert page == (EXAMPLE / "index.html").read_text(encoding="utf-8")  # read by the lifespan
    for used in ('"/chat?"', '"/api/rooms"', '"/api/messages"'):
        assert used in page


def test_rooms_route_counts_the_members_of_each_room(served: ServeProcess, http: httpx.Client) -> None:
    with join(served, "Ada"):
        wait_for_counts(http, {"lobby": 1})
        with join(served, "Bob", "python"), join(served, "Cy", "python"):
            wait_for_counts(http, {"lobby": 1, "python": 2})
        wait_for_counts(http, {"lobby": 1})
    wait_for_counts(http, {})


def test_post_answers_404_for_no_room_and_422_for_a_bad_body(http: httpx.Client) -> None:
    response = http.post("/api/messages", json={"room": "kitchen", "text": "hello?"})
    assert response.status_code == 404
    assert response.json() == {"detail": "there is no room 'kitchen': the rooms are lobby, python, random"}
    for body in (
        {"room": "lobby", "text": ""},
        {"room": "lobby", "text": "   "},
        {"room": "lobby"},
        {"text": "where?"},
        {"room": "lobby", "text": "hi", "name": "x" * 33},
        {"room": "lobby", "text": "x" * 2001},
    ):
        response = http.post("/api/messages", json=body)
        assert response.status_code == 422, body
        assert response.json()["detail"][0]["type"] in ("missing", "string_too_short", "string_too_long")
    response = http.post("/api/messages", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    # A room nobody is in: posted, to no one.
    response = http.post("/api/messages", json={"room": "random", "text": "anyone?"})
    assert response.status_code == 201
    assert response.json() == {"room": "random", "delivered": 0}


# -- the chat at /chat ---------------------------------------------------------------------------------


def test_two_clients_chat_through_the_websocket_server(served: ServeProcess, http: httpx.Client) -> None:
    with join(served, "Ada") as (ada, welcome_ada):
        assert welcome_ada["members"] == ["Ada"]
        with join(served, "Bob", "lobby") as (bob, welcome_bob):
            assert welcome_bob["members"] == ["Ada", "Bob"]
            assert welcome_ada["id"] != welcome_bob["id"]
            assert receive(ada) == {"type": "joined", "name": "Bob", "room": "lobby"}

            bob.send("Hello Ada ✓ 👋")
            expected = said(welcome_bob["id"], "Bob", "lobby", "Hello Ada ✓ 👋")
            assert receive(ada) == expected
            assert receive(bob) == expected  # the sender hears its own message: the page shows it
            ada.send("Hi Bob")
            expected = said(welcome_ada["id"], "Ada", "lobby", "Hi Bob")
            assert receive(bob) == expected
            assert receive(ada) == expected
            ada.send("   ")  # blank: said nowhere
            ada.send("still there?")
            assert receive(bob)["text"] == "still there?"
            assert receive(ada)["text"] == "still there?"
        assert receive(ada) == {"type": "left", "name": "Bob", "room": "lobby"}


def test_rooms_hear_only_their_own_messages(served: ServeProcess, http: httpx.Client) -> None:
    with join(served, "Ada", "lobby") as (ada, _), join(served, "Cy", "python") as (cy, welcome_cy):
        assert welcome_cy["members"] == ["Cy"]  # Ada is in the lobby
        ada.send("lobby only")
        assert receive(ada)["text"] == "lobby only"
        cy.send("python only")
        assert receive(cy) == said(welcome_cy["id"], "Cy", "python", "python only")
        ada.send("lobby again")
        assert receive(ada)["text"] == "lobby again"  # not "python only"
        with pytest.raises(TimeoutError):
            cy.recv(timeout=0.2)  # nor "lobby only" / "lobby again"


def test_a_post_reaches_the_websocket_clients_of_its_room(served: ServeProcess, http: httpx.Client) -> None:
    with (
        join(served, "Ada", "lobby") as (ada, _),
        join(served, "Bob", "lobby") as (bob, welcome_bob),
        join(served, "Cy", "python") as (cy, _),
    ):
        assert receive(ada)["type"] == "joined"
        response = http.post("/api/messages", json={"room": "lobby", "text": "deploy done", "name": "ops"})
        assert response.status_code == 201
        assert response.json() == {"room": "lobby", "delivered": 2}
        assert receive(ada) == said(None, "ops", "lobby", "deploy done")
        assert receive(bob) == said(None, "ops", "lobby", "deploy done")

        # Without a name it comes from "REST API"; the text is stripped.
        response = http.post("/api/messages", json={"room": "python", "text": "  tests pass  "})
        assert response.json() == {"room": "python", "delivered": 1}
        # Cy's first message since its welcome: the lobby's post never reached it.
        assert receive(cy) == said(None, "REST API", "python", "tests pass")
        # Nor the python post the lobby: Bob's next message comes first.
        bob.send("after the posts")
        assert receive(ada) == said(welcome_bob["id"], "Bob", "lobby", "after the posts")


def test_a_client_without_a_name_or_room_is_refused(served: ServeProcess) -> None:
    for query, status, reason in (
        ("", 400, b"say who you are"),
        ("?name=%20", 400, b"say who you are"),
        ("?name=Ada&name=Bob", 400, b"say who you are"),
        (f"?name={'x' * 33}", 400, b"say who you are"),
        ("?name=Ada&room=kitchen", 404, b"there is no room 'kitchen'"),
    ):
        with (
            pytest.raises(InvalidStatus) as refused,
            connect(served.ws_url + query, open_timeout=TIMEOUT, proxy=None),
        ):
            pass
        assert refused.value.response.status_code == status, query
        assert reason in (refused.value.response.body or b""), query


# -- stopping, and the app alone -----------------------------------------------------------------------


def test_ctrl_c_closes_the_chat_with_1001_and_exits_0() -> None:
    with start_example() as process:
        process.wait_until_serving()
        with join(process, "Ada") as (ws, _):
            process.send_signal(signal.SIGINT)
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=TIMEOUT)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1001
        assert process.wait() == 0, process.output()
        assert "Traceback" not in process.output()


def test_the_app_alone_answers_503_on_its_rest_routes() -> None:
    """``--asgi app:app`` without ``chat:ChatServer``: the page, but no chat for the REST routes."""
    with start_example(args=("--asgi", "app:app")) as process:
        address = process.wait_for(r"serving (http://127\.0\.0\.1:\d+/)", streams=("stdout",)).group(1)
        process.wait_for(r"press Ctrl-C to stop", streams=("stdout",))
        assert not any("WebSocket at" in line for line in process.lines())
        with httpx.Client(base_url=address, timeout=TIMEOUT, trust_env=False) as http:
            assert http.get("/").status_code == 200
            for response in (
                http.get("/api/rooms"),
                http.post("/api/messages", json={"room": "lobby", "text": "hi"}),
            ):
                assert response.status_code == 503
                assert "duplex serve chat:ChatServer --path /chat --asgi app:app" in response.json()["detail"]
