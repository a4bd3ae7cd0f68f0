"""The chat demo's server side (``duplex.demo.chat``), driven by real ``websockets`` clients, and
the files it serves (the page and its icon).

The demo runs in-process here (a ``WebServer`` on a free port with ``ChatServer`` at /ws, dataType
"object", as ``duplex serve`` sets it up); ``test_chat_page.py`` drives it from a browser. Whoever
does not pick a room is in the lobby, so the tests before "rooms" below all happen there.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

import duplex
from duplex.demo import STATIC_FOLDER, ChatServer
from duplex.demo.chat import MAX_NAME, MAX_TEXT, ROOMS

pytestmark = pytest.mark.timeout(60)

TIMEOUT = 5.0
# How long to wait to be sure that nothing arrives.
QUIET = 0.3


@pytest.fixture
def demo_web() -> Iterator[duplex.WebServer]:
    """A running chat demo (page and WebSocket server); stopped afterwards."""
    web = duplex.WebServer()
    result = web.start({"HTTPPort": 0, "IPAddressToListen": "127.0.0.1", "rootFolder": str(STATIC_FOLDER)})
    assert result["success"], result
    try:
        duplex.WebSocketServer(ChatServer(), {"path": "/ws", "dataType": "object", "webServer": web})
        yield web
    finally:
        web.stop()


@pytest.fixture
def chat_url(demo_web: duplex.WebServer) -> str:
    """The WebSocket URL of the running chat demo."""
    return f"ws://127.0.0.1:{demo_web.HTTPPort}/ws"


@pytest.fixture
def client(chat_url: str) -> Iterator[Callable[[], ClientConnection]]:
    """``client()`` opens a connection to the chat; every one is closed afterwards."""
    with ExitStack() as opened:

        def open_one() -> ClientConnection:
            return opened.enter_context(connect(chat_url, open_timeout=TIMEOUT, close_timeout=TIMEOUT))

        yield open_one


def send(connection: ClientConnection, message: Any) -> None:
    connection.send(json.dumps(message))


def receive(connection: ClientConnection) -> Any:
    return json.loads(connection.recv(timeout=TIMEOUT))


def assert_quiet(connection: ClientConnection) -> None:
    """Nothing arrives on ``connection`` for a moment."""
    with pytest.raises(TimeoutError):
        connection.recv(timeout=QUIET)


def join(connection: ClientConnection, name: str, room: str | None = None) -> Any:
    """Join as ``name`` (in ``room``, or where the connection is: the lobby by default); the answer."""
    send(
        connection,
        {"type": "join", "name": name} if room is None else {"type": "join", "name": name, "room": room},
    )
    return receive(connection)


def welcome(name: str, users: list[str], room: str = "lobby") -> dict[str, Any]:
    """The welcome of one who joined ``room`` as ``name``, ``users`` being there."""
    return {"type": "welcome", "name": name, "room": room, "rooms": list(ROOMS), "users": users}


def entered(room: str, users: list[str]) -> dict[str, Any]:
    """The answer to ``{"type": "room", "room": room}``."""
    return {"type": "room", "room": room, "rooms": list(ROOMS), "users": users}


def test_first_member_is_welcomed_alone(client: Callable[[], ClientConnection]) -> None:
    ada = client()
    assert join(ada, "Ada") == welcome("Ada", ["Ada"])


def test_others_hear_who_joined(client: Callable[[], ClientConnection]) -> None:
    ada = client()
    join(ada, "Ada")
    bob = client()
    assert join(bob, "Bob") == welcome("Bob", ["Ada", "Bob"])
    assert receive(ada) == {"type": "joined", "name": "Bob", "users": ["Ada", "Bob"]}
    assert_quiet(bob)  # the newcomer gets "welcome" only, not its own "joined"


def test_said_reaches_everyone_sender_included(client: Callable[[], ClientConnection]) -> None:
    ada = client()
    join(ada, "Ada")
    bob = client()
    join(bob, "Bob")
    receive(ada)  # Bob joined
    send(ada, {"type": "say", "text": "hello Bob"})
    assert receive(ada) == {"type": "said", "name": "Ada", "text": "hello Bob"}
    assert receive(bob) == {"type": "said", "name": "Ada", "text": "hello Bob"}
    send(bob, {"type": "say", "text": "hi Ada, ça va ? 👋"})
    assert receive(bob) == {"type": "said", "name": "Bob", "text": "hi Ada, ça va ? 👋"}
    assert receive(ada) == {"type": "said", "name": "Bob", "text": "hi Ada, ça va ? 👋"}


def test_those_left_hear_who_left(client: Callable[[], ClientConnection]) -> None:
    ada = client()
    join(ada, "Ada")
    bob = client()
    join(bob, "Bob")
    receive(ada)
    eve = client()
    join(eve, "Eve")
    receive(ada)
    receive(bob)
    bob.close()
    assert receive(ada) == {"type": "left", "name": "Bob", "users": ["Ada", "Eve"]}
    assert receive(eve) == {"type": "left", "name": "Bob", "users": ["Ada", "Eve"]}


def test_leaving_without_joining_is_not_announced(client: Callable[[], ClientConnection]) -> None:
    ada, lurker = client(), client()
    join(ada, "Ada")
    lurker.close()
    assert_quiet(ada)


def test_saying_before_joining_is_ignored(client: Callable[[], ClientConnection]) -> None:
    ada = client()
    join(ada, "Ada")
    stranger = client()
    send(stranger, {"type": "say", "text": "anyone?"})
    assert_quiet(ada)
    assert_quiet(stranger)


def test_joining_twice_keeps_the_first_name(client: Callable[[], ClientConnection]) -> None:
    ada = client()
    join(ada, "Ada")
    send(ada, {"type": "join", "name": "Mallory"})
    assert_quiet(ada)
    bob = client()
    assert join(bob, "Bob") == welcome("Bob", ["Ada", "Bob"])
    send(ada, {"type": "say", "text": "still Ada"})
    assert receive(bob)["name"] == "Ada"


def test_a_tab_that_has_not_joined_sees_the_room(client: Callable[[], ClientConnection]) -> None:
    """A tab is in the lobby from the start: the page shows the room before its user joins."""
    watcher = client()
    ada = client()
    join(ada, "Ada")
    assert receive(watcher) == {"type": "joined", "name": "Ada", "users": ["Ada"]}
    send(ada, {"type": "say", "text": "hi"})
    assert receive(watcher) == {"type": "said", "name": "Ada", "text": "hi"}


def test_blank_messages_are_not_sent(client: Callable[[], ClientConnection]) -> None:
    ada = client()
    join(ada, "Ada")
    for text in ("", "   ", "\n\t"):
        send(ada, {"type": "say", "text": text})
    send(ada, {"type": "say"})
    assert_quiet(ada)


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("  Ada  ", "Ada"),
        ("", "guest"),
        ("   ", "guest"),
        (None, "guest"),
        ("x" * 100, "x" * MAX_NAME),
        ("<b>Ada</b>", "<b>Ada</b>"),
    ],
    ids=["trimmed", "empty", "blank", "null", "too-long", "html-as-is"],
)
def test_names_are_tidied(given: Any, shown: str, client: Callable[[], ClientConnection]) -> None:
    ada = client()
    assert join(ada, given) == welcome(shown, [shown])


def test_long_text_is_cut(client: Callable[[], ClientConnection]) -> None:
    ada = client()
    join(ada, "Ada")
    send(ada, {"type": "say", "text": "y" * (MAX_TEXT + 500)})
    assert receive(ada)["text"] == "y" * MAX_TEXT


@pytest.mark.parametrize(
    "message",
    [["join", "Ada"], "join", 42, None, {"type": "dance"}, {"no": "type"}],
    ids=["list", "string", "number", "null", "unknown-type", "no-type"],
)
def test_other_json_is_ignored(message: Any, client: Callable[[], ClientConnection]) -> None:
    ada = client()
    join(ada, "Ada")
    other = client()
    send(other, message)
    assert_quiet(ada)
    assert_quiet(other)
    assert join(other, "Bob")["type"] == "welcome"  # still connected and usable


def test_invalid_json_closes_with_1007(client: Callable[[], ClientConnection]) -> None:
    ada = client()
    ada.send("{not json")
    with pytest.raises(ConnectionClosed) as closed:
        ada.recv(timeout=TIMEOUT)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1007


# -- unique names --------------------------------------------------------------------------------------


def test_a_second_member_with_the_same_name_gets_a_unique_one(client: Callable[[], ClientConnection]) -> None:
    """Pages mark their own messages by name: two members must never share one."""
    first = client()
    assert join(first, "Ada")["name"] == "Ada"
    second = client()
    assert join(second, "Ada") == welcome("Ada (2)", ["Ada", "Ada (2)"])
    assert receive(first) == {"type": "joined", "name": "Ada (2)", "users": ["Ada", "Ada (2)"]}
    third = client()
    assert join(third, "  ada ")["name"] == "ada (3)"  # names differ in more than case
    receive(first)
    receive(second)
    send(second, {"type": "say", "text": "from the second tab"})
    for member in (first, second, third):
        assert receive(member) == {"type": "said", "name": "Ada (2)", "text": "from the second tab"}


def test_a_name_is_free_again_once_its_member_left(client: Callable[[], ClientConnection]) -> None:
    first = client()
    join(first, "Ada")
    first.close()
    again = client()
    assert join(again, "Ada") == welcome("Ada", ["Ada"])


def test_a_unique_name_stays_within_the_length_limit(client: Callable[[], ClientConnection]) -> None:
    long_name = "x" * 100
    join(client(), long_name)
    second = join(client(), long_name)["name"]
    assert second == "x" * (MAX_NAME - 4) + " (2)"
    assert len(second) == MAX_NAME


# -- rooms ---------------------------------------------------------------------------------------------


def test_rooms_do_not_hear_each_other(client: Callable[[], ClientConnection]) -> None:
    ada = client()
    assert join(ada, "Ada") == welcome("Ada", ["Ada"])
    bob = client()
    assert join(bob, "Bob", room="python") == welcome("Bob", ["Bob"], room="python")
    assert_quiet(ada)  # Bob joined another room
    send(bob, {"type": "say", "text": "only python hears this"})
    assert receive(bob) == {"type": "said", "name": "Bob", "text": "only python hears this"}
    send(ada, {"type": "say", "text": "only the lobby hears this"})
    assert receive(ada) == {"type": "said", "name": "Ada", "text": "only the lobby hears this"}
    assert_quiet(ada)
    assert_quiet(bob)
    bob.close()
    assert_quiet(ada)  # nor that he left


def test_a_member_who_moves_is_left_by_one_room_and_joins_the_other(
    client: Callable[[], ClientConnection],
) -> None:
    ada = client()
    join(ada, "Ada")
    bob = client()
    join(bob, "Bob")
    receive(ada)  # Bob joined
    eve = client()
    join(eve, "Eve", room="python")

    send(ada, {"type": "room", "room": "python"})
    assert receive(ada) == entered("python", ["Ada", "Eve"])
    assert receive(bob) == {"type": "left", "name": "Ada", "users": ["Bob"]}
    assert receive(eve) == {"type": "joined", "name": "Ada", "users": ["Ada", "Eve"]}
    assert_quiet(ada)  # no "left" or "joined" about itself

    send(ada, {"type": "say", "text": "hi Eve"})
    assert receive(ada) == {"type": "said", "name": "Ada", "text": "hi Eve"}
    assert receive(eve) == {"type": "said", "name": "Ada", "text": "hi Eve"}
    assert_quiet(bob)

    ada.close()  # she leaves the room she is in, not the one she joined
    assert receive(eve) == {"type": "left", "name": "Ada", "users": ["Eve"]}
    assert_quiet(bob)


def test_moving_to_the_room_one_is_in_only_answers(client: Callable[[], ClientConnection]) -> None:
    ada = client()
    join(ada, "Ada")
    bob = client()
    join(bob, "Bob")
    receive(ada)
    send(ada, {"type": "room", "room": "lobby"})
    assert receive(ada) == entered("lobby", ["Ada", "Bob"])
    assert_quiet(bob)


def test_a_tab_picks_its_room_before_joining(client: Callable[[], ClientConnection]) -> None:
    """A tab that has not joined sees the room it picked, and is not one of its users."""
    ada, bob, watcher = client(), client(), client()
    join(ada, "Ada", room="random")
    send(watcher, {"type": "room", "room": "random"})
    assert receive(watcher) == entered("random", ["Ada"])
    send(watcher, {"type": "room", "room": "python"})
    assert receive(watcher) == entered("python", [])
    assert_quiet(ada)  # a tab without a name comes and goes unannounced

    join(bob, "Bob", room="python")
    assert receive(watcher) == {"type": "joined", "name": "Bob", "users": ["Bob"]}
    send(ada, {"type": "say", "text": "in random"})
    send(bob, {"type": "say", "text": "in python"})
    assert receive(watcher) == {"type": "said", "name": "Bob", "text": "in python"}
    assert_quiet(watcher)
    receive(bob)

    # Joining without a room joins the one the tab is in.
    assert join(watcher, "Eve") == welcome("Eve", ["Bob", "Eve"], room="python")
    assert receive(bob) == {"type": "joined", "name": "Eve", "users": ["Bob", "Eve"]}


def test_a_join_naming_a_room_moves_the_tab_there(client: Callable[[], ClientConnection]) -> None:
    ada, bob = client(), client()
    send(ada, {"type": "room", "room": "python"})
    receive(ada)
    join(bob, "Bob")  # in the lobby
    assert join(ada, "Ada", room="lobby") == welcome("Ada", ["Ada", "Bob"])
    assert receive(bob) == {"type": "joined", "name": "Ada", "users": ["Ada", "Bob"]}


def test_names_are_unique_across_rooms(client: Callable[[], ClientConnection]) -> None:
    ada = client()
    join(ada, "Ada")
    other = client()
    assert join(other, "ada", room="random") == welcome("ada (2)", ["ada (2)"], room="random")


BAD_ROOMS = [
    pytest.param("kitchen", '"kitchen"', id="unknown"),
    pytest.param("Lobby", '"Lobby"', id="wrong-case"),
    pytest.param("room:lobby", '"room:lobby"', id="topic-name"),
    pytest.param("", '""', id="empty"),
    pytest.param(5, "5", id="number"),
    pytest.param(["lobby"], '["lobby"]', id="list"),
    pytest.param({"room": "lobby"}, '{"room": "lobby"}', id="object"),
    pytest.param("x" * 10_000, '"' + "x" * 30 + "…", id="huge"),
]


def no_such_room(shown: str) -> dict[str, Any]:
    return {"type": "error", "text": f"there is no room {shown}: the rooms are lobby, python, random"}


@pytest.mark.parametrize(("room", "shown"), [*BAD_ROOMS, pytest.param(None, "null", id="null")])
def test_moving_to_no_room_is_refused_and_the_member_stays(
    room: Any, shown: str, client: Callable[[], ClientConnection]
) -> None:
    ada, bob = client(), client()
    join(ada, "Ada", room="python")
    join(bob, "Bob", room="python")
    receive(ada)
    send(ada, {"type": "room", "room": room})
    assert receive(ada) == no_such_room(shown)
    assert_quiet(bob)
    send(ada, {"type": "say", "text": "still here"})  # still in python, and served
    assert receive(bob) == {"type": "said", "name": "Ada", "text": "still here"}
    assert receive(ada)["text"] == "still here"


def test_a_room_message_without_a_room_is_refused(client: Callable[[], ClientConnection]) -> None:
    ada = client()
    send(ada, {"type": "room"})
    assert receive(ada) == no_such_room("null")
    assert join(ada, "Ada") == welcome("Ada", ["Ada"])


@pytest.mark.parametrize(("room", "shown"), BAD_ROOMS)
def test_joining_no_room_is_refused_and_joins_nobody(
    room: Any, shown: str, client: Callable[[], ClientConnection]
) -> None:
    bob = client()
    join(bob, "Bob")
    ada = client()
    send(ada, {"type": "join", "name": "Ada", "room": room})
    assert receive(ada) == no_such_room(shown)
    assert_quiet(bob)
    send(ada, {"type": "say", "text": "not a member"})
    assert_quiet(bob)
    # The name was not taken, and the tab can join again.
    assert join(ada, "Ada") == welcome("Ada", ["Bob", "Ada"])
    assert receive(bob) == {"type": "joined", "name": "Ada", "users": ["Bob", "Ada"]}


def test_a_join_with_a_null_room_joins_the_tab_s_room(client: Callable[[], ClientConnection]) -> None:
    ada = client()
    send(ada, {"type": "join", "name": "Ada", "room": None})
    assert receive(ada) == welcome("Ada", ["Ada"])


# -- the static files -------------------------------------------------------------------------------------


def test_the_page_links_an_icon_that_is_served(demo_web: duplex.WebServer) -> None:
    base = f"http://127.0.0.1:{demo_web.HTTPPort}/"
    with urllib.request.urlopen(base, timeout=TIMEOUT) as response:
        assert '<link rel="icon" href="favicon.ico">' in response.read().decode()
    with urllib.request.urlopen(base + "favicon.ico", timeout=TIMEOUT) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "image/vnd.microsoft.icon"
        icon = response.read()
    # An ICO file: reserved 0, type 1 (icon), then its images (16x16 and 32x32).
    assert icon[:4] == b"\0\0\1\0"
    assert icon[4] >= 1
    assert icon == (STATIC_FOLDER / "favicon.ico").read_bytes()
