"""Builds duplex's optional compiled speedups; everything else is in pyproject.toml.

- ``duplex.protocol._mask``: payload unmasking in C.
- The per-message and per-handshake path (``COMPILED`` below) compiled by Cython from the same
  ``.py`` files, with the ``.pxd`` files next to them declaring the hot classes' attributes as C
  fields.

Every extension is optional: without a C compiler or Cython, or with ``DUPLEX_NO_EXTENSIONS=1``
in the environment, the install still succeeds and duplex runs as pure Python, the same code.
"""

import os

from setuptools import Extension, setup

# Not duplex.asgi.http: its receive() and send() are awaited by the frameworks' own code, and a
# compiled coroutine costs more to await from Python than a Python one (callgrind: 7,500 instructions
# per FastAPI request more).
COMPILED = [
    "duplex.protocol.connection",
    "duplex.protocol.handshake",
    "duplex.protocol.frames",
    "duplex.asyncio.websocket_protocol",
    "duplex.asyncio.broadcast",
    "duplex.asyncio.dispatch",
    "duplex.http.http_protocol",
    "duplex.http.request",
    "duplex.http.upgrade",
    "duplex.http.exchange",
    "duplex.http.responses",
    "duplex.asgi.scope",
    "duplex.asgi.websocket",
    "duplex.server.websocket_connection",
    "duplex.server.websocket_server",
    "duplex.client.link",
    "duplex.client.websocket",
    "duplex.client.connection",
]


def extensions() -> list[Extension]:
    if os.environ.get("DUPLEX_NO_EXTENSIONS"):
        return []
    found = [Extension("duplex.protocol._mask", ["src/duplex/protocol/_mask.c"], optional=True)]
    try:
        from Cython.Build import cythonize
    except ImportError:
        return found
    modules = [
        Extension(name, [f"src/{name.replace('.', '/')}.py"], optional=True) for name in COMPILED
    ]
    return found + cythonize(
        modules,
        build_dir="build/cython",
        # Annotations stay documentation, as in CPython: only the .pxd files declare C types.
        compiler_directives={"language_level": 3, "annotation_typing": False},
        quiet=True,
    )


# Compile the modules on all cores: the install is the slow part of a fresh checkout.
setup(ext_modules=extensions(), options={"build_ext": {"parallel": os.cpu_count() or 1}})
