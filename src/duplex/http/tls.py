"""TLS for the HTTPS port, from a certificate folder holding ``cert.pem`` and ``key.pem``."""

from __future__ import annotations

import ssl
from pathlib import Path

__all__ = ["load_certificate_folder"]


def load_certificate_folder(folder: str | Path) -> ssl.SSLContext:
    """A server SSL context from ``folder/cert.pem`` and ``folder/key.pem``.

    Raises:
        ValueError: the folder or a file is missing, or the files do not hold a matching
            certificate and key; the message names the file.
    """
    base = Path(folder)
    cert, key = base / "cert.pem", base / "key.pem"
    for needed in (cert, key):
        if not needed.is_file():
            raise ValueError(
                f"certificate folder {str(base)!r} has no {needed.name}: put the PEM certificate chain in "
                "cert.pem and its private key in key.pem"
            )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(str(cert), str(key))
    except (ssl.SSLError, OSError) as exc:
        raise ValueError(f"cannot load {cert} and {key} as a certificate and its key: {exc}") from exc
    return context
