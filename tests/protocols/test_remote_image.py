"""webmail.protocols.remote_image against a real HTTP server the test starts on 127.0.0.1.

Names resolve through a table (never real DNS) and every socket connect is recorded, so
the tests can show that a refused address was refused before anything connected to it.
"""

import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from webmail.protocols.remote_image import FetchedImage, ImageFetchError, image_fetch

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64
ALLOW_LOCAL = ["127.0.0.1/32"]
NAMES = {"images.test": "127.0.0.1", "rebind.test": "10.0.0.7"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    requests: list[dict] = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        Handler.requests.append({"path": self.path, "headers": dict(self.headers)})
        route = ROUTES.get(self.path.split("?")[0])
        if route is None:
            self.send_error(404)
            return
        route(self)

    def log_message(self, *args):
        pass

    def reply(self, content_type, body, *, length=True):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def redirect(self, location):
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


ROUTES = {
    "/pixel.png": lambda h: h.reply("image/png; charset=binary", PNG),
    "/page": lambda h: h.reply("text/html", b"<script>alert(1)</script>"),
    "/logo.svg": lambda h: h.reply("image/svg+xml", b"<svg onload='alert(1)'/>"),
    "/untyped": lambda h: h.reply("", PNG),
    "/big.png": lambda h: h.reply("image/png", PNG + b"\x00" * 5000),
    "/big-unannounced.png": lambda h: h.reply("image/png", PNG + b"\x00" * 5000, length=False),
    "/to-pixel": lambda h: h.redirect("/pixel.png"),
    "/to-metadata": lambda h: h.redirect("http://169.254.169.254/latest/meta-data/"),
    "/to-rebind": lambda h: h.redirect(f"http://rebind.test:{h.server.server_port}/pixel.png"),
    "/to-file": lambda h: h.redirect("file:///etc/passwd"),
    "/loop": lambda h: h.redirect("/loop"),
    "/slow.png": lambda h: (time.sleep(1.0), h.reply("image/png", PNG)),
}


@pytest.fixture
def server():
    Handler.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def network(monkeypatch):
    """Table DNS, and a record of every outgoing connect."""
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    record = {"connects": [], "lookups": []}

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        record["lookups"].append(host)
        if host in NAMES:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (NAMES[host], port))]
        return real_getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)

    def connect(sock, address):
        record["connects"].append(address)
        return real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return record


def fetch(url, *, allow=ALLOW_LOCAL, max_bytes=1024, timeout=5.0):
    return image_fetch(url, max_bytes=max_bytes, timeout=timeout, allow=allow)


def test_it_fetches_a_png(server):
    image = fetch(f"{server}/pixel.png")

    assert image == FetchedImage(content_type="image/png", data=PNG)


def test_it_sends_nothing_that_identifies_the_reader(server):
    fetch(f"{server}/pixel.png?u=42")

    (request,) = Handler.requests
    headers = {name.lower(): value for name, value in request["headers"].items()}
    assert request["path"] == "/pixel.png?u=42"
    assert "cookie" not in headers and "referer" not in headers
    assert "authorization" not in headers and "x-forwarded-for" not in headers
    assert headers["user-agent"] == "Mozilla/5.0 (compatible; Postfach image proxy)"


def test_it_connects_to_the_checked_address_and_sends_the_name_as_host(server, network):
    port = server.rsplit(":", 1)[1]

    fetch(f"http://images.test:{port}/pixel.png", allow=["images.test"])

    assert network["lookups"].count("images.test") == 1  # resolved once, never again
    assert network["connects"] == [("127.0.0.1", int(port))]
    assert Handler.requests[0]["headers"]["Host"] == f"images.test:{port}"


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/page", "not a raster image"),
        ("/logo.svg", "not a raster image"),
        ("/untyped", "not a raster image"),
        ("/big.png", "too large"),
        ("/big-unannounced.png", "too large"),
        ("/missing.png", "http status 404"),
        ("/loop", "too many redirects"),
        ("/to-file", "not an http(s) url"),
    ],
)
def test_it_refuses(server, path, reason):
    with pytest.raises(ImageFetchError, match=re.escape(reason)):
        fetch(f"{server}{path}")


def test_it_follows_a_redirect_it_may_follow(server):
    assert fetch(f"{server}/to-pixel").data == PNG


def test_it_follows_at_most_three_redirects(server):
    with pytest.raises(ImageFetchError):
        fetch(f"{server}/loop")

    assert len(Handler.requests) == 4


@pytest.mark.parametrize("path", ["/to-metadata", "/to-rebind"])
def test_it_refuses_a_redirect_to_a_private_address_before_connecting(server, network, path):
    with pytest.raises(ImageFetchError, match="address not allowed"):
        fetch(f"{server}{path}")

    port = int(server.rsplit(":", 1)[1])
    assert network["connects"] == [("127.0.0.1", port)]  # only the first hop


def test_without_allow_it_refuses_127_0_0_1_before_any_connect(server, network):
    with pytest.raises(ImageFetchError, match="address not allowed"):
        fetch(f"{server}/pixel.png", allow=[])

    assert network["connects"] == []
    assert Handler.requests == []


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://example.com/a.png", "gopher://127.0.0.1/", "//x/a.png", ""],
)
def test_it_refuses_other_schemes_before_any_connect(network, url):
    with pytest.raises(ImageFetchError):
        fetch(url)

    assert network["connects"] == []


def test_it_refuses_credentials_in_the_url(server, network):
    with pytest.raises(ImageFetchError, match="bad url"):
        fetch(server.replace("http://", "http://user:secret@") + "/pixel.png")

    assert network["connects"] == []


def test_it_gives_up_when_time_runs_out(server):
    with pytest.raises(ImageFetchError, match="timed out"):
        fetch(f"{server}/slow.png", timeout=0.3)


# --- HTTPS: the certificate is checked against the URL's host name, not the pinned IP ----


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A throwaway CA and a certificate for images.test signed by it."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(common_name):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("Postfach test CA"))
        .issuer_name(name("Postfach test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("images.test"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("images.test")]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "server.pem").write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return directory


@pytest.fixture
def tls_server(tls_files, monkeypatch):
    import ssl

    from webmail.protocols import remote_image

    def client_context():
        context = ssl.create_default_context(cafile=str(tls_files / "ca.pem"))
        return context

    monkeypatch.setattr(remote_image, "_tls_context", client_context)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tls_files / "server.pem")
    Handler.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.socket = server_context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd.server_port
    httpd.shutdown()
    httpd.server_close()


def test_it_fetches_over_https_verifying_the_host_name(tls_server, network):
    image = fetch(f"https://images.test:{tls_server}/pixel.png", allow=["images.test"])

    assert image.data == PNG
    assert network["connects"] == [("127.0.0.1", tls_server)]


def test_it_refuses_a_certificate_for_another_name(tls_server):
    # Same server, reached by its IP: the certificate names images.test, not 127.0.0.1.
    with pytest.raises(ImageFetchError, match="connection failed"):
        fetch(f"https://127.0.0.1:{tls_server}/pixel.png")
