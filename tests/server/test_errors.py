"""Tests for duplex.server.errors: ``Reject``, the ``ErrorCode`` catalogue and ``error_stack``.

``Reject`` takes an HTTP error status from 400 to 599 (default 403) and an optional reason, and
refuses anything else with ``ValueError``. ``ErrorCode``'s numbers are a stable contract, pinned
here one by one and checked against docs/errors.md. ``error_stack`` builds ``event.errors``: the
error first, then the exception's causes, newest first, following ``__cause__``, else
``__context__`` unless suppressed (``raise ... from None``), at most 10 of them. How a ``Reject``
reaches the client is tested in test_websocket_server.py.
"""

from __future__ import annotations

import enum
import itertools
import json
import re
from pathlib import Path

import pytest

import duplex
from duplex.server.errors import COMPONENT_SIGNATURE, ErrorCode, Reject, error_stack

DOCS = Path(__file__).resolve().parents[2] / "docs"

# The catalogue as published: these numbers never change meaning (docs/errors.md).
STABLE_CODES = {
    "CALLBACK_FAILED": 1,
    "ON_CONNECTION_FAILED": 2,
    "INVALID_CONNECTION_HANDLER": 3,
    "SERVER_CALLBACK_FAILED": 4,
    "HANDSHAKE_TIMEOUT": 5,
    "PROTOCOL_ERROR": 100,
    "INVALID_UTF8": 101,
    "INVALID_JSON": 102,
    "MESSAGE_TOO_BIG": 103,
    "KEEPALIVE_TIMEOUT": 104,
    "SEND_BUFFER_FULL_CLOSED": 200,
    "SEND_BUFFER_FULL_DROPPED": 201,
    "WEB_SERVER_ALREADY_RUNNING": 300,
    "WEB_SERVER_START_FAILED": 301,
}


def entry(message: str, code: ErrorCode = ErrorCode.CALLBACK_FAILED) -> dict[str, object]:
    return {"errCode": int(code), "message": message, "componentSignature": "duplex"}


def chain(depth: int) -> BaseException:
    """An exception with ``depth`` causes: E0 caused by E1 caused by ... E{depth}."""
    exceptions = [RuntimeError(f"E{index}") for index in range(depth + 1)]
    for newer, older in itertools.pairwise(exceptions):
        newer.__cause__ = older
    return exceptions[0]


# -- Reject ----------------------------------------------------------------------------------------


def test_reject_defaults_to_403_without_a_reason() -> None:
    reject = Reject()
    assert reject.status == 403
    assert reject.reason == ""
    assert reject.args == (403, "")


def test_reject_keeps_its_status_and_reason() -> None:
    reject = Reject(429, "slow down")
    assert (reject.status, reject.reason) == (429, "slow down")
    assert reject.args == (429, "slow down")


def test_reject_is_an_exception_to_raise() -> None:
    assert issubclass(Reject, Exception)
    assert duplex.Reject is Reject
    with pytest.raises(Reject) as caught:
        raise Reject(401, "missing token")
    assert caught.value.status == 401


@pytest.mark.parametrize("status", [400, 401, 404, 451, 499, 500, 503, 599])
def test_reject_accepts_every_error_status(status: int) -> None:
    assert Reject(status).status == status


def test_reject_accepts_an_int_enum_status() -> None:
    from http import HTTPStatus

    assert Reject(HTTPStatus.UNAUTHORIZED, "who are you").status == 401


@pytest.mark.parametrize("status", [0, 101, 200, 302, 399, 600, 999, -403])
def test_reject_refuses_a_status_outside_400_to_599(status: int) -> None:
    message = f"Reject status must be an HTTP error status from 400 to 599, got {status!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        Reject(status)


@pytest.mark.parametrize("status", ["403", 403.0, None, True, [403]])
def test_reject_refuses_a_status_that_is_not_an_int(status: object) -> None:
    with pytest.raises(ValueError, match=re.escape(f"got {status!r}")):
        Reject(status)  # type: ignore[arg-type]


# -- ErrorCode -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "value"), STABLE_CODES.items())
def test_error_code_values_are_stable(name: str, value: int) -> None:
    assert ErrorCode[name].value == value
    assert ErrorCode(value).name == name


def test_error_codes_are_distinct_ints() -> None:
    assert issubclass(ErrorCode, enum.IntEnum)
    values = [member.value for member in ErrorCode]
    assert len(values) == len(set(values))  # no member is an alias of another
    assert all(type(value) is int for value in values)
    received: int = 102  # what an event carries: the plain number
    assert received == ErrorCode.INVALID_JSON  # an IntEnum compares with it
    assert duplex.ErrorCode is ErrorCode


def test_every_published_code_is_still_there() -> None:
    """Codes may be added, never removed."""
    assert set(STABLE_CODES) <= set(ErrorCode.__members__)


def test_every_error_code_is_in_the_catalogue_document() -> None:
    catalogue = (DOCS / "errors.md").read_text()
    for member in ErrorCode:
        row = f"| {member.value} | `{member.name}` |"
        assert row in catalogue, f"docs/errors.md has no row {row!r}"


# -- error_stack ---------------------------------------------------------------------------------


def test_an_error_without_an_exception_is_one_entry() -> None:
    stack = error_stack(ErrorCode.SEND_BUFFER_FULL_CLOSED, "closing: the client does not read")
    assert stack == [entry("closing: the client does not read", ErrorCode.SEND_BUFFER_FULL_CLOSED)]


def test_entries_are_plain_json_ready_dicts() -> None:
    stack = error_stack(ErrorCode.INVALID_JSON, "bad json", chain(1))
    for item in stack:
        assert type(item["errCode"]) is int  # not the enum member
        assert item["componentSignature"] == COMPONENT_SIGNATURE == "duplex"
        assert set(item) == {"errCode", "message", "componentSignature"}
    assert json.loads(json.dumps(stack)) == stack


def test_the_exception_itself_is_not_an_entry_only_its_causes() -> None:
    """The first entry describes the error (the exception is ``event.exception``)."""
    stack = error_stack(ErrorCode.CALLBACK_FAILED, "onMessage raised", ValueError("bad"))
    assert stack == [entry("onMessage raised")]


def test_an_explicit_cause_follows_as_type_and_text() -> None:
    try:
        try:
            empty: dict[str, int] = {}
            empty["key"]
        except KeyError as error:
            raise RuntimeError("lookup failed") from error
    except RuntimeError as exception:
        stack = error_stack(ErrorCode.CALLBACK_FAILED, "onMessage raised", exception)
    assert stack == [entry("onMessage raised"), entry("KeyError: 'key'")]


def test_an_implicit_context_follows_when_nothing_suppressed_it() -> None:
    try:
        try:
            raise ValueError("first")
        except ValueError:
            raise RuntimeError("while handling")  # noqa: B904 (the implicit context is the point)
    except RuntimeError as exception:
        assert exception.__cause__ is None
        stack = error_stack(ErrorCode.SERVER_CALLBACK_FAILED, "onOpen raised", exception)
    assert stack == [
        entry("onOpen raised", ErrorCode.SERVER_CALLBACK_FAILED),
        entry("ValueError: first", ErrorCode.SERVER_CALLBACK_FAILED),
    ]


def test_a_context_suppressed_by_raise_from_none_is_left_out() -> None:
    try:
        try:
            raise ValueError("hidden")
        except ValueError:
            raise RuntimeError("clean") from None
    except RuntimeError as exception:
        assert exception.__context__ is not None  # still there, but suppressed
        stack = error_stack(ErrorCode.CALLBACK_FAILED, "failed", exception)
    assert stack == [entry("failed")]


def test_the_cause_wins_over_the_context() -> None:
    try:
        try:
            raise ValueError("context")
        except ValueError:
            raise RuntimeError("outer") from KeyError("cause")
    except RuntimeError as exception:
        stack = error_stack(ErrorCode.CALLBACK_FAILED, "failed", exception)
    assert stack == [entry("failed"), entry("KeyError: 'cause'")]


def test_causes_come_newest_first() -> None:
    stack = error_stack(ErrorCode.CALLBACK_FAILED, "failed", chain(3))
    assert [item["message"] for item in stack] == [
        "failed",
        "RuntimeError: E1",
        "RuntimeError: E2",
        "RuntimeError: E3",
    ]


def test_a_chain_mixing_causes_and_contexts_is_followed_to_the_end() -> None:
    root = OSError("disk")
    middle = ValueError("parse")
    middle.__context__ = root  # implicit
    top = RuntimeError("top")
    top.__cause__ = middle  # explicit
    stack = error_stack(ErrorCode.CALLBACK_FAILED, "failed", top)
    assert [item["message"] for item in stack] == ["failed", "ValueError: parse", "OSError: disk"]


def test_suppression_deeper_in_the_chain_stops_it_there() -> None:
    root = OSError("hidden")
    middle = ValueError("shown")
    middle.__context__ = root
    middle.__suppress_context__ = True
    top = RuntimeError("top")
    top.__context__ = middle
    stack = error_stack(ErrorCode.CALLBACK_FAILED, "failed", top)
    assert [item["message"] for item in stack] == ["failed", "ValueError: shown"]


def test_a_cause_with_an_empty_message_keeps_the_type_name() -> None:
    exception = RuntimeError("outer")
    exception.__cause__ = TimeoutError()
    stack = error_stack(ErrorCode.HANDSHAKE_TIMEOUT, "too slow", exception)
    assert stack[1] == entry("TimeoutError: ", ErrorCode.HANDSHAKE_TIMEOUT)


def test_base_exceptions_are_listed_too() -> None:
    exception = RuntimeError("outer")
    exception.__cause__ = KeyboardInterrupt()
    assert error_stack(ErrorCode.CALLBACK_FAILED, "failed", exception)[1]["message"] == "KeyboardInterrupt: "


def test_every_entry_carries_the_errors_code() -> None:
    stack = error_stack(ErrorCode.MESSAGE_TOO_BIG, "too big", chain(4))
    assert {item["errCode"] for item in stack} == {103}


@pytest.mark.parametrize("depth", [9, 10])
def test_up_to_10_causes_are_all_listed(depth: int) -> None:
    stack = error_stack(ErrorCode.CALLBACK_FAILED, "failed", chain(depth))
    assert len(stack) == 1 + depth
    assert stack[-1]["message"] == f"RuntimeError: E{depth}"


@pytest.mark.parametrize("depth", [11, 50])
def test_causes_beyond_10_are_cut_keeping_the_newest(depth: int) -> None:
    stack = error_stack(ErrorCode.CALLBACK_FAILED, "failed", chain(depth))
    assert len(stack) == 11
    assert [item["message"] for item in stack[1:]] == [f"RuntimeError: E{index}" for index in range(1, 11)]


def test_a_cycle_of_causes_ends_at_the_bound() -> None:
    first = RuntimeError("first")
    second = ValueError("second")
    first.__cause__ = second
    second.__cause__ = first
    stack = error_stack(ErrorCode.CALLBACK_FAILED, "failed", first)
    assert len(stack) == 11
    assert [item["message"] for item in stack[1:3]] == ["ValueError: second", "RuntimeError: first"]
