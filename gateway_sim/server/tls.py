"""HTTPS for `serve --tls`: the certificate and key the server presents, either given
(`--tls-cert`, `--tls-key`) or made at start by a throwaway certificate authority whose
certificate is written where the user can point a client at it (`--tls-ca-file`, printed).

trustme makes the CA and the server certificate (on `cryptography`): a well-kept library
made for exactly this, so no X.509 is written by hand here.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


class TlsError(Exception):
    """The TLS settings cannot be used; the message says why, for the command line."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """What the server presents; `ca` is the generated CA's certificate (None when given)."""

    cert: Path
    key: Path
    ca: Path | None = None
    folder: Path | None = None
    """The temporary folder of a generated certificate, removed at the end (with the CA's
    certificate if it was written there: the next start makes a new CA)."""

    def remove_generated(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def server_names(host: str, extra: Iterable[str] = ()) -> list[str]:
    """The names a generated certificate is valid for: loopback, this machine's name, the host
    it listens on (unless a wildcard) and any the user adds (e.g. a compose service name)."""
    names = [*LOCAL_NAMES, socket.gethostname()]
    if host not in ("", "0.0.0.0", "::"):
        names.append(host)
    names.extend(name.strip() for name in extra if name.strip())
    return list(dict.fromkeys(names))


def generate(names: list[str], ca_file: Path | None = None) -> TlsFiles:
    """A fresh CA and a server certificate for `names`, written to a private temporary folder;
    the CA's certificate also to `ca_file` when one is named."""
    import trustme  # with cryptography, a tenth of a second: only for --tls

    folder = Path(tempfile.mkdtemp(prefix="gateway-sim-tls-"))
    authority = trustme.CA(organization_name="gateway-sim", organization_unit_name="local CA")
    issued = authority.issue_cert(*names)
    cert, key = folder / "server.pem", folder / "server.key"
    issued.private_key_pem.write_to_path(str(key))
    os.chmod(key, 0o600)
    with cert.open("wb") as out:
        for blob in issued.cert_chain_pems:
            out.write(blob.bytes())
    ca = ca_file if ca_file is not None else folder / "ca.pem"
    try:
        ca.parent.mkdir(parents=True, exist_ok=True)
        authority.cert_pem.write_to_path(str(ca))
    except OSError as error:
        raise TlsError(f"cannot write the CA certificate to {ca}: {error}") from error
    return TlsFiles(cert, key, ca, folder)


def given(cert: str | None, key: str | None) -> TlsFiles:
    """The user's certificate and key, checked now so that a bad pair stops `serve` at start."""
    if not cert or not key:
        raise TlsError("--tls-cert and --tls-key go together: name both files")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as error:
        raise TlsError(f"cannot use {cert} with {key}: {error}") from error
    return TlsFiles(Path(cert), Path(key))
