"""Incremental UTF-8 decoding that fails as soon as the invalid byte arrives (RFC 6455 section 8.1).

CPython's incremental UTF-8 decoder already rejects invalid start bytes, overlong forms and code
points above U+10FFFF the moment it sees them. It does not reject a surrogate (``ED A0..BF``) until
the third byte arrives, because it holds an incomplete sequence back unexamined. Autobahn's 6.x
cases check that an endpoint fails fast, so this wrapper inspects that held-back tail.
"""

from __future__ import annotations

import codecs

from .exceptions import InvalidPayload

__all__ = ["Utf8Decoder"]

_IncrementalDecoder = codecs.getincrementaldecoder("utf-8")


class Utf8Decoder:
    """Decodes one text message, fragment by fragment, validating as it goes."""

    __slots__ = ("_decoder",)

    def __init__(self) -> None:
        self._decoder = _IncrementalDecoder()

    def decode(self, data: bytes, final: bool) -> str:
        """Decode the next fragment; ``final`` on the message's last one.

        Raises:
            InvalidPayload: the bytes so far cannot be the start of valid UTF-8 (close code 1007).
        """
        try:
            text: str = self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            raise InvalidPayload(f"text message is not valid UTF-8: {exc.reason}") from None
        if not final:
            pending = self._decoder.getstate()[0]
            # ED followed by A0..BF starts a UTF-16 surrogate, which UTF-8 forbids (RFC 3629 section 3).
            if len(pending) >= 2 and pending[0] == 0xED and pending[1] >= 0xA0:
                raise InvalidPayload("text message is not valid UTF-8: encoded surrogate")
        return text
