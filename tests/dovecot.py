"""A throwaway Dovecot 2.3 for tests: its own config, ports and Maildirs in a temp dir.

Never touches the system Dovecot or /etc/dovecot: the master runs in the foreground with
`dovecot -c OUR_CONFIG -F` and listens on 127.0.0.1 only, on free high ports. The facts
this relies on are in ../shared/design/dovecot-for-tests.md (beside the repo).

Measured on the 2-core dev VM (pytest --durations): `Dovecot.start()` (config written,
master up, both ports accepting) takes 0.01-0.02 s; `seeded_mailbox` adds 0.05-0.08 s plus
a few ms per fixture file. Stopping takes about 1.1 s, once per session: the master waits
for its children before it exits, and the temp dir is removed only after that.
"""

from __future__ import annotations

import atexit
import contextlib
import grp
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from imapclient import IMAPClient

from webmail.protocols.errors import ServerSettings

MAIL_USER = "postfach-mail"  # Dovecot refuses uid 0 for mail; tests run as root in CI
START_TIMEOUT = 15.0  # seconds until both ports must accept connections
SPECIAL_USE = {
    "Sent": "\\Sent",
    "Drafts": "\\Drafts",
    "Trash": "\\Trash",
    "Junk": "\\Junk",
    "Archive": "\\Archive",
}
_APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]")
# passwd-file fields are separated by ':' and lines by newlines; anything else is fine.
_SAFE_FIELD = re.compile(r"^[^:\r\n\x00]+$")
_USER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]*$")  # also a file name


class DovecotError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _scratch_dir() -> str | None:
    """/dev/shm when it is a writable tmpfs, else None (the system temp dir). Measured on the
    2-core VM under load: 300 appends took 8-13 s in /tmp and 1.6-2.6 s in /dev/shm, and
    removing a run's Maildirs (16,000 files) at the end of a session took 40-70 s in /tmp.
    Nothing here has to outlive the test run."""
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return None


def _mail_ids() -> tuple[int, int]:
    """uid/gid that owns the Maildirs: ourselves, or a system user when we are root."""
    if os.geteuid() != 0:
        return os.geteuid(), os.getegid()
    try:
        entry = pwd.getpwnam(MAIL_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        result = subprocess.run(
            [
                useradd,
                "--system",
                "--no-create-home",
                "--user-group",
                "--shell",
                "/usr/sbin/nologin",
                MAIL_USER,
            ],
            capture_output=True,
            text=True,
        )
        # Exit code 9: created meanwhile by a parallel test run; fine.
        if result.returncode not in (0, 9):
            raise DovecotError(f"useradd {MAIL_USER} failed: {result.stderr.strip()}") from None
        entry = pwd.getpwnam(MAIL_USER)
    return entry.pw_uid, entry.pw_gid


class Dovecot:
    """One Dovecot instance. Use `start()`/`stop()` or the instance as a context manager."""

    host = "127.0.0.1"

    def __init__(self) -> None:
        self.dovecot_bin = shutil.which("dovecot") or "/usr/sbin/dovecot"
        self.doveadm_bin = shutil.which("doveadm") or "/usr/bin/doveadm"
        if not (os.path.exists(self.dovecot_bin) and os.path.exists(self.doveadm_bin)):
            raise DovecotError("dovecot/doveadm not installed (apt-get install dovecot-imapd)")
        self.mail_uid, self.mail_gid = _mail_ids()
        # mkdtemp makes 0700; the mail uid must traverse it, and pytest's own tmp dirs are
        # 0700 too, hence a fresh dir straight under a temp dir (in RAM where there is one).
        self.root = Path(tempfile.mkdtemp(prefix="postfach-dovecot-", dir=_scratch_dir()))
        self.root.chmod(0o755)
        self.base_dir = self.root / "run"
        self.mail_root = self.root / "mail"
        self.users_dir = self.root / "users"  # one passwd-file per user, see add_user
        self.config_path = self.root / "dovecot.conf"
        self.log_path = self.root / "dovecot.log"
        self.instance_name = f"postfach-test-{os.getpid()}-{secrets.token_hex(4)}"
        self.imap_port = 0
        self.pop3_port = 0
        self.passwords: dict[str, str] = {}
        self._process: subprocess.Popen[bytes] | None = None

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> Dovecot:
        self.mail_root.mkdir(mode=0o700)
        os.chown(self.mail_root, self.mail_uid, self.mail_gid)
        self.users_dir.mkdir(mode=0o755)
        atexit.register(self.stop)  # a crashed session must not leave a master behind
        # A free port can be taken between probing and binding; retry with new ones.
        for _attempt in range(3):
            self.imap_port, self.pop3_port = _free_port(), _free_port()
            self.config_path.write_text(self._config())
            if self._launch():
                return self
        raise DovecotError(f"Dovecot did not start:\n{self.log()}")

    def _launch(self) -> bool:
        # Early errors (bad config, port taken) go to stderr, the rest to log_path.
        with open(self.root / "stdout.log", "ab") as out:
            self._process = subprocess.Popen(
                [self.dovecot_bin, "-c", str(self.config_path), "-F"],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                if "Address already in use" in self.log():
                    return False
                raise DovecotError(f"Dovecot exited with {self._process.returncode}:\n{self.log()}")
            if self._accepts(self.imap_port) and self._accepts(self.pop3_port):
                return True
            time.sleep(0.01)
        self.stop()
        raise DovecotError(f"Dovecot did not listen within {START_TIMEOUT} s:\n{self.log()}")

    def _accepts(self, port: int) -> bool:
        try:
            with socket.create_connection((self.host, port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        self._terminate()
        if self.root.exists():
            shutil.rmtree(self.root, ignore_errors=True)
        atexit.unregister(self.stop)

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()  # the master stops its children on SIGTERM
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    def stop_keep_data(self) -> None:
        """Stops the server as a crash or a restart would: every session ends at once,
        but config, users and Maildirs stay, for `start_again()`. (`stop()` removes
        everything.) The master leaves a POP3 or IMAP process that serves a client
        running when it stops; those are killed here, so their clients see the server go."""
        master = self._process
        children = self._children(master.pid) if master is not None else []
        self._terminate()
        for pid in children:
            try:
                if self.instance_name in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
                    os.kill(pid, signal.SIGKILL)
            except (FileNotFoundError, ProcessLookupError):
                pass  # gone with the master

    @staticmethod
    def _children(parent: int) -> list[int]:
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text(errors="replace").rsplit(")", 1)[1].split()
            except OSError:
                continue  # ended meanwhile
            if int(fields[1]) == parent:
                pids.append(int(stat.parent.name))
        return pids

    def start_again(self) -> Dovecot:
        """Starts the server stopped by `stop_keep_data()` on the same ports, with the
        same users and mail (and the same UIDLs)."""
        if self._process is not None:
            raise DovecotError("Dovecot is running")
        if not self._launch():
            raise DovecotError(f"port {self.imap_port} or {self.pop3_port} taken meanwhile")
        return self

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        parts = []
        for path in (self.root / "stdout.log", self.log_path):
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)

    # -- configuration ------------------------------------------------------------------

    def _config(self) -> str:
        if os.geteuid() == 0:
            internal_user, login_user = "dovecot", "dovenull"
            internal_group = "dovecot"
        else:  # an unprivileged Dovecot runs everything as ourselves
            internal_user = login_user = pwd.getpwuid(os.geteuid()).pw_name
            internal_group = grp.getgrgid(os.getegid()).gr_name
        mailboxes = "\n".join(
            f"  mailbox {name} {{\n    auto = subscribe\n    special_use = {flag}\n  }}"
            for name, flag in SPECIAL_USE.items()
        )
        return f"""\
# Written by tests/dovecot.py for one test run; never the system config.
instance_name = {self.instance_name}
base_dir = {self.base_dir}
state_dir = {self.root / "state"}
log_path = {self.log_path}
info_log_path = {self.log_path}
protocols = imap pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = {self.mail_uid}
last_valid_uid = {self.mail_uid}
first_valid_gid = {self.mail_gid}
last_valid_gid = {self.mail_gid}
mail_location = maildir:~/Maildir
# A test server's mail need not survive a power cut: no fsync after every write.
mail_fsync = never
mail_max_userip_connections = 50
# IDLE reports new mail at once where inotify works; where it does not (or its instances
# ran out) Dovecot falls back to looking every mailbox_idle_check_interval, 30 s by default.
mailbox_idle_check_interval = 1 secs
pop3_uidl_format = %08Xu%08Xv
mail_plugins = $mail_plugins quota

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {self.users_dir}/%n
}}
userdb {{
  driver = passwd-file
  args = username_format=%n {self.users_dir}/%n
  default_fields = uid={self.mail_uid} gid={self.mail_gid} home={self.mail_root}/%n
}}

namespace inbox {{
  inbox = yes
  separator = /
  prefix =
{mailboxes}
}}

protocol imap {{
  mail_plugins = $mail_plugins imap_quota
}}
plugin {{
  quota = count:User quota
  quota_vsizes = yes
  quota_rule = *:storage=1G
}}

service imap-login {{
  chroot =
  service_count = 0
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  chroot =
  # Login processes serve many connections instead of one each ("high-performance"
  # mode): a run opens thousands of short POP3 sessions, and starting a process for each
  # cost Dovecot about 17 ms of CPU (1.7 s against 0.24 s for 100 sessions, measured).
  service_count = 0
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {self.pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service pop3 {{
  # Each mail process is reused for the next session (all users share one uid here).
  service_count = 0
}}
service anvil {{
  # No growing delays after the deliberate wrong-password tests (auth_failure_delay = 0
  # covers the first reply, this the penalty on the following logins from 127.0.0.1).
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service stats {{
  # mail processes run as the mail uid and report here; 0660 would log a warning each time
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""

    # -- users and mail -----------------------------------------------------------------

    def add_user(
        self,
        name: str,
        password: str,
        quota: str = "100M",
        settings: dict[str, str] | None = None,
    ) -> None:
        """Writes the user's passwd-file line. `settings` override Dovecot settings for
        this user only, as userdb fields: {"namespace/inbox/mailbox/Archive/auto": "no"}
        gives a mailbox without an Archive, {"imap_capability": "+CREATE-SPECIAL-USE"}
        adds a capability. Values cannot contain spaces (the fields' separator).

        One file per user (`args = .../users/%n`) rather than one shared file: Dovecot
        re-stats a passwd-file at most once per second, so a user appended to a shared
        file right after another login would be unknown for up to a second. A file that
        was never read before is always read fresh.
        """
        if not _USER_NAME.match(name):
            raise ValueError(f"user name {name!r}: letters, digits and . _ - @ only")
        for value in (password, quota):
            if not _SAFE_FIELD.match(value) or value != value.strip():
                raise ValueError("password and quota must not contain ':' or newlines")
        overrides = "".join(f" userdb_{key}={value}" for key, value in (settings or {}).items())
        if any(re.search(r"[\s\x00]", f"{key}{value}") for key, value in (settings or {}).items()):
            raise ValueError("settings must not contain spaces or newlines")
        if name in self.passwords:
            raise ValueError(f"user {name!r} exists")
        line = (
            f"{name}:{{PLAIN}}{password}::::::userdb_quota_rule=*:storage={quota}{overrides}\n"
        )
        path = self.users_dir / name
        tmp = path.with_suffix(".tmp")
        tmp.write_text(line, encoding="utf-8")
        tmp.chmod(0o644)
        tmp.rename(path)  # atomic: Dovecot never sees a half-written file
        self.passwords[name] = password

    @contextlib.contextmanager
    def client(self, user: str) -> Iterator[IMAPClient]:
        """A logged-in imapclient connection as `user` ("another device")."""
        with IMAPClient(self.host, self.imap_port, ssl=False, timeout=10) as client:
            client.login(user, self.passwords[user])
            yield client

    def append(
        self,
        user: str,
        folder: str,
        raw: bytes,
        flags: Iterable[str] = (),
        internal_date: datetime | None = None,
    ) -> int:
        """APPENDs one message and returns its UID (from UIDPLUS's APPENDUID)."""
        with self.client(user) as client:
            return _append(client, folder, raw, flags, internal_date)

    def append_many(
        self,
        user: str,
        folder: str,
        messages: Iterable[bytes | tuple[bytes, Iterable[str], datetime | None]],
    ) -> list[int]:
        """Like `append` for many messages over one connection. Items are raw bytes or
        (raw, flags, internal_date)."""
        uids = []
        with self.client(user) as client:
            for item in messages:
                raw, flags, when = (item, (), None) if isinstance(item, bytes) else item
                uids.append(_append(client, folder, raw, flags, when))
        return uids

    def create_folder(self, user: str, name: str) -> None:
        with self.client(user) as client:
            client.create_folder(name)

    def doveadm(self, *args: str) -> str:
        """Runs `doveadm -c CONFIG ARGS...` and returns its stdout."""
        result = subprocess.run(
            [self.doveadm_bin, "-c", str(self.config_path), *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if result.returncode != 0:
            raise DovecotError(f"doveadm {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout


def _append(
    client: IMAPClient,
    folder: str,
    raw: bytes,
    flags: Iterable[str],
    internal_date: datetime | None,
) -> int:
    response = client.append(folder, raw, flags=tuple(flags), msg_time=internal_date)
    match = _APPENDUID.search(response)
    if match is None:
        raise DovecotError(f"APPEND gave no APPENDUID: {response!r}")
    return int(match.group(2))


# -- personas and seeded mail ------------------------------------------------------------


@dataclass(frozen=True)
class MailUser:
    """A user on the test Dovecot, with helpers to reach and fill its mailbox."""

    name: str
    password: str
    dovecot: Dovecot = field(repr=False)

    def settings(self, *, timeout: float = 5.0) -> ServerSettings:
        """ServerSettings for IMAP (plain, 127.0.0.1) as an account would hold them."""
        return ServerSettings(
            host=self.dovecot.host,
            port=self.dovecot.imap_port,
            security="none",
            login=self.name,
            password=self.password,
            timeout=timeout,
        )

    def pop3_settings(self, *, timeout: float = 5.0) -> ServerSettings:
        return ServerSettings(
            host=self.dovecot.host,
            port=self.dovecot.pop3_port,
            security="none",
            login=self.name,
            password=self.password,
            timeout=timeout,
        )

    def client(self) -> contextlib.AbstractContextManager[IMAPClient]:
        return self.dovecot.client(self.name)

    def append(
        self,
        folder: str,
        raw: bytes,
        flags: Iterable[str] = (),
        internal_date: datetime | None = None,
    ) -> int:
        return self.dovecot.append(self.name, folder, raw, flags, internal_date)

    def append_many(
        self, folder: str, messages: Iterable[bytes | tuple[bytes, Iterable[str], datetime | None]]
    ) -> list[int]:
        return self.dovecot.append_many(self.name, folder, messages)

    def create_folder(self, name: str) -> None:
        self.dovecot.create_folder(self.name, name)

    def fill(self, kib: int, *, messages: int = 4, folder: str = "INBOX") -> None:
        """Appends `messages` plain messages that add up to exactly `kib` KiB as the quota
        counts them (every byte, CRLF line ends and all): a user made with quota="100K"
        and filled with 85 is 85% full."""
        total = kib * 1024
        sizes = [total // messages] * (messages - 1)
        sizes.append(total - sum(sizes))
        line = b"x" * 76 + b"\r\n"
        raws = []
        for n, size in enumerate(sizes):
            head = (
                f"From: filler@example.org\r\nTo: {self.name}@example.org\r\n"
                f"Subject: Filler {n + 1}\r\nMessage-ID: <filler{n}.{secrets.token_hex(4)}"
                "@example.org>\r\n\r\n"
            ).encode()
            body = line * ((size - len(head)) // len(line) + 1)
            raws.append(head + body[: size - len(head)])
        self.append_many(folder, raws)

    def uidvalidity(self, folder: str) -> int:
        with self.client() as client:
            return client.folder_status(folder, ["UIDVALIDITY"])[b"UIDVALIDITY"]

    def flags(self, folder: str, uid: int) -> frozenset[str]:
        """The flags as another device sees them (read-only, sets nothing)."""
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            found = client.get_flags([uid])
        # \\Recent only says which session saw the message first
        return frozenset(f.decode() for f in found.get(uid, ()) if f != b"\\Recent")


_user_counter = 0


def new_mail_user(
    dovecot: Dovecot,
    prefix: str = "user",
    settings: dict[str, str] | None = None,
    quota: str = "100M",
) -> MailUser:
    """A fresh user with a unique name and an empty mailbox (`settings`: see add_user;
    `quota`: its storage limit as Dovecot writes it, "100K", "10M"; "0" is no limit)."""
    global _user_counter
    _user_counter += 1
    user = MailUser(
        f"{prefix}{_user_counter}-{secrets.token_hex(3)}", secrets.token_hex(8), dovecot
    )
    dovecot.add_user(user.name, user.password, quota=quota, settings=settings)
    return user


SEED_BASE_DATE = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _mail(subject: str, sender: str, body: str, *, extra: str = "", date: str = "") -> bytes:
    date = date or "Mon, 02 Mar 2026 09:00:00 +0100"
    text = (
        f"From: {sender}\r\nTo: Reader <reader@example.org>\r\nSubject: {subject}\r\n"
        f"Date: {date}\r\nMessage-ID: <{secrets.token_hex(6)}@example.org>\r\n"
        f"MIME-Version: 1.0\r\n{extra}"
    )
    if "Content-Type" not in extra:
        text += "Content-Type: text/plain; charset=utf-8\r\n"
    return (text + "\r\n" + body).encode()


_PDF_MAIL = _mail(
    "Budget 2026",
    "Finance <finance@example.org>",
    "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe budget is attached.\r\n"
    "--b1\r\nContent-Type: application/pdf; name=budget.pdf\r\n"
    "Content-Disposition: attachment; filename=budget.pdf\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n",
    extra='Content-Type: multipart/mixed; boundary="b1"\r\n',
)

# folder -> [(key, raw, flags)]; created in this order, so "Projects" exists before its child
SEED_FOLDERS: dict[str, list[tuple[str, bytes, tuple[str, ...]]]] = {
    "Projects": [],
    "Projects/2026": [
        ("budget", _PDF_MAIL, ("\\Seen",)),
        ("kickoff", _mail("Kick-off notes", "Bob <bob@example.org>", "Notes.\r\n"), ()),
    ],
    "Newsletters": [
        ("weekly-1", _mail("Weekly 1", "News <news@example.org>", "One.\r\n"), ("\\Seen",)),
        ("weekly-2", _mail("Weekly 2", "News <news@example.org>", "Two.\r\n"), ("\\Seen",)),
        (
            "weekly-3",
            _mail("=?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=", "News <news@example.org>", "3.\r\n"),
            (),
        ),
    ],
}


@dataclass
class SeededMailbox:
    """The `reader` persona's mailbox. Treat it as read-only: tests that change mail use
    their own `mail_user`.

    INBOX holds every tests/fixtures/mail/*.eml in file-name order; the first is \\Flagged,
    every second one (index 1, 3, ...) is \\Seen; internal dates are SEED_BASE_DATE plus
    the index in minutes. `Projects` (empty), `Projects/2026` and `Newsletters` hold the
    messages of SEED_FOLDERS.
    """

    user: MailUser
    fixture_dir: Path  # where the INBOX files came from
    uids: dict[str, int] = field(default_factory=dict)  # fixture file name -> INBOX UID
    folder_uids: dict[str, dict[str, int]] = field(default_factory=dict)  # folder -> key -> UID
    uidvalidity: dict[str, int] = field(default_factory=dict)  # folder -> UIDVALIDITY
    flags: dict[tuple[str, int], frozenset[str]] = field(default_factory=dict)  # (folder, uid)

    def settings(self, *, timeout: float = 5.0) -> ServerSettings:
        return self.user.settings(timeout=timeout)

    def count(self, folder: str) -> int:
        return sum(1 for f, _ in self.flags if f == folder)

    def unseen(self, folder: str) -> int:
        return sum(1 for (f, _), fl in self.flags.items() if f == folder and "\\Seen" not in fl)


def seed_reader(dovecot: Dovecot, fixtures_dir: Path, name: str = "reader") -> SeededMailbox:
    user = MailUser(name, "reader-secret", dovecot)
    dovecot.add_user(user.name, user.password)
    seeded = SeededMailbox(user, fixtures_dir)
    with user.client() as client:

        def put(folder: str, raw: bytes, flags: tuple[str, ...], when: datetime | None) -> int:
            response = client.append(folder, raw, flags=flags, msg_time=when)
            match = _APPENDUID.search(response)
            if match is None:
                raise DovecotError(f"APPEND gave no APPENDUID: {response!r}")
            seeded.uidvalidity[folder] = int(match.group(1))
            uid = int(match.group(2))
            seeded.flags[(folder, uid)] = frozenset(flags)
            return uid

        for index, path in enumerate(sorted(fixtures_dir.glob("*.eml"))):
            flags = ("\\Flagged",) if index == 0 else ("\\Seen",) if index % 2 else ()
            when = SEED_BASE_DATE + timedelta(minutes=index)
            seeded.uids[path.name] = put("INBOX", path.read_bytes(), flags, when)
        seeded.folder_uids["INBOX"] = seeded.uids
        for folder, messages in SEED_FOLDERS.items():
            client.create_folder(folder)
            seeded.folder_uids[folder] = {}
            for index, (key, raw, flags) in enumerate(messages):
                when = SEED_BASE_DATE + timedelta(hours=1, minutes=index)
                seeded.folder_uids[folder][key] = put(folder, raw, flags, when)
        for folder in ("INBOX", *SEED_FOLDERS):
            if folder not in seeded.uidvalidity:
                seeded.uidvalidity[folder] = client.folder_status(folder, ["UIDVALIDITY"])[
                    b"UIDVALIDITY"
                ]
    return seeded
