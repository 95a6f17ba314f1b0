"""The hub's TLS identity (a self-signed certificate made on first start) and the client's pins.

Clients do not use certificate authorities: like SSH, they pin the SHA-256 fingerprint of the
certificate a hub showed first (KnownHubs) and refuse a different one until told to accept it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gossip.crypto._files import (
    SharedPinFile,
    create_exclusive,
    ensure_private_dir,
    file_stamp,
    write_atomic,
)
from gossip.crypto.errors import (
    HubCertificateError,
    HubKeyChanged,
    InvalidFingerprint,
    StoreCorrupt,
)

CERT_FILE = "hub-cert.pem"
KEY_FILE = "hub-key.pem"
VALIDITY = timedelta(days=3650)
# Clients never check validity dates (they pin), but a backdated start tolerates clock skew for
# any tool that does.
_BACKDATE = timedelta(days=1)
_HEX_PAIRS = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){31}")


def format_fingerprint(digest: bytes) -> str:
    """A SHA-256 digest as lowercase hex pairs joined by ':' ("ab:cd:...", 95 characters)."""
    if len(digest) != 32:
        raise InvalidFingerprint(f"a SHA-256 digest has 32 bytes, not {len(digest)}")
    return ":".join(f"{byte:02x}" for byte in digest)


def normalize_fingerprint(fingerprint: str) -> str:
    """Accept "AB:CD:..." or plain hex (any case) and return the format_fingerprint() form."""
    if not isinstance(fingerprint, str):
        raise InvalidFingerprint(f"not a certificate fingerprint: {fingerprint!r}")
    cleaned = fingerprint.strip().lower()
    if _HEX_PAIRS.fullmatch(cleaned):
        return cleaned
    if re.fullmatch(r"[0-9a-f]{64}", cleaned):
        return format_fingerprint(bytes.fromhex(cleaned))
    raise InvalidFingerprint(f"not a SHA-256 certificate fingerprint: {fingerprint!r}")


def certificate_fingerprint(der: bytes) -> str:
    """The SHA-256 fingerprint of a DER certificate (as read from the TLS peer)."""
    return format_fingerprint(hashlib.sha256(der).digest())


@dataclass(frozen=True)
class HubCertificate:
    cert_path: Path
    key_path: Path
    der: bytes

    @property
    def fingerprint(self) -> str:
        return certificate_fingerprint(self.der)

    def server_ssl_context(self) -> ssl.SSLContext:
        """A TLS 1.2+ server context presenting this certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        # No TLS 1.3 session tickets: our clients never resume a session (each connection
        # pins the certificate afresh, and a restarted hub could not take the tickets of the
        # last one), and making two per handshake nearly doubled its cost on both sides
        # (0.41 -> 0.22 ms for the hub, 0.67 -> 0.42 ms for the client, OpenSSL 3.0).
        context.num_tickets = 0
        context.load_cert_chain(certfile=self.cert_path, keyfile=self.key_path)
        return context


def client_ssl_context() -> ssl.SSLContext:
    """A TLS 1.2+ client context that does not verify the chain or name: the caller pins.

    After the handshake, read ssl_object.getpeercert(binary_form=True), compute its
    certificate_fingerprint() and check it with KnownHubs before sending anything.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _new_certificate(key: ec.EllipticCurvePrivateKey, hub_name: str) -> x509.Certificate:
    # A common name is limited to 64 characters; the hub name is informative only.
    common_name = (hub_name.strip() or "gossip hub")[:64]
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + VALIDITY)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise StoreCorrupt(f"cannot read the hub's private key {path}: {error}") from error
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise HubCertificateError(f"{path} is not an ECDSA key")
    return key


def load_or_create_hub_certificate(data_dir: Path, hub_name: str) -> HubCertificate:
    """The hub's certificate in data_dir, made on first start (ECDSA P-256, 10 years).

    The key is written first (0600, never overwritten); a key left without a certificate by a
    crash gets one, since no client can have pinned a certificate that was never shown.
    """
    ensure_private_dir(data_dir)
    cert_path, key_path = data_dir / CERT_FILE, data_dir / KEY_FILE
    if cert_path.exists() and not key_path.exists():
        raise HubCertificateError(
            f"{cert_path} exists but its private key {key_path} is missing; restore the key, or "
            f"delete {cert_path} to make a new hub identity (every client will then see a "
            "changed certificate)"
        )
    if not key_path.exists():
        new_key = ec.generate_private_key(ec.SECP256R1())
        pem = new_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        create_exclusive(key_path, pem)
    key = _load_key(key_path)
    if not cert_path.exists():
        certificate = _new_certificate(key, hub_name)
        create_exclusive(cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError) as error:
        raise StoreCorrupt(f"cannot read the hub's certificate {cert_path}: {error}") from error
    if certificate.public_key() != key.public_key():
        raise HubCertificateError(f"{cert_path} does not belong to the key in {key_path}")
    return HubCertificate(
        cert_path=cert_path,
        key_path=key_path,
        der=certificate.public_bytes(serialization.Encoding.DER),
    )


def _address(host: str, port: int) -> str:
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"invalid port {port!r}")
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or any(ch.isspace() or ch in "[]#" for ch in host):
        raise ValueError(f"invalid host {host!r}")
    return f"[{host}]:{port}"


class KnownHubs(SharedPinFile[str]):
    """Pinned hub certificate fingerprints by address, like SSH's known_hosts.

    The file has one "[host]:port fingerprint" line per hub; None keeps pins in memory. Each
    change is made under a lock on the file as it is on disk (processes share a profile).
    """

    @staticmethod
    def _load(path: Path) -> dict[str, str]:
        pins: dict[str, str] = {}
        try:
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                fields = line.split()
                if len(fields) != 2 or not fields[0].startswith("["):
                    raise ValueError(f"line {number} is not '[host]:port fingerprint'")
                pins[fields[0]] = normalize_fingerprint(fields[1])
        except (OSError, ValueError) as error:
            raise StoreCorrupt(f"cannot read known hubs from {path}: {error}") from error
        return pins

    def _save(self) -> None:
        if self._path is None:
            return
        lines = ["# Gossip known hubs: [host]:port SHA-256 certificate fingerprint"]
        lines += [f"{address} {fingerprint}" for address, fingerprint in sorted(self._pins.items())]
        ensure_private_dir(self._path.parent)
        write_atomic(self._path, ("\n".join(lines) + "\n").encode("utf-8"))
        self._stamp = file_stamp(self._path)

    def pinned(self, host: str, port: int) -> str | None:
        address = _address(host, port)
        self._refresh()
        return self._pins.get(address)

    def check(self, host: str, port: int, fingerprint: str, *, pin: bool = True) -> bool:
        """True if first seen (now pinned, unless `pin` is False), False if it matches the pin.

        Raises HubKeyChanged if the hub shows another certificate than the pinned one. The
        client checks with pin=False before logging in and pins only once the hub proved it
        knows the password: an impostor on a first connection is never pinned.
        """
        address = _address(host, port)
        fingerprint = normalize_fingerprint(fingerprint)
        if not pin:
            self._refresh()
            pinned = self._pins.get(address)
            if pinned is None:
                return True
        else:
            with self._change():
                pinned = self._pins.get(address)
                if pinned is None:
                    self._pins[address] = fingerprint
                    self._save()
                    return True
        if pinned == fingerprint:
            return False
        where = f"remove the line for {address} from {self._path}" if self._path else (
            "accept it explicitly"
        )
        raise HubKeyChanged(host, port, pinned, fingerprint, where)

    def accept(self, host: str, port: int, fingerprint: str) -> None:
        """Pin fingerprint for this hub, replacing any previous pin (the user decided)."""
        address, fingerprint = _address(host, port), normalize_fingerprint(fingerprint)
        with self._change():
            self._pins[address] = fingerprint
            self._save()
