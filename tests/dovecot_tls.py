"""A second throwaway Dovecot that speaks TLS: POP3 on an implicit-TLS port (the 995 kind)
and STLS on the plain one, with APOP offered, for what the shared `dovecot` (ssl = no,
USER and SASL PLAIN only) cannot show.

It is the same instance as tests/dovecot.py's, with the configuration changed in three
places; the certificate is self-signed for 127.0.0.1 and localhost and trusted by
`client_context()` only, never by the system store.
"""

from __future__ import annotations

import ssl
import subprocess
import time

from tests.dovecot import START_TIMEOUT, Dovecot, DovecotError, _free_port


class TlsDovecot(Dovecot):
    def __init__(self) -> None:
        super().__init__()
        self.pop3s_port = 0
        self.cert_path = self.root / "cert.pem"
        self.key_path = self.root / "key.pem"

    def start(self) -> TlsDovecot:
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "ec",
                "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-keyout", str(self.key_path), "-out", str(self.cert_path),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        super().start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._accepts(self.pop3s_port):
            if time.monotonic() > deadline:
                raise DovecotError(f"POP3S did not listen:\n{self.log()}")
            time.sleep(0.01)
        return self

    def _config(self) -> str:
        self.pop3s_port = _free_port()
        config = super()._config()
        replaced = (
            config.replace(
                "ssl = no\n",
                f"ssl = yes\nssl_cert = <{self.cert_path}\nssl_key = <{self.key_path}\n",
            )
            .replace("auth_mechanisms = plain login\n", "auth_mechanisms = plain login apop\n")
            .replace(
                "  inet_listener pop3s {\n    port = 0\n",
                f"  inet_listener pop3s {{\n    address = 127.0.0.1\n    port = {self.pop3s_port}\n"
                "    ssl = yes\n",
            )
        )
        if replaced.count("ssl = yes") != 2 or "apop" not in replaced:
            raise DovecotError("tests/dovecot.py's configuration changed; update dovecot_tls.py")
        return replaced

    def client_context(self) -> ssl.SSLContext:
        """What a client that trusts this server's certificate uses."""
        return ssl.create_default_context(cafile=str(self.cert_path))
