"""Compose tests build messages and send them through a real SMTP server (aiosmtpd), then
read what the server received the way a recipient's mail program would."""

import email
from collections.abc import Callable
from email import policy
from email.message import EmailMessage

import pytest

from tests.compose.raw_mail import NOW
from tests.smtp_server import (  # noqa: F401  (fixtures)
    Received,
    make_smtp_server_fixture,
    smtp_certificates_fixture,
    smtp_server_fixture,
)
from webmail.compose.build import envelope_recipients, envelope_sender, message_build
from webmail.compose.draft import Draft, Identity
from webmail.protocols.smtp import smtp_send


@pytest.fixture
def anna() -> Identity:
    """Anna writes the mail in these tests."""
    return Identity(addr="anna@example.org", name="Anna Müller")


@pytest.fixture
def deliver(smtp_server) -> Callable[[Draft], tuple[Received, EmailMessage]]:
    """Builds the draft, sends it through the test SMTP server, and gives back what the
    server received and that message parsed as a recipient would parse it."""

    def send(draft: Draft, **build_options) -> tuple[Received, EmailMessage]:
        data = message_build(draft, now=NOW, **build_options)
        smtp_send(
            smtp_server.settings(),
            sender=envelope_sender(draft),
            recipients=envelope_recipients(draft),
            message=data,
        )
        received = smtp_server.received[-1]
        return received, email.message_from_bytes(received.data, policy=policy.default)

    return send
