"""Tests for duplex.server.callback_events: the ``event`` (and ``event.request``) objects of callbacks.

``Fields`` is a dict whose keys are also attributes (read and write); a missing field read as an
attribute is an ``AttributeError`` naming the class and the field, as an item a ``KeyError``.
``RequestInfo`` and the ``Event`` subclasses declare the fields they always have as read-only
properties. All of them are dicts: they compare, print, copy, pickle and serialise like dicts.
Events as callbacks receive them are tested in test_websocket_server.py and
test_websocket_connection.py; these are unit tests of the classes.
"""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any

import pytest

import duplex
from duplex.server.callback_events import (
    ConnectionEvent,
    ErrorEvent,
    Event,
    Fields,
    MessageEvent,
    RequestInfo,
    TerminateEvent,
)

EVENT_CLASSES = [Event, ConnectionEvent, MessageEvent, TerminateEvent, ErrorEvent]


def request_info() -> RequestInfo:
    return RequestInfo(
        headers={"host": "127.0.0.1", "user-agent": "test"},
        query={"name": "ryan", "tag": ["a", "b"]},
        url="/status?name=ryan&tag=a&tag=b",
        remoteAddress="127.0.0.1",
    )


# -- Fields ----------------------------------------------------------------------------------------


def test_fields_are_readable_as_attributes_and_as_items() -> None:
    fields = Fields(data="hello", count=3)
    assert fields.data == fields["data"] == "hello"
    assert fields.count == fields["count"] == 3


def test_an_attribute_is_the_very_object_stored_as_an_item() -> None:
    payload = {"nested": [1, 2]}
    fields = Fields(payload=payload)
    assert fields.payload is payload


def test_setting_an_attribute_sets_the_item() -> None:
    fields = Fields()
    fields.data = "set as attribute"
    fields["other"] = "set as item"
    assert fields == {"data": "set as attribute", "other": "set as item"}
    assert fields.other == "set as item"


def test_fields_have_no_instance_dict_so_attributes_live_only_in_the_dict() -> None:
    fields = Fields()
    fields.data = 1
    with pytest.raises(TypeError):
        vars(fields)
    assert dict(fields) == {"data": 1}


def test_a_missing_field_as_an_attribute_is_an_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError) as caught:
        _ = Fields(data=1).missing
    assert str(caught.value) == "Fields has no field 'missing'"
    # Raised "from None": no KeyError chained into the traceback.
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ is True


def test_the_attribute_error_names_the_subclass() -> None:
    with pytest.raises(AttributeError, match=r"^MessageEvent has no field 'code'$"):
        _ = MessageEvent(type="message", data="x").code
    with pytest.raises(AttributeError, match=r"^RequestInfo has no field 'body'$"):
        _ = request_info().body


def test_a_missing_field_as_an_item_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        _ = Fields(data=1)["missing"]


def test_getattr_with_a_default_and_hasattr_work_on_missing_fields() -> None:
    fields = Fields(data=1)
    assert getattr(fields, "missing", "default") == "default"
    assert hasattr(fields, "data")
    assert not hasattr(fields, "missing")


def test_a_field_named_like_a_dict_method_is_reached_as_an_item() -> None:
    """Attributes that dict has already (``keys``, ``items``...) stay dict methods."""
    fields = Fields(keys="a field", items="another")
    assert callable(fields.keys)
    assert list(fields.keys()) == ["keys", "items"]
    assert fields["keys"] == "a field"
    assert fields["items"] == "another"


# -- the classes' declared fields ----------------------------------------------------------------


def test_request_info_fields_are_properties() -> None:
    info = request_info()
    assert info.headers == {"host": "127.0.0.1", "user-agent": "test"}
    assert info.query == {"name": "ryan", "tag": ["a", "b"]}
    assert info.url == "/status?name=ryan&tag=a&tag=b"
    assert info.remoteAddress == "127.0.0.1"
    for name in ["headers", "query", "url", "remoteAddress"]:
        assert isinstance(getattr(RequestInfo, name), property), name


def test_request_info_is_fields_but_not_an_event() -> None:
    info = request_info()
    assert isinstance(info, Fields)
    assert isinstance(info, dict)
    assert not isinstance(info, Event)
    assert duplex.RequestInfo is RequestInfo


def test_event_type_is_a_property_of_every_event() -> None:
    assert isinstance(Event.__dict__["type"], property)
    for cls in EVENT_CLASSES:
        assert issubclass(cls, Event)
        assert cls(type="x").type == "x"
    assert duplex.Event is Event


def test_connection_event_has_its_request() -> None:
    info = request_info()
    event = ConnectionEvent(type="connection", request=info)
    assert event.type == "connection"
    assert event.request is info
    assert event.request.url == "/status?name=ryan&tag=a&tag=b"


def test_message_event_has_its_data() -> None:
    for data in ["text", b"\x00\xff", {"a": [1, 2]}, None]:
        event = MessageEvent(type="message", data=data)
        assert event.type == "message"
        assert event.data is data


def test_terminate_event_has_code_and_reason() -> None:
    event = TerminateEvent(type="terminate", code=1001, reason="going away")
    assert (event.type, event.code, event.reason) == ("terminate", 1001, "going away")


def test_the_servers_terminate_event_has_no_code() -> None:
    """The server's onTerminate gets a plain Event with only ``type``."""
    event = Event(type="terminate")
    with pytest.raises(AttributeError, match=r"^Event has no field 'code'$"):
        _ = event.code
    assert event == {"type": "terminate"}


def test_error_event_has_errors_and_exception() -> None:
    errors = [{"errCode": 1, "message": "boom", "componentSignature": "duplex"}]
    exception = RuntimeError("boom")
    event = ErrorEvent(type="error", errors=errors, exception=exception)
    assert event.type == "error"
    assert event.errors is errors
    assert event.exception is exception
    assert ErrorEvent(type="error", errors=[], exception=None).exception is None


def test_declared_fields_are_per_class() -> None:
    """A field another event class declares is not an attribute here unless present."""
    with pytest.raises(AttributeError, match="has no field 'data'"):
        _ = TerminateEvent(type="terminate", code=1000, reason="").data
    with pytest.raises(AttributeError, match="has no field 'request'"):
        _ = MessageEvent(type="message", data="x").request


def test_a_declared_field_can_be_replaced_through_its_attribute() -> None:
    event = MessageEvent(type="message", data="before")
    event.data = "after"
    assert event.data == event["data"] == "after"


def test_extra_fields_are_attributes_too() -> None:
    event = TerminateEvent(type="terminate", code=1000, reason="", extra=42)
    assert event.extra == 42


def test_a_declared_field_missing_from_a_hand_built_event_is_an_attribute_error() -> None:
    assert not hasattr(Event(), "type")
    with pytest.raises(AttributeError):
        _ = MessageEvent(type="message").data


# -- they are dicts ------------------------------------------------------------------------------


def all_events() -> list[Event]:
    return [
        Event(type="open"),
        ConnectionEvent(type="connection", request=request_info()),
        MessageEvent(type="message", data="hi"),
        TerminateEvent(type="terminate", code=1000, reason="bye"),
        ErrorEvent(
            type="error",
            errors=[{"errCode": 1, "message": "m", "componentSignature": "duplex"}],
            exception=None,
        ),
    ]


@pytest.mark.parametrize("event", all_events(), ids=lambda event: type(event).__name__)
def test_events_are_dicts_that_compare_like_dicts(event: Event) -> None:
    plain = dict(event)
    assert isinstance(event, dict)
    assert type(plain) is dict
    assert event == plain
    assert plain == event
    assert event == Fields(plain)  # the class does not matter to equality
    assert event != {**plain, "type": "other"}


@pytest.mark.parametrize("event", all_events(), ids=lambda event: type(event).__name__)
def test_events_print_like_dicts(event: Event) -> None:
    assert repr(event) == repr(dict(event))
    assert str(event) == str(dict(event))


def test_events_serialise_to_json_like_dicts() -> None:
    event = ConnectionEvent(type="connection", request=request_info())
    text = json.dumps(event, sort_keys=True)
    assert text == json.dumps(
        {
            "type": "connection",
            "request": {
                "headers": {"host": "127.0.0.1", "user-agent": "test"},
                "query": {"name": "ryan", "tag": ["a", "b"]},
                "url": "/status?name=ryan&tag=a&tag=b",
                "remoteAddress": "127.0.0.1",
            },
        },
        sort_keys=True,
    )
    assert json.loads(text) == event


@pytest.mark.parametrize("event", all_events(), ids=lambda event: type(event).__name__)
def test_events_copy_and_pickle_keeping_their_class(event: Event) -> None:
    for clone in [copy.copy(event), copy.deepcopy(event), pickle.loads(pickle.dumps(event))]:
        assert type(clone) is type(event)
        assert clone == event
        assert clone.type == event.type


def test_dict_operations_work_on_events() -> None:
    event = MessageEvent(type="message", data="hi")
    assert len(event) == 2
    assert "data" in event
    assert sorted(event) == ["data", "type"]
    assert event.get("missing", 5) == 5
    merged: dict[str, Any] = {**event, "extra": 1}
    assert merged == {"type": "message", "data": "hi", "extra": 1}
