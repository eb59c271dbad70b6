"""Named people the tests talk about: alice owns mail accounts, bob must never see them."""

import pytest

from accounts.models import MailAccount, User


@pytest.fixture
def alice(db) -> User:
    return User.objects.create_user("alice", "alice@example.org", "alice-password-1")


@pytest.fixture
def bob(db) -> User:
    return User.objects.create_user("bob", "bob@example.org", "bob-password-1")


def account_for(user: User, dovecot, mail_user) -> MailAccount:
    """A saved IMAP account of `user` on the test Dovecot's `mail_user` mailbox."""
    if not hasattr(mail_user, "name"):  # a SeededMailbox wraps its MailUser
        mail_user = mail_user.user
    login = mail_user.name
    account = MailAccount(
        user=user,
        email=f"{login}@example.org",
        display_name=login.title(),
        protocol=MailAccount.Protocol.IMAP,
        incoming_host=dovecot.host,
        incoming_port=dovecot.imap_port,
        incoming_security=MailAccount.Security.NONE,
        incoming_login=login,
    )
    account.set_incoming_password(mail_user.password)
    account.save()
    return account


def pop3_account_for(user: User, dovecot, mail_user, *, port: int | None = None) -> MailAccount:
    """A saved POP3 account of `user` on the test Dovecot's `mail_user` mailbox (plain
    POP3 on loopback); `port` points it elsewhere, at a fault proxy say."""
    account = account_for(user, dovecot, mail_user)
    account.protocol = MailAccount.Protocol.POP3
    account.incoming_port = port or dovecot.pop3_port
    account.save()
    return account


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(client, bob):
    client.force_login(bob)
    return client


@pytest.fixture
def alice_account(alice, dovecot, seeded_mailbox) -> MailAccount:
    """alice's IMAP account on the seeded mailbox (every fixture .eml in its INBOX)."""
    return account_for(alice, dovecot, seeded_mailbox)


def account_offline(user: User, email: str, display_name: str = "") -> MailAccount:
    """A saved IMAP account of `user` on a host that cannot exist (RFC 6761 .invalid), for
    tests that never connect."""
    account = MailAccount(
        user=user,
        email=email,
        display_name=display_name,
        protocol=MailAccount.Protocol.IMAP,
        incoming_host="imap.example.invalid",
        incoming_port=993,
        incoming_login=email,
    )
    account.set_incoming_password("not-used-1")
    account.save()
    return account


def account_with_smtp(user: User, dovecot, mail_user, smtp_server, **smtp) -> MailAccount:
    """`account_for`, sending through the test SMTP server `smtp_server`: with its login
    when it has one (`smtp_password=` overrides the password, to test a refusal), else
    without logging in."""
    return smtp_use(account_for(user, dovecot, mail_user), smtp_server, **smtp)


def smtp_use(account: MailAccount, smtp_server, **smtp) -> MailAccount:
    """Points a saved account's sending at the test SMTP server, as account_with_smtp."""
    account.smtp_host = smtp_server.host
    account.smtp_port = smtp_server.port
    account.smtp_security = smtp_server.security
    account.smtp_same_credentials = False
    account.smtp_login = smtp_server.login
    account.set_smtp_password(smtp.get("smtp_password", smtp_server.password))
    account.save()
    return account
