"""Tests for duplex.http.routing: which endpoint a request path goes to.

``Router`` maps exact paths, prefix patterns ("/x/*", which also match "/x") and the catch-all
(None) to endpoints, with exact > longer prefix > shorter prefix > catch-all; ``match_specific``
leaves the catch-all out; a route can be registered once; ``remove`` forgets one; a router is true
when it has any route. ``validate_route`` says which paths are routes at all. The module does no
I/O, so these are plain unit tests; routing through a running server is in test_upgrade.py and
tests/server/test_websocket_server.py.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from duplex.http.routing import Router, validate_route


def router_with(*routes: str | None) -> Router[str]:
    """A router whose endpoint for each route is the route's own name ("<catch-all>" for None)."""
    router: Router[str] = Router()
    for route in routes:
        router.add(route, "<catch-all>" if route is None else route)
    return router


# -- validate_route ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "route", [None, "/", "/chat", "/a/b/c", "/rooms/*", "/*", "/with-dash_and.dot", "/%20"]
)
def test_valid_routes_pass_validation_and_can_be_added(route: str | None) -> None:
    validate_route(route)
    router: Router[str] = Router()
    router.add(route, "endpoint")
    assert router


@pytest.mark.parametrize("route", ["", "chat", "chat/", "*", "ws://host/chat", " /chat"])
def test_a_route_not_starting_with_a_slash_is_refused(route: str) -> None:
    with pytest.raises(ValueError, match="must be None or a string starting with '/'") as caught:
        validate_route(route)
    assert repr(route) in str(caught.value)


@pytest.mark.parametrize("route", [b"/chat", 42, ["/chat"]])
def test_a_route_that_is_not_a_string_is_refused(route: Any) -> None:
    with pytest.raises(ValueError, match=re.escape(f"got {route!r}")):
        validate_route(route)


@pytest.mark.parametrize("route", ["/chat?room=1", "/chat#top", "/?", "/#"])
def test_a_route_with_a_query_or_fragment_is_refused(route: str) -> None:
    with pytest.raises(ValueError, match="must not contain '\\?' or '#'") as caught:
        validate_route(route)
    assert repr(route) in str(caught.value)
    assert "matched against the path only" in str(caught.value)


@pytest.mark.parametrize("route", ["/rooms*", "/*/x", "/a*b", "/rooms/**", "/**"])
def test_a_star_anywhere_but_a_final_slash_star_is_refused(route: str) -> None:
    with pytest.raises(ValueError, match="'\\*' is only allowed as a final '/\\*'") as caught:
        validate_route(route)
    assert repr(route) in str(caught.value)


def test_adding_an_invalid_route_raises_and_registers_nothing() -> None:
    router: Router[str] = Router()
    with pytest.raises(ValueError):
        router.add("chat", "endpoint")
    assert not router
    assert router.match("chat") is None
    assert router.match("/chat") is None


# -- matching ----------------------------------------------------------------------------------


def test_an_exact_route_matches_only_its_own_path() -> None:
    router = router_with("/chat")
    assert router.match("/chat") == "/chat"
    for path in ["/chat/", "/chat/x", "/chats", "/cha", "/", "/CHAT"]:
        assert router.match(path) is None, path


def test_the_root_route_matches_only_the_root() -> None:
    router = router_with("/")
    assert router.match("/") == "/"
    assert router.match("/x") is None
    assert router.match("") is None


def test_a_prefix_route_matches_below_it_and_itself() -> None:
    router = router_with("/rooms/*")
    for path in ["/rooms", "/rooms/", "/rooms/a", "/rooms/a/b", "/rooms/a/b/"]:
        assert router.match(path) == "/rooms/*", path


def test_a_prefix_route_matches_whole_segments_only() -> None:
    router = router_with("/rooms/*")
    for path in ["/roomsx", "/rooms-a", "/room", "/", "/other/rooms/a"]:
        assert router.match(path) is None, path


def test_the_root_prefix_matches_every_path() -> None:
    router = router_with("/*")
    for path in ["/", "/a", "/a/b/c"]:
        assert router.match(path) == "/*", path


def test_the_catch_all_takes_any_path_nothing_else_matched() -> None:
    router = router_with(None, "/chat")
    assert router.match("/chat") == "/chat"
    for path in ["/", "/other", "/chat/x", "", "no-slash"]:
        assert router.match(path) == "<catch-all>", path


def test_an_empty_router_matches_nothing() -> None:
    router: Router[str] = Router()
    assert router.match("/") is None
    assert router.match_specific("/") is None


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/a/b", "/a/b"),  # exact beats every prefix that also matches
        ("/a/b/c", "/a/b/*"),  # the longer prefix beats the shorter
        ("/a/b/c/d", "/a/b/*"),
        ("/a/x", "/a/*"),  # only the shorter prefix matches
        ("/a", "/a/*"),
        ("/z", "<catch-all>"),  # nothing specific: the catch-all
    ],
)
def test_precedence_is_exact_then_longer_prefix_then_shorter_then_catch_all(path: str, expected: str) -> None:
    router = router_with(None, "/a/*", "/a/b/*", "/a/b")
    assert router.match(path) == expected


def test_precedence_does_not_depend_on_the_order_routes_were_added() -> None:
    routes: list[str | None] = [None, "/a/*", "/a/b/*", "/a/b"]
    paths = ["/a/b", "/a/b/c", "/a/x", "/a", "/z"]
    expected = ["/a/b", "/a/b/*", "/a/*", "/a/*", "<catch-all>"]
    for order in [routes, routes[::-1], ["/a/b", "/a/b/*", None, "/a/*"], ["/a/*", None, "/a/b", "/a/b/*"]]:
        router = router_with(*order)
        assert [router.match(path) for path in paths] == expected, order


def test_an_exact_route_and_a_prefix_with_the_same_stem_coexist() -> None:
    """ "/x" and "/x/*" are different routes: the exact one takes "/x", the prefix the rest."""
    router = router_with("/x/*", "/x")
    assert router.match("/x") == "/x"
    assert router.match("/x/y") == "/x/*"


def test_match_specific_leaves_out_the_catch_all() -> None:
    router = router_with(None, "/chat", "/rooms/*")
    assert router.match_specific("/chat") == "/chat"
    assert router.match_specific("/rooms/a") == "/rooms/*"
    assert router.match_specific("/elsewhere") is None
    assert router.match("/elsewhere") == "<catch-all>"


def test_a_falsy_endpoint_at_the_catch_all_is_still_matched() -> None:
    """A registered catch-all counts even when the endpoint itself is falsy."""
    router: Router[int] = Router()
    router.add(None, 0)
    assert router.match("/anything") == 0
    assert router


# -- duplicates ----------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["/chat", "/rooms/*"])
def test_adding_a_route_twice_raises_a_value_error_naming_it(route: str) -> None:
    router = router_with(route)
    message = f"a WebSocket server with path {route!r} is already running on this web server"
    with pytest.raises(ValueError, match=re.escape(message)):
        router.add(route, "second")
    assert router.match(route) == route  # the first registration stays


def test_adding_a_second_catch_all_raises_a_value_error() -> None:
    router = router_with(None)
    message = "a WebSocket server without a path is already running on this web server"
    with pytest.raises(ValueError, match=re.escape(message)):
        router.add(None, "second")
    assert router.match("/x") == "<catch-all>"


# -- remove and bool -----------------------------------------------------------------------------


def test_a_router_is_true_only_while_it_has_a_route() -> None:
    router: Router[str] = Router()
    assert not router
    for route in ["/chat", "/rooms/*", None]:
        router.add(route, "endpoint")
        assert router
        router.remove(route)
        assert not router


def test_remove_forgets_exactly_the_route_given() -> None:
    router = router_with(None, "/a", "/a/*", "/a/b/*")
    router.remove("/a/b/*")
    assert router.match("/a/b/c") == "/a/*"
    router.remove("/a")
    assert router.match("/a") == "/a/*"
    router.remove("/a/*")
    assert router.match("/a/x") == "<catch-all>"
    router.remove(None)
    assert router.match("/a/x") is None
    assert not router


def test_remove_of_an_absent_route_is_harmless() -> None:
    router = router_with("/chat")
    router.remove("/other")
    router.remove("/other/*")
    router.remove(None)
    router.remove("/chat/*")  # a prefix with the stem of an exact route is another route
    assert router.match("/chat") == "/chat"
    assert router


def test_a_removed_route_can_be_added_again() -> None:
    router = router_with("/chat", "/rooms/*", None)
    for route in ["/chat", "/rooms/*", None]:
        router.remove(route)
        router.add(route, "again")
    assert router.match("/chat") == "again"
    assert router.match("/rooms/1") == "again"
    assert router.match("/other") == "again"
