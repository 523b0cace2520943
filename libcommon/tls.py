"""HTTPS served by the process itself (`TLS_CERT_FILE` / `TLS_KEY_FILE`): end-to-end encryption
behind a load balancer that re-encrypts, or TLS without one. TLS 1.2 or newer."""

from __future__ import annotations

import ssl
from pathlib import Path


def server_ssl_context(cert_file: Path, key_file: Path | None = None) -> ssl.SSLContext:
    """A server context from PEM files (the key may sit in the certificate file). Raises
    ValueError saying what is wrong, never echoing file contents."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_file, key_file)
    except FileNotFoundError as exc:
        raise ValueError(f"no such file: {exc.filename}") from None
    except PermissionError as exc:
        raise ValueError(f"cannot read {exc.filename}") from None
    except ssl.SSLError as exc:
        reason = exc.reason or "not a PEM certificate and matching private key"
        raise ValueError(f"cannot load the certificate and key ({reason})") from None
    return context
