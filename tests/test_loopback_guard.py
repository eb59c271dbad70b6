"""The suite's own promise (tests/conftest.py): nothing leaves 127.0.0.1."""

import socket

import pytest

from webmail.protocols.errors import HostNotFound
from webmail.protocols.hostnames import host_name_check


def test_a_lookup_of_a_real_name_is_refused_before_it_reaches_dns():
    with pytest.raises(socket.gaierror, match="test tried to look up 'example.com'"):
        socket.getaddrinfo("example.com", 443)


def test_a_connection_to_another_address_is_refused():
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError, match="loopback only"):
        sock.connect(("192.0.2.1", 25))


def test_loopback_stays_reachable():
    assert socket.getaddrinfo("localhost", 80)
    assert socket.getaddrinfo("127.0.0.1", 80)


@pytest.mark.parametrize(
    "host", ["mail.postfach.invalid", "INVALID.", "mail..example.org", "m" * 64 + ".example.org", ""]
)
def test_names_that_cannot_exist_are_not_found_without_a_lookup(host):
    with pytest.raises(HostNotFound):
        host_name_check(host)


@pytest.mark.parametrize("host", ["mail.example.org", "mail.bücher.example", "127.0.0.1"])
def test_ordinary_names_pass(host):
    host_name_check(host)
