"""Builds the optional C speedup (payload unmasking); everything else is in pyproject.toml.

``optional=True``: where no C compiler is available the install still succeeds, and duplex uses
its pure-Python unmasking instead.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("duplex.protocol._mask", ["src/duplex/protocol/_mask.c"], optional=True)])
