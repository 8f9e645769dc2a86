"""HTTPS against a server with a self-signed certificate (made with trustme)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from support.cli import LoadlensRunner, check_result
from support.target_server import TargetServer

pytestmark = [pytest.mark.timeout(60), pytest.mark.slow]


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[TargetServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with TargetServer(ssl_context=context) as server:
        yield server


def test_untrusted_certificate_fails_verification(
    loadlens: LoadlensRunner, tls_server: TargetServer
) -> None:
    run = loadlens.run(tls_server.url("/ok"), "-u", "1", "-i", "3", "--timeout", "2s",
                       timeout=30)  # fmt: skip
    # (0, or 98 when a TLS handshake on a busy machine stalled loadlens's loop in each of
    # the run's two seconds: this tests what reached the server, not the verdict)
    assert run.returncode in (0, 98), run.describe()
    result = check_result(run.result)
    totals = result["totals"]
    assert totals["requests"] == 3
    assert totals["errors"] == {"tls": 3}, run.describe()
    assert totals["status_codes"] == {}
    assert tls_server.requests_seen == 0  # the handshake failed before any request


def test_insecure_skips_verification(loadlens: LoadlensRunner, tls_server: TargetServer) -> None:
    run = loadlens.run(tls_server.url("/ok"), "--insecure", "-u", "2", "-i", "5",
                       "--timeout", "2s", timeout=30)  # fmt: skip
    # (0, or 98 when a TLS handshake on a busy machine stalled loadlens's loop in each of
    # the run's two seconds: this tests what reached the server, not the verdict)
    assert run.returncode in (0, 98), run.describe()
    result = check_result(run.result)
    totals = result["totals"]
    assert totals["errors"] == {}, run.describe()
    assert totals["status_codes"] == {"200": 10}
    assert tls_server.requests_by_path == {"/ok": 10}
    assert tls_server.connections_opened == 2  # one TLS session per user, kept alive


def test_trusted_ca_verifies(
    loadlens: LoadlensRunner,
    tls_server: TargetServer,
    ca: trustme.CA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Verification really checks the chain: trusting the CA (through OpenSSL's standard
    # SSL_CERT_FILE) makes the same server pass without --insecure.
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    run = loadlens.run(tls_server.url("/ok"), "-u", "1", "-i", "3", "--timeout", "2s",
                       timeout=30)  # fmt: skip
    # (0, or 98 when a TLS handshake on a busy machine stalled loadlens's loop in each of
    # the run's two seconds: this tests what reached the server, not the verdict)
    assert run.returncode in (0, 98), run.describe()
    result = check_result(run.result)
    assert result["totals"]["errors"] == {}, run.describe()
    assert result["totals"]["status_codes"] == {"200": 3}
