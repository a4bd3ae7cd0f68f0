"""picows: a WSListener per connection behind ws_create_server, as in picows' examples.

picows is frame-level and has no message API: the echo sends each frame's payload back with its
type and fin bit (so a fragmented message comes back fragmented, still the same message), and
answers CLOSE with CLOSE and a disconnect. Broadcast: the server keeps its listeners in a set and
loops ``transport.send()`` over them (picows' broadcast_server example). ``max_frame_size`` 64 MiB,
no compression (picows has none), on uvloop.
"""

from __future__ import annotations

import itertools

import _common
import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server

SEQ = itertools.count(1)
CLIENTS: set[WSTransport] = set()


class Echo(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        msg_type = frame.msg_type
        if msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
            return
        transport.send(msg_type, frame.get_payload_as_bytes(), frame.fin)


class EchoOrBroadcast(Echo):
    def on_ws_connected(self, transport: WSTransport) -> None:
        CLIENTS.add(transport)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        CLIENTS.discard(transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT and frame.fin:
            count = _common.parse_broadcast(frame.get_payload_as_utf8_text())
            if count is not None:
                for _ in range(count):
                    payload = _common.broadcast_message(next(SEQ))
                    for client in CLIENTS:
                        client.send(WSMsgType.BINARY, payload)
                return
        super().on_ws_frame(transport, frame)


async def main(port: int, mode: str) -> None:
    listener = Echo if mode == "echo" else EchoOrBroadcast

    def listener_factory(request: WSUpgradeRequest) -> WSListener:
        return listener()

    server = await ws_create_server(
        listener_factory, _common.HOST, port, max_frame_size=_common.MAX_MESSAGE_SIZE
    )
    _common.ready()
    await server.serve_forever()


if __name__ == "__main__":
    args = _common.parse_args(__doc__)
    uvloop.run(main(args.port, args.mode))
