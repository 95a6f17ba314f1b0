"""The hub's certificate (made once, reused, usable by Python's ssl) and the client's pins."""

from __future__ import annotations

import contextlib
import ipaddress
import ssl
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from gossip.crypto import (
    HubCertificateError,
    HubKeyChanged,
    InvalidFingerprint,
    KnownHubs,
    StoreCorrupt,
    certificate_fingerprint,
    client_ssl_context,
    format_fingerprint,
    load_or_create_hub_certificate,
    normalize_fingerprint,
)
from gossip.crypto.hubcert import CERT_FILE, KEY_FILE

FP_1 = ":".join(["11"] * 32)
FP_2 = ":".join(["22"] * 32)


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> tuple[bytes, str | None]:
    """A full TLS handshake through memory buffers; returns (server cert DER, TLS version)."""
    buffers = [ssl.MemoryBIO() for _ in range(4)]
    c_in, c_out, s_in, s_out = buffers
    client_side = client.wrap_bio(c_in, c_out, server_side=False, server_hostname="localhost")
    server_side = server.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, side in (("client", client_side), ("server", server_side)):
            if not done[name]:
                try:
                    side.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            break
    assert all(done.values()), "TLS handshake did not complete"
    der = client_side.getpeercert(binary_form=True)
    assert der is not None
    return der, client_side.version()


def test_the_certificate_is_made_once_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "hub"
    first = load_or_create_hub_certificate(data_dir, "test hub")
    assert first.cert_path == data_dir / CERT_FILE
    assert first.key_path == data_dir / KEY_FILE
    assert stat.S_IMODE(first.key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    again = load_or_create_hub_certificate(data_dir, "renamed hub")
    assert again.fingerprint == first.fingerprint
    assert again.der == first.der
    assert sorted(p.name for p in data_dir.iterdir()) == [CERT_FILE, KEY_FILE]


def test_the_certificate_has_the_promised_shape(tmp_path: Path) -> None:
    hub = load_or_create_hub_certificate(tmp_path, "test hub")
    cert = x509.load_der_x509_certificate(hub.der)
    public_key = cert.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert public_key.curve.name == "secp256r1"
    assert cert.subject == cert.issuer
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime >= timedelta(days=3650)
    assert cert.not_valid_before_utc <= datetime.now(UTC)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")}


def test_python_ssl_completes_a_handshake_and_the_client_sees_the_pinned_fingerprint(
        tmp_path: Path) -> None:
    hub = load_or_create_hub_certificate(tmp_path, "test hub")
    der, version = _handshake(hub.server_ssl_context(), client_ssl_context())
    assert certificate_fingerprint(der) == hub.fingerprint
    assert version in {"TLSv1.2", "TLSv1.3"}


def test_the_hub_hands_out_no_session_tickets(tmp_path: Path) -> None:
    """Nothing ever resumes a session (each connection pins the certificate afresh), and two
    tickets per handshake nearly doubled its cost, for the hub and for every client."""
    hub = load_or_create_hub_certificate(tmp_path, "test hub")
    buffers = [ssl.MemoryBIO() for _ in range(4)]
    c_in, c_out, s_in, s_out = buffers
    client = client_ssl_context().wrap_bio(c_in, c_out, server_hostname="localhost")
    server = hub.server_ssl_context().wrap_bio(s_in, s_out, server_side=True)
    for _ in range(4):
        for side in (client, server):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    with contextlib.suppress(ssl.SSLWantReadError):
        client.read(1)  # takes whatever came after the handshake (tickets, if any)
    assert client.version() == "TLSv1.3"
    assert client.session is not None and not client.session.has_ticket


def test_the_client_context_refuses_old_tls_and_does_not_verify() -> None:
    context = client_ssl_context()
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_NONE
    assert context.check_hostname is False


def test_fingerprint_formats() -> None:
    digest = bytes(range(32))
    text = format_fingerprint(digest)
    assert text.startswith("00:01:02:") and len(text) == 95
    assert normalize_fingerprint(text.upper()) == text
    assert normalize_fingerprint(digest.hex()) == text
    for bad in ["", "zz", text[:-3], digest.hex() + "00"]:
        with pytest.raises(InvalidFingerprint):
            normalize_fingerprint(bad)


def test_a_lost_key_is_not_silently_replaced(tmp_path: Path) -> None:
    hub = load_or_create_hub_certificate(tmp_path, "test hub")
    hub.key_path.unlink()
    with pytest.raises(HubCertificateError, match="missing"):
        load_or_create_hub_certificate(tmp_path, "test hub")


def test_a_key_left_without_certificate_gets_one(tmp_path: Path) -> None:
    hub = load_or_create_hub_certificate(tmp_path, "test hub")
    key_pem = hub.key_path.read_bytes()
    hub.cert_path.unlink()
    again = load_or_create_hub_certificate(tmp_path, "test hub")
    assert again.key_path.read_bytes() == key_pem
    again.server_ssl_context()


def test_a_certificate_for_another_key_is_refused(tmp_path: Path) -> None:
    first = load_or_create_hub_certificate(tmp_path / "one", "one")
    second = load_or_create_hub_certificate(tmp_path / "two", "two")
    second.cert_path.write_bytes(first.cert_path.read_bytes())
    with pytest.raises(HubCertificateError, match="does not belong"):
        load_or_create_hub_certificate(tmp_path / "two", "two")


def test_known_hubs_pin_on_first_use_then_match() -> None:
    hubs = KnownHubs(None)
    assert hubs.check("127.0.0.1", 4433, FP_1) is True
    assert hubs.check("127.0.0.1", 4433, FP_1.replace(":", "")) is False
    assert hubs.pinned("127.0.0.1", 4433) == FP_1
    # Another port is another hub.
    assert hubs.check("127.0.0.1", 4434, FP_2) is True


def test_a_changed_hub_certificate_raises_with_both_fingerprints() -> None:
    hubs = KnownHubs(None)
    hubs.check("Hub.Example", 4433, FP_1)
    with pytest.raises(HubKeyChanged) as caught:
        hubs.check("hub.example", 4433, FP_2)
    error = caught.value
    assert (error.host, error.port, error.pinned, error.offered) == \
        ("hub.example", 4433, FP_1, FP_2)
    assert FP_1 in str(error) and FP_2 in str(error) and "accept" in str(error)
    assert hubs.pinned("hub.example", 4433) == FP_1


def test_accepting_a_new_hub_certificate_replaces_the_pin(tmp_path: Path) -> None:
    path = tmp_path / "known_hubs"
    hubs = KnownHubs(path)
    hubs.check("::1", 4433, FP_1)
    hubs.accept("[::1]", 4433, FP_2)
    assert hubs.check("::1", 4433, FP_2) is False
    assert KnownHubs(path).pinned("::1", 4433) == FP_2


def test_known_hubs_persist_like_known_hosts(tmp_path: Path) -> None:
    path = tmp_path / "profile" / "known_hubs"
    hubs = KnownHubs(path)
    hubs.check("127.0.0.1", 4433, FP_1)
    hubs.check("::1", 4433, FP_2)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    assert lines == [f"[127.0.0.1]:4433 {FP_1}", f"[::1]:4433 {FP_2}"]
    reopened = KnownHubs(path)
    with pytest.raises(HubKeyChanged, match=str(path)):
        reopened.check("127.0.0.1", 4433, FP_2)


def test_an_unreadable_known_hubs_file_stops(tmp_path: Path) -> None:
    path = tmp_path / "known_hubs"
    path.write_text("[127.0.0.1]:4433 not-a-fingerprint\n")
    with pytest.raises(StoreCorrupt):
        KnownHubs(path)


def test_bad_addresses_are_refused() -> None:
    hubs = KnownHubs(None)
    for host, port in [("", 4433), ("a b", 4433), ("localhost", 0), ("localhost", 70000)]:
        with pytest.raises(ValueError):
            hubs.check(host, port, FP_1)
