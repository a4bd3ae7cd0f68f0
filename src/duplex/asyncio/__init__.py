"""The asyncio layer: the event-loop side of a WebSocket connection, above the sans-I/O core.

- :mod:`.websocket_protocol`: one asyncio protocol per connection, the pump around the core and the
  one door every outgoing frame leaves through (messages, prebuilt broadcast frames, pings, close).
- :mod:`.broadcast`: frames built once and written to many connections per loop iteration.
- :mod:`.dispatch`: user callbacks run in order, sync or async, on the loop or a worker.
- :mod:`.workers`: named worker threads.

It imports the core (:mod:`duplex.protocol`) and nothing above it: the HTTP server and the 4D API
build on it.
"""
