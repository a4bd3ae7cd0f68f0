"""The 4D server API: ``WebServer``, ``WebSocketServer``, ``WebSocketConnection``, their events,
errors and options.

It builds on the HTTP server (:mod:`duplex.http`) and the asyncio layer (:mod:`duplex.asyncio`),
never on the protocol core directly. Users import its names from :mod:`duplex`.
"""
