"""Postfach settings: every value comes from the environment, with a safe default.

The helpers at the top read one variable each and fail loudly on nonsense, so a
typo in production is an error at start-up rather than a silent default.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    """A string setting; NAME_FILE (a path) wins over NAME, for secrets in containers."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("true", "1", "yes", "on"):
        return True
    if value.lower() in ("false", "0", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def envint(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DATA_DIR = Path(env("DATA_DIR", str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_from_file(name: str, make) -> str:
    """A secret kept in DATA_DIR, made on first run, so no key is ever hard-coded."""
    path = DATA_DIR / name
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(make())
    return path.read_text().strip()


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


SECRET_KEY = env("SECRET_KEY") or _secret_from_file("secret_key", lambda: secrets.token_urlsafe(50))
# Comma-separated Fernet keys; the first encrypts, all decrypt (rotation: put the new key first,
# run `manage.py mailaccount rotate-key`, then drop the old one).
MAIL_CREDENTIALS_KEY = env("MAIL_CREDENTIALS_KEY") or _secret_from_file(
    "mail_credentials_key", _fernet_key
)

DEBUG = envbool("DEBUG", False)
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "accounts",
    "webmail",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "axes",
    # Two-step sign-in (accounts.two_factor): an authenticator app, and backup codes.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "webmail.middleware.FetchMetadataOriginMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.middleware.UserPreferencesMiddleware",
    # After the user's language is set: sends a user with two-step sign-in who has not
    # given a code yet to the code step, from every page but that one and sign-out.
    "accounts.two_factor.TwoFactorMiddleware",
    "webmail.middleware.UserActivityMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "webmail.middleware.ContentSecurityPolicyMiddleware",
    "webmail.middleware.MailServerErrorMiddleware",
    # Last, as django-axes asks: turns a sign-in refused for lock-out into our page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "webmail.urls"
WSGI_APPLICATION = "webmail.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{DATA_DIR / 'postfach.sqlite3'}"),
        conn_max_age=envint("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web and worker processes write at the same time. A transaction that starts reading
    # and then writes cannot wait for another writer in SQLite ("database is locked" at
    # once), so transactions take the write lock when they begin; others wait up to
    # `timeout` seconds for it. WAL lets pages read while a sync writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "mail_home"
LOGOUT_REDIRECT_URL = "login"
# Sign-in. Axes refuses locked-out names and addresses before any backend checks a
# password; local users sign in with their Django password; with IMAP_LOGIN_HOST set,
# anyone else signs in with the login of their mailbox there (accounts.backends).
IMAP_LOGIN_HOST = env("IMAP_LOGIN_HOST")
IMAP_LOGIN_PORT = envint("IMAP_LOGIN_PORT", 993)
IMAP_LOGIN_SECURITY = env("IMAP_LOGIN_SECURITY", "tls")
IMAP_LOGIN_DOMAIN = env("IMAP_LOGIN_DOMAIN").lstrip("@").lower()
IMAP_LOGIN_SMTP_HOST = env("IMAP_LOGIN_SMTP_HOST")
IMAP_LOGIN_SMTP_PORT = envint("IMAP_LOGIN_SMTP_PORT", 0)  # 0: the usual one for its security
IMAP_LOGIN_SMTP_SECURITY = env("IMAP_LOGIN_SMTP_SECURITY", "starttls")
for _name in ("IMAP_LOGIN_SECURITY", "IMAP_LOGIN_SMTP_SECURITY"):
    if globals()[_name] not in ("tls", "starttls", "none"):
        raise ImproperlyConfigured(f"{_name} must be tls, starttls or none")
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    *(["accounts.backends.ImapLoginBackend"] if IMAP_LOGIN_HOST else []),
]
# Brute-force protection (django-axes, configured in accounts.lockout): this many failed
# sign-ins for one user name, or from one address, lock it for this many minutes.
LOGIN_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", 5)
LOGIN_LOCKOUT_MINUTES = envint("LOGIN_LOCKOUT_MINUTES", 15)
if LOGIN_FAILURE_LIMIT < 1 or LOGIN_LOCKOUT_MINUTES < 1:
    raise ImproperlyConfigured("LOGIN_FAILURE_LIMIT and LOGIN_LOCKOUT_MINUTES must be at least 1")
AXES_FAILURE_LIMIT = "accounts.lockout.login_failure_limit"
AXES_COOLOFF_TIME = "accounts.lockout.lockout_period"
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.client_address"
AXES_CLIENT_STR_CALLABLE = "accounts.lockout.client_description"
AXES_USERNAME_CALLABLE = "accounts.lockout.login_name_typed"
# Sign-ins and sign-outs go to our own audit log (accounts.models.AuditEvent) instead.
AXES_DISABLE_ACCESS_LOG = True
# Two-step sign-in (django-otp): the name authenticator apps show; secrets never shown in
# the admin; a wrong code makes the next try wait 1, 2, 4, 8 ... seconds (per device).
OTP_TOTP_ISSUER = "Postfach"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
# A wrong code counts with the failed sign-ins; axes keeps the form it came with, masked.
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "code"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("de", _("German"))]
LOCALE_PATHS = [BASE_DIR / "webmail" / "locale"]
TIME_ZONE = env("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG and envbool("STATIC_MANIFEST", True)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "postfach",
    }
}

# Sessions and cookies. Behind HTTPS set SECURE_COOKIES=true (and HSTS_SECONDS).
SECURE_COOKIES = envbool("SECURE_COOKIES", False)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
# No Referer anywhere, so a link opened from any page leaks nothing. Our own form posts then
# carry "Origin: null": webmail.middleware.FetchMetadataOriginMiddleware vouches for them.
SECURE_REFERRER_POLICY = "no-referrer"
X_FRAME_OPTIONS = "DENY"
SECURE_HSTS_SECONDS = envint("HSTS_SECONDS", 0)
# Both reach beyond this site (every sub-domain; browsers' built-in list, hard to leave):
# the operator's choice, so off unless set. `check --deploy` warns while they are off.
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = envbool("HSTS_PRELOAD", False)
SECURE_SSL_REDIRECT = envbool("SSL_REDIRECT", False)
if envbool("BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Mail servers.
MAIL_CONNECT_TIMEOUT = envint("MAIL_CONNECT_TIMEOUT", 10)  # seconds, per connect and per command
# Mail servers a user types may not be on loopback, link-local (cloud metadata), private or
# reserved addresses (SSRF), except these host names (*.example.org for sub-domains) and
# CIDR ranges: on-premise servers, the test suite's 127.0.0.1. Admins add more, and forbid
# hosts, in the site settings.
MAIL_HOSTS_ALLOWED = envlist("MAIL_HOSTS_ALLOWED", "")
MAIL_PAGE_SIZE = envint("MAIL_PAGE_SIZE", 50)
# How often an open mail page asks the index for unread counts (GET /mail/counts/).
LIVE_POLL_SECONDS = envint("LIVE_POLL_SECONDS", 15)
# The most of one message a page fetches and parses: of a larger one only this many of its
# first bytes (headers and the start of the text; no attachments). The original download
# is always whole.
MAIL_MAX_PARSE_BYTES = envint("MAIL_MAX_PARSE_BYTES", 50 * 1024 * 1024)
# The attachments of one message we write may add up to this many bytes.
MAIL_MAX_ATTACHMENT_BYTES = envint("MAIL_MAX_ATTACHMENT_BYTES", 25 * 1024 * 1024)
# After a sync brought new mail, the worker sanitizes the bodies of the newest
# PRERENDER_RECENT INBOX messages (webmail.services.prerender), so opening one needs no
# mail server; an account keeps at most PRERENDER_KEEP such renderings, the oldest go.
PRERENDER_RECENT = envint("PRERENDER_RECENT", 200)
PRERENDER_KEEP = envint("PRERENDER_KEEP", 2000)

# Uploads (attachments) go to disk as they arrive, never into memory: the first handler
# stops reading a file once a request brings more than MAIL_MAX_ATTACHMENT_BYTES, the
# second writes to a temporary file under DATA_DIR (not /tmp, which may be RAM), from
# where the compose service moves it into the writer's compose area with a rename.
FILE_UPLOAD_HANDLERS = [
    "webmail.uploads.AttachmentLimitHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
FILE_UPLOAD_MAX_MEMORY_SIZE = 0
FILE_UPLOAD_TEMP_DIR = DATA_DIR / "uploads"
FILE_UPLOAD_TEMP_DIR.mkdir(exist_ok=True)
# The form fields besides files: the compose form's text and HTML can be long, as a reply
# quotes the whole original (Django's default of 2.5 MB would refuse the request).
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# Remote images in mail are fetched through our proxy, only after the reader's consent.
IMAGE_PROXY_MAX_BYTES = envint("IMAGE_PROXY_MAX_BYTES", 5 * 1024 * 1024)
IMAGE_PROXY_TIMEOUT = envint("IMAGE_PROXY_TIMEOUT", 10)
# Hosts (names or CIDR ranges) the proxy may reach although they are not public addresses;
# only for tests and on-premise setups.
IMAGE_PROXY_ALLOW_PRIVATE = envlist("IMAGE_PROXY_ALLOW_PRIVATE", "")

# Celery: Redis when REDIS_URL is set, otherwise kombu's filesystem transport under DATA_DIR,
# so `make run` needs nothing but Python.
REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 4 * 3600}
else:
    _broker_dir = DATA_DIR / "broker"
    for _sub in ("out", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "data_folder_processed": str(_broker_dir / "processed"),
        # Broadcasts (worker remote control); kombu's default is "control" in the cwd.
        "control_folder": str(_broker_dir / "control"),
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_SOFT_TIME_LIMIT = envint("CELERY_TASK_SOFT_TIME_LIMIT", 3000)
CELERY_TASK_TIME_LIMIT = envint("CELERY_TASK_TIME_LIMIT", 3600)
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# Long tasks (a first sync) with acks_late: a worker takes one task at a time, so a second
# worker gets the next account instead of waiting behind it.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Keys this instance puts in Redis (job locks) start with this, and its tasks go to this
# queue, so instances (and test runs) can share one Redis.
REDIS_KEY_PREFIX = env("REDIS_KEY_PREFIX", "postfach:")
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", "celery")

# Background sync of the local index (webmail.services.sync). Beat queues a sync of every
# account not waiting out a back-off every SYNC_INTERVAL_SECONDS; one sync works for at most
# SYNC_BUDGET_SECONDS (well inside the task time limits), then queues its own continuation.
SYNC_INTERVAL_SECONDS = envint("SYNC_INTERVAL_SECONDS", 300)
SYNC_BUDGET_SECONDS = envint("SYNC_BUDGET_SECONDS", 600)
# One POP3 fetch (webmail.services.pop3_fetch) downloads at most this many new messages
# and bytes (0: no cap); the rest comes with the next round, so one huge mailbox does not
# hold a worker for hours.
POP3_FETCH_MAX_MESSAGES = envint("POP3_FETCH_MAX_MESSAGES", 1000)
POP3_FETCH_MAX_BYTES = envint("POP3_FETCH_MAX_BYTES", 500 * 1024 * 1024)
# Servers without CONDSTORE cannot say which flags changed: every sync reads the flags of
# the newest messages, and every SYNC_FULL_FLAGS_HOURS those of a whole folder (a change
# another client made to old mail shows within that time). 6 hours: four scans a day cost
# about 5 MB per 100,000 messages, while old mail rarely changes elsewhere.
SYNC_FULL_FLAGS_HOURS = envint("SYNC_FULL_FLAGS_HOURS", 6)
# The watcher process (manage.py mailwatch) holds IMAP IDLE on the INBOX of accounts whose
# user was seen in the last WATCH_ACTIVE_MINUTES, on at most WATCH_MAX_CONNECTIONS at once.
WATCH_ACTIVE_MINUTES = envint("WATCH_ACTIVE_MINUTES", 30)
WATCH_MAX_CONNECTIONS = envint("WATCH_MAX_CONNECTIONS", 200)
# The daily cleanup of POP3 server copies runs at this hour (UTC, 0-23).
POP3_CLEANUP_HOUR = envint("POP3_CLEANUP_HOUR", 3)
if not 0 <= POP3_CLEANUP_HOUR <= 23:
    raise ImproperlyConfigured("POP3_CLEANUP_HOUR must be an hour from 0 to 23")
RETENTION_HOUR = envint("RETENTION_HOUR", 4)  # the daily run of IMAP retention rules
if not 0 <= RETENTION_HOUR <= 23:
    raise ImproperlyConfigured("RETENTION_HOUR must be an hour from 0 to 23")
# Mail Postfach sends itself (the POP3 storage warning) goes out through this SMTP server.
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)  # STARTTLS
EMAIL_USE_SSL = envbool("EMAIL_USE_SSL", False)  # TLS from the first byte
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL exclude each other")
EMAIL_TIMEOUT = MAIL_CONNECT_TIMEOUT
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "postfach@localhost")
CELERY_BEAT_SCHEDULE = {
    "accounts-sync-due": {
        "task": "webmail.tasks.accounts_sync_due",
        "schedule": SYNC_INTERVAL_SECONDS,
    },
    "compose-areas-clean": {
        "task": "webmail.tasks.compose_areas_clean_task",
        "schedule": 3600,
    },
    "pop3-cleanups-daily": {
        "task": "webmail.tasks.pop3_cleanups_daily",
        "schedule": crontab(hour=POP3_CLEANUP_HOUR, minute=17),
    },
    "retention-runs-daily": {
        "task": "webmail.tasks.retention_runs_daily",
        "schedule": crontab(hour=RETENTION_HOUR, minute=37),
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    # axes: its INFO lines (start-up banner, every clean-up of old attempts) are chatter;
    # failures and lock-outs are WARNINGs, and the audit log has them in full.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
