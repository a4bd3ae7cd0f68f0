"""Tests for duplex.server.options: option keys in 4D's camelCase or snake_case, and number checks.

``snake_case`` turns a 4D name into its PEP 8 alias (acronyms included: ``HTTPSPort`` ->
``https_port``). ``normalize`` maps a settings dict's keys to the 4D names: None is empty, a
non-mapping is a ``TypeError``, an unknown key a ``ValueError`` listing the known ones, a key given
under both spellings a ``ValueError``. ``check_number`` accepts ints and floats (never bools), ints
only when asked, at or above a minimum (strictly above when exclusive), None when allowed, and says
what it wanted. How ``WebServer`` and ``WebSocketServer`` use these is tested in their own modules.
"""

from __future__ import annotations

import math
import re
import types
from collections import OrderedDict
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from duplex.server.options import check_number, normalize, snake_case
from duplex.server.web_server import DEFAULT_SETTINGS
from duplex.server.websocket_server import DEFAULT_OPTIONS

KNOWN = ["path", "dataType", "maxMessageSize", "HTTPSPort", "IPAddressToListen"]


# -- snake_case ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("dataType", "data_type"),
        ("maxMessageSize", "max_message_size"),
        ("HTTPPort", "http_port"),
        ("HTTPSPort", "https_port"),
        ("HTTPSEnabled", "https_enabled"),
        ("IPAddressToListen", "ip_address_to_listen"),
        ("CORSSettings", "cors_settings"),
        ("HSTSMaxAge", "hsts_max_age"),
        ("onConnection", "on_connection"),
        ("remoteAddress", "remote_address"),
        ("path", "path"),
        ("name", "name"),
    ],
)
def test_snake_case_of_4d_names(name: str, expected: str) -> None:
    assert snake_case(name) == expected


@pytest.mark.parametrize("name", ["data_type", "http_port", "path", "max_message_size"])
def test_snake_case_leaves_snake_case_alone(name: str) -> None:
    assert snake_case(name) == name


def test_digits_end_a_word_before_a_capital() -> None:
    assert snake_case("utf8Mode") == "utf8_mode"
    assert snake_case("HTTP2Enabled") == "http2_enabled"


def test_every_real_setting_and_option_has_a_distinct_lowercase_alias() -> None:
    for names in (DEFAULT_SETTINGS, DEFAULT_OPTIONS):
        aliases = [snake_case(name) for name in names]
        assert len(set(aliases)) == len(aliases)
        for alias in aliases:
            assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", alias), alias


# -- normalize -------------------------------------------------------------------------------------


def test_none_normalizes_to_an_empty_dict() -> None:
    assert normalize(None, KNOWN, "option") == {}


def test_an_empty_mapping_normalizes_to_an_empty_dict() -> None:
    assert normalize({}, KNOWN, "option") == {}


def test_4d_names_are_kept() -> None:
    given = {"dataType": "text", "HTTPSPort": 8443}
    assert normalize(given, KNOWN, "option") == {"dataType": "text", "HTTPSPort": 8443}


def test_snake_case_keys_become_4d_names() -> None:
    given = {"data_type": "blob", "https_port": 0, "ip_address_to_listen": "::", "path": "/ws"}
    assert normalize(given, KNOWN, "option") == {
        "dataType": "blob",
        "HTTPSPort": 0,
        "IPAddressToListen": "::",
        "path": "/ws",
    }


def test_values_are_passed_through_untouched_and_the_input_is_not_changed() -> None:
    value: list[str] = ["a"]
    given = {"data_type": value}
    result = normalize(given, KNOWN, "option")
    assert result["dataType"] is value
    assert given == {"data_type": ["a"]}
    assert result is not given


def test_the_result_keeps_the_given_order() -> None:
    given = {"path": 1, "https_port": 2, "dataType": 3}
    assert list(normalize(given, KNOWN, "option")) == ["path", "HTTPSPort", "dataType"]


def test_any_mapping_is_accepted() -> None:
    assert normalize(types.MappingProxyType({"data_type": "text"}), KNOWN, "option") == {"dataType": "text"}
    assert normalize(OrderedDict(path="/x"), KNOWN, "option") == {"path": "/x"}


def test_the_known_names_may_be_any_iterable() -> None:
    def names() -> Iterator[str]:
        yield from KNOWN

    assert normalize({"https_port": 1}, names(), "option") == {"HTTPSPort": 1}
    assert normalize({"dataType": 1}, DEFAULT_OPTIONS, "option") == {"dataType": 1}  # a dict's keys


@pytest.mark.parametrize(
    ("given", "type_name"),
    [(["dataType", "text"], "list"), ("dataType=text", "str"), (42, "int"), ((("path", "/"),), "tuple")],
)
def test_a_non_mapping_is_a_type_error(given: Any, type_name: str) -> None:
    with pytest.raises(TypeError, match=re.escape(f"WebServer settings must be a dict, got {type_name}")):
        normalize(given, KNOWN, "WebServer settings")


@pytest.mark.parametrize(
    "key", ["dataTyp", "DataType", "datatype", "data-type", "HttpsPort", "https_Port", ""]
)
def test_an_unknown_key_is_a_value_error_listing_the_known_keys(key: str) -> None:
    message = (
        f"unknown WebSocketServer option key {key!r}; "
        "known keys: path, dataType, maxMessageSize, HTTPSPort, IPAddressToListen"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        normalize({"path": "/", key: 1}, KNOWN, "WebSocketServer option")


@pytest.mark.parametrize("key", [1, None, ("path",), b"path"])
def test_a_key_that_is_not_a_string_is_unknown(key: Any) -> None:
    with pytest.raises(ValueError, match=re.escape(f"unknown option key {key!r}; known keys: ")):
        normalize({key: 1}, KNOWN, "option")


@pytest.mark.parametrize(
    ("given", "name", "alias"),
    [
        ({"dataType": "text", "data_type": "blob"}, "dataType", "data_type"),
        ({"https_port": 1, "HTTPSPort": 2}, "HTTPSPort", "https_port"),
        (
            {"IPAddressToListen": "::", "ip_address_to_listen": "::"},
            "IPAddressToListen",
            "ip_address_to_listen",
        ),
    ],
)
def test_a_key_given_under_both_spellings_is_a_value_error(
    given: dict[str, Any], name: str, alias: str
) -> None:
    message = f"WebServer setting key {name!r} given twice (as {name!r} and {alias!r})"
    with pytest.raises(ValueError, match=re.escape(message)):
        normalize(given, KNOWN, "WebServer setting")


def test_a_name_without_a_separate_alias_is_never_given_twice() -> None:
    """ "path" is its own snake_case spelling: one key, one name."""
    assert normalize({"path": "/a"}, KNOWN, "option") == {"path": "/a"}


def test_the_real_settings_normalize_in_both_spellings() -> None:
    camel = {name: index for index, name in enumerate(DEFAULT_SETTINGS)}
    snake = {snake_case(name): index for index, name in enumerate(DEFAULT_SETTINGS)}
    assert normalize(camel, DEFAULT_SETTINGS, "WebServer setting") == camel
    assert normalize(snake, DEFAULT_SETTINGS, "WebServer setting") == camel
    options = {snake_case(name): name for name in DEFAULT_OPTIONS}
    assert normalize(options, DEFAULT_OPTIONS, "WebSocketServer option") == {
        name: name for name in DEFAULT_OPTIONS
    }


# -- check_number ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, 2**70, 0.0, 0.5, 1e300, math.inf])
def test_a_number_at_or_above_the_minimum_is_returned_as_is(value: float) -> None:
    assert check_number("pingInterval", value) is value


@pytest.mark.parametrize("value", [True, False])
def test_a_bool_is_not_a_number(value: bool) -> None:
    with pytest.raises(ValueError, match=re.escape(f"pingInterval must be a number, got {value!r}")):
        check_number("pingInterval", value)


@pytest.mark.parametrize("value", [True, False])
def test_a_bool_is_not_an_integer(value: bool) -> None:
    with pytest.raises(ValueError, match=re.escape(f"HTTPPort must be an integer, got {value!r}")):
        check_number("HTTPPort", value, integer=True)


@pytest.mark.parametrize("value", ["5", b"5", None, [5], Decimal("5"), Fraction(5), 5j])
def test_other_types_are_not_numbers(value: Any) -> None:
    with pytest.raises(ValueError, match=re.escape(f"closeTimeout must be a number, got {value!r}")):
        check_number("closeTimeout", value)


@pytest.mark.parametrize("value", [8080.0, 1.5, "8080"])
def test_integer_options_refuse_floats_and_strings(value: Any) -> None:
    with pytest.raises(ValueError, match=re.escape(f"HTTPPort must be an integer, got {value!r}")):
        check_number("HTTPPort", value, integer=True)


def test_integer_options_accept_ints() -> None:
    assert check_number("HTTPPort", 8080, integer=True) == 8080


def test_the_default_minimum_is_zero_inclusive() -> None:
    assert check_number("pingTimeout", 0) == 0
    with pytest.raises(ValueError, match=re.escape("pingTimeout must be at least 0, got -1")):
        check_number("pingTimeout", -1)
    with pytest.raises(ValueError, match=re.escape("pingTimeout must be at least 0, got -0.001")):
        check_number("pingTimeout", -0.001)


def test_a_minimum_is_inclusive() -> None:
    assert check_number("maxMessageSize", 1, integer=True, minimum=1) == 1
    with pytest.raises(ValueError, match=re.escape("maxMessageSize must be at least 1, got 0")):
        check_number("maxMessageSize", 0, integer=True, minimum=1)


def test_a_fractional_minimum_is_written_as_given() -> None:
    with pytest.raises(ValueError, match=re.escape("delay must be at least 0.5, got 0.25")):
        check_number("delay", 0.25, minimum=0.5)


def test_an_exclusive_minimum_refuses_the_minimum_itself() -> None:
    assert check_number("handshakeTimeout", 0.001, exclusive=True) == 0.001
    for value in (0, 0.0):
        with pytest.raises(
            ValueError, match=re.escape(f"handshakeTimeout must be greater than 0, got {value!r}")
        ):
            check_number("handshakeTimeout", value, exclusive=True)
    with pytest.raises(ValueError, match=re.escape("handshakeTimeout must be greater than 0, got -5")):
        check_number("handshakeTimeout", -5, exclusive=True)


def test_none_is_accepted_only_when_allowed() -> None:
    assert check_number("maxConnections", None, integer=True, minimum=1, allow_none=True) is None
    with pytest.raises(ValueError, match=re.escape("maxConnections must be an integer, got None")):
        check_number("maxConnections", None, integer=True, minimum=1)


def test_the_message_says_none_is_allowed_when_it_is() -> None:
    with pytest.raises(ValueError, match=re.escape("maxConnections must be an integer or None, got 'many'")):
        check_number("maxConnections", "many", integer=True, allow_none=True)
    with pytest.raises(ValueError, match=re.escape("pingTimeout must be a number or None, got True")):
        check_number("pingTimeout", True, allow_none=True)


def test_allow_none_still_checks_the_minimum() -> None:
    with pytest.raises(ValueError, match=re.escape("sendBufferLimit must be at least 1, got 0")):
        check_number("sendBufferLimit", 0, integer=True, minimum=1, allow_none=True)


def test_an_int_subclass_other_than_bool_is_an_integer() -> None:
    from http import HTTPStatus

    assert check_number("status", HTTPStatus.OK, integer=True, minimum=100) is HTTPStatus.OK


@pytest.mark.parametrize("exclusive", [False, True])
def test_nan_is_not_a_number_at_or_above_the_minimum(exclusive: bool) -> None:
    with pytest.raises(ValueError):
        check_number("pingInterval", math.nan, exclusive=exclusive)
