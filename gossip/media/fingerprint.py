"""DTLS identity binding: the certificate fingerprints an SDP announces and a peer presents.

A peer's SDP travels signed (by the call layer); its a=fingerprint lines name the DTLS
certificate that peer will present. `sdp_fingerprints` reads them (rejecting an SDP that
names two different certificates), `certificate_fingerprint` hashes the certificate actually
seen on the wire, and `check_certificate` raises FingerprintMismatch when they differ.
Fingerprints are written as in SDP: "sha-256 AB:CD:...", hex in upper case.
"""

from __future__ import annotations

from aiortc.rtcdtlstransport import X509_DIGEST_ALGORITHMS, certificate_digest
from cryptography import x509

from .errors import FingerprintMismatch, SdpError

PREFERRED_ALGORITHM = "sha-256"


def format_fingerprint(algorithm: str, value: str) -> str:
    return f"{algorithm.lower()} {value.upper()}"


def parse_fingerprint(fingerprint: str) -> tuple[str, str]:
    """("sha-256", "AB:CD:...") from "sha-256 AB:CD:..."; SdpError if malformed."""
    parts = fingerprint.split()
    if len(parts) != 2:
        raise SdpError(f"malformed fingerprint {fingerprint!r}")
    return parts[0].lower(), parts[1].upper()


def sdp_fingerprints(sdp: str) -> dict[str, str]:
    """Every fingerprint the SDP announces, by hash algorithm (session and media level)."""
    found: dict[str, str] = {}
    for line in sdp.splitlines():
        line = line.strip()
        if not line.startswith("a=fingerprint:"):
            continue
        algorithm, value = parse_fingerprint(line[len("a=fingerprint:"):])
        if found.setdefault(algorithm, value) != value:
            raise SdpError(f"SDP names two different {algorithm} certificates")
    return found


def sdp_fingerprint(sdp: str) -> str:
    """The SDP's sha-256 certificate fingerprint, as "sha-256 AB:CD:..."."""
    found = sdp_fingerprints(sdp)
    if PREFERRED_ALGORITHM not in found:
        raise SdpError("SDP has no a=fingerprint:sha-256 line")
    return format_fingerprint(PREFERRED_ALGORITHM, found[PREFERRED_ALGORITHM])


def certificate_fingerprint(
    certificate: x509.Certificate, algorithm: str = PREFERRED_ALGORITHM
) -> str:
    if algorithm not in X509_DIGEST_ALGORITHMS:
        raise SdpError(f"unsupported fingerprint algorithm {algorithm!r}")
    return format_fingerprint(algorithm, certificate_digest(certificate, algorithm))


def check_certificate(certificate: x509.Certificate | None, expected: str) -> None:
    """Raise FingerprintMismatch unless `certificate` hashes to `expected`."""
    algorithm, value = parse_fingerprint(expected)
    wanted = format_fingerprint(algorithm, value)
    presented = None if certificate is None else certificate_fingerprint(certificate, algorithm)
    if presented != wanted:
        raise FingerprintMismatch(wanted, presented)
