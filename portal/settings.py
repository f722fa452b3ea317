"""Portal settings, 12-factor: everything that differs between deployments comes from the
environment.

Zero-setup default: SQLite in var/ and a filesystem Celery queue (no Redis).
DATABASE_URL switches to PostgreSQL, REDIS_URL to Redis.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from portal.ldap_settings import ldap_settings

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("PORTAL_VAR_DIR", BASE_DIR / "var"))
# var/ holds the SQLite database (API tokens, sessions), the secrets files and the queue:
# readable by the portal's own user only.
VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
VAR_DIR.chmod(0o700)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def secret_from_env_or_file(name: str) -> str:
    """A secret from $NAME, or from the file named by $NAME_FILE; never a built-in value."""
    if os.environ.get(name):
        return os.environ[name]
    path = os.environ.get(f"{name}_FILE")
    if path and Path(path).is_file():
        return Path(path).read_text().strip()
    raise ImproperlyConfigured(
        f"{name} is not set. Set {name} (or {name}_FILE, a file holding it); "
        "`make run` generates one for the demo in var/."
    )


SECRETS_KEY_MIN_LENGTH = 32
SECRETS_KEY_MIN_DISTINCT = 12


def secrets_key_checked(keys: str) -> str:
    """PORTAL_SECRETS_KEY, refused at start unless every key in it is strong enough: it
    is the only thing between a copy of the database and the nodes' root keys."""
    for number, key in enumerate((k.strip() for k in keys.split(",")), start=1):
        if len(key) < SECRETS_KEY_MIN_LENGTH or len(set(key)) < SECRETS_KEY_MIN_DISTINCT:
            raise ImproperlyConfigured(
                f"PORTAL_SECRETS_KEY key {number} is too weak: use at least "
                f"{SECRETS_KEY_MIN_LENGTH} random characters (at least "
                f"{SECRETS_KEY_MIN_DISTINCT} different ones), e.g. the output of "
                '`python -c "import secrets; print(secrets.token_urlsafe(48))"`.'
            )
    return keys


DEBUG = env_bool("DEBUG")
SECRET_KEY = secret_from_env_or_file("SECRET_KEY")
# Key for secrets at rest (SSH private keys). Kept out of the database on purpose.
PORTAL_SECRETS_KEY = secrets_key_checked(secret_from_env_or_file("PORTAL_SECRETS_KEY"))

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "axes",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "clusters",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Login required everywhere; the few public views opt out with @login_not_required.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Every request gets an id that groups what it changed in the audit trail.
    "clusters.middleware.RequestIdMiddleware",
    # Last, as django-axes' docs ask: turns a locked-out login into its own response.
    "axes.middleware.AxesMiddleware",
]

# django-axes first: it refuses a locked-out login before any password is checked.
# It logs nobody in itself, so force_login and sessions use ModelBackend.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# LDAP login when LDAP_SERVER_URI is set (portal/ldap_settings.py; README lists the
# variables). After ModelBackend: local accounts keep working and are tried first.
_ldap = ldap_settings(os.environ)
globals().update(_ldap)
if _ldap:
    AUTHENTICATION_BACKENDS.append("clusters.directory.PortalLDAPBackend")
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("AXES_COOLOFF_HOURS", "0.25"))  # hours
# Lock the user name from that address, not the user everywhere: a stranger guessing
# passwords must not be able to lock the real admin out from their own desk.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "clusters.middleware.axes_username"
AXES_IPWARE_PROXY_COUNT = int(os.environ.get("AXES_PROXY_COUNT", "0"))

# The JSON API: a token (the API tokens page, or legacy `manage.py drf_create_token`) or the
# browser session; the roles are those of the pages (clusters.access).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "clusters.api.authentication.ApiTokenAuthentication",
        "clusters.api.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "clusters.api.pagination.Pagination",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SCST + DRBD portal API",
    "DESCRIPTION": "Read the inventory, live state, findings and jobs; trigger collections.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # nv_cache, write_through, cluster_mode and rotational share the one 0/1 choice set.
    "ENUM_NAME_OVERRIDES": {
        "ScstFlagEnum": [(0, "0"), (1, "1")],
        "ChangeKindEnum": ["add_lun", "remove_mappings", "revert"],
        "JobKindEnum": "clusters.models.Job.Kind",
    },
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and Redoc from drf-spectacular-sidecar's vendored files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "clusters.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Created 0600 before SQLite opens it: it holds password hashes and API tokens.
    _sqlite = Path(DATABASES["default"]["NAME"])
    if _sqlite.parent.is_dir() and str(_sqlite) != ":memory:":
        os.close(os.open(_sqlite, os.O_CREAT | os.O_WRONLY, 0o600))
        _sqlite.chmod(0o600)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "cluster-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)

# Production hardening; all of it follows from DEBUG being off unless asked.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True  # htmx sends the token from base.html, not from the cookie
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
if env_bool("PORTAL_HTTPS", default=not DEBUG and not env_bool("PORTAL_DEMO")):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy (django-csp): scripts and styles from our own origin only, no
# inline script (htmx and our code are files under static/), no plugins, no framing.
# htmx's own indicator style is turned off in base.html (htmx.config.includeIndicatorStyles).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# Celery: Redis when REDIS_URL is set. Otherwise kombu's filesystem transport, a real
# queue in var/celery/ that needs no server: web and worker on one host only.
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_QUEUE_DIR = VAR_DIR / "celery"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
else:
    CELERY_BROKER_URL = "filesystem://"
    for folder in ("queue", "processed", "control"):
        (CELERY_QUEUE_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_QUEUE_DIR / "queue"),
        "data_folder_out": str(CELERY_QUEUE_DIR / "queue"),
        "processed_folder": str(CELERY_QUEUE_DIR / "processed"),
        "control_folder": str(CELERY_QUEUE_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True  # outcomes are recorded as Job rows, not Celery results
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
COLLECT_INTERVAL_SECONDS = int(os.environ.get("COLLECT_INTERVAL_SECONDS", "60"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # axes logs every successful login at INFO; lockouts and failures stay at WARNING.
    "loggers": {"asyncssh": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
COLLECT_NODE_TIMEOUT_SECONDS = float(os.environ.get("COLLECT_NODE_TIMEOUT_SECONDS", "20"))

# Changes and jobs (docs/jobs.md): how long a plan stays valid, the cluster lock's lease
# (renewed while the job runs), when a job whose process stopped showing life is declared
# interrupted, how long one remote command may run (it runs under the node's `timeout`,
# so nothing the portal gave up on runs later), and how many jobs' backups a node keeps.
PLAN_TTL_SECONDS = int(os.environ.get("PLAN_TTL_SECONDS", "900"))
# Day-2 workflows: how long a run waits for an online verify or a resync to finish (keep
# it under TASK_SOFT_TIME_LIMIT_SECONDS: raise both for volumes whose verify takes hours),
# and how often every DRBD resource of a managed cluster is verified (0: never, default).
WORKFLOW_WAIT_SECONDS = int(os.environ.get("WORKFLOW_WAIT_SECONDS", "1500"))
DRBD_VERIFY_INTERVAL_HOURS = int(os.environ.get("DRBD_VERIFY_INTERVAL_HOURS", "0"))
CLUSTER_LOCK_LEASE_SECONDS = int(os.environ.get("CLUSTER_LOCK_LEASE_SECONDS", "60"))
JOB_HEARTBEAT_SECONDS = float(os.environ.get("JOB_HEARTBEAT_SECONDS", "5"))
JOB_HEARTBEAT_TIMEOUT_SECONDS = int(os.environ.get("JOB_HEARTBEAT_TIMEOUT_SECONDS", "120"))
JOB_QUEUED_TIMEOUT_SECONDS = int(os.environ.get("JOB_QUEUED_TIMEOUT_SECONDS", "900"))
NODE_COMMAND_TIMEOUT_SECONDS = int(os.environ.get("NODE_COMMAND_TIMEOUT_SECONDS", "60"))
NODE_KEEP_JOBS = int(os.environ.get("NODE_KEEP_JOBS", "10"))

# A task that overruns gets SoftTimeLimitExceeded (recorded on its job), then is killed.
# Task modules autodiscovery (clusters/tasks.py) does not find.
CELERY_IMPORTS: tuple[str, ...] = ("clusters.workflow_tasks",)
CELERY_TASK_SOFT_TIME_LIMIT = int(os.environ.get("TASK_SOFT_TIME_LIMIT_SECONDS", "1800"))
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 60
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A broker that is down must answer the web request quickly (503), not after minutes.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 3
if REDIS_URL:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 3, "socket_timeout": 10}

# Routed queues: collections on `collect`; plans, applies, alerts and the sweeper on `changes`, so
# a long collection never delays an apply when each queue has its own workers
# (docker-compose: worker-collect, worker-changes). A worker started without -Q consumes
# both (the demo, tests); any number of workers on any hosts may share a queue.
CELERY_TASK_QUEUES = (Queue("collect"), Queue("changes"))
CELERY_TASK_DEFAULT_QUEUE = "changes"
CELERY_TASK_ROUTES = {
    "clusters.collect_all": {"queue": "collect"},
    "clusters.collect": {"queue": "collect"},
    "clusters.plan": {"queue": "changes"},
    "clusters.apply": {"queue": "changes"},
    "clusters.manage": {"queue": "changes"},
    "clusters.sweep_jobs": {"queue": "changes"},
    # Alerts are short (bounded webhook/mail timeouts) and must not wait behind a round
    # of collections; pruning history is background work.
    "clusters.alert_deliver": {"queue": "changes"},
    "clusters.alerts_requeue": {"queue": "changes"},
    "clusters.history_prune": {"queue": "collect"},
}

CELERY_BEAT_SCHEDULE = {
    # A tick no worker took within its interval is dropped, and so is each cluster's
    # collection task it queued (clusters.tasks.collect_all): nothing piles up.
    "collect-all-clusters": {
        "task": "clusters.collect_all",
        "schedule": COLLECT_INTERVAL_SECONDS,
        "options": {"expires": COLLECT_INTERVAL_SECONDS},
    },
    "sweep-jobs": {"task": "clusters.sweep_jobs", "schedule": 30.0, "options": {"expires": 30}},
    "alerts-requeue": {
        "task": "clusters.alerts_requeue",
        "schedule": 300.0,
        "options": {"expires": 300},
    },
    "history-prune": {
        "task": "clusters.history_prune",
        "schedule": 3600.0,
        "options": {"expires": 3600},
    },
    "prune-snapshots": {
        "task": "clusters.snapshots_prune",
        "schedule": 3600.0,
        "options": {"expires": 3600},
    },
    # Online verify of resources whose last one is older than DRBD_VERIFY_INTERVAL_HOURS
    # (the task does nothing while that is 0).
    "verify-due": {"task": "clusters.verify_due", "schedule": 600.0, "options": {"expires": 600}},
}

# Alerts (docs: README "Alerts"): sent by the worker, retried with exponential backoff.
# E-mail goes through Django's SMTP backend (EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER,
# EMAIL_HOST_PASSWORD, EMAIL_USE_TLS / EMAIL_USE_SSL, DEFAULT_FROM_EMAIL).
PORTAL_URL = os.environ.get("PORTAL_URL", "")  # e.g. https://portal.example, for links
ALERT_EMAIL_BACKEND = os.environ.get(
    "ALERT_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend"
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL")
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "10"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "scst-portal@localhost")
ALERT_MAX_RETRIES = int(os.environ.get("ALERT_MAX_RETRIES", "5"))
ALERT_RETRY_BASE_SECONDS = int(os.environ.get("ALERT_RETRY_BASE_SECONDS", "30"))
ALERT_RETRY_MAX_SECONDS = int(os.environ.get("ALERT_RETRY_MAX_SECONDS", "1800"))

# History (charts): samples recorded at each collection, kept this many days.
HISTORY_RETENTION_DAYS = int(os.environ.get("HISTORY_RETENTION_DAYS", "30"))

CELERY_IMPORTS = (*CELERY_IMPORTS, "clusters.retention")
# Bounded records: what a node sends never sizes a page or the database.
COLLECT_OUTPUT_MAX_BYTES = int(os.environ.get("COLLECT_OUTPUT_MAX_BYTES", str(8 * 1024 * 1024)))
SNAPSHOT_KEEP_PER_NODE = int(os.environ.get("SNAPSHOT_KEEP_PER_NODE", "100"))
SNAPSHOT_KEEP_DAILY_DAYS = int(os.environ.get("SNAPSHOT_KEEP_DAILY_DAYS", "90"))
FINDING_EVIDENCE_MAX_CHARS = int(os.environ.get("FINDING_EVIDENCE_MAX_CHARS", "2000"))
FINDING_MAX_DETAILS = int(os.environ.get("FINDING_MAX_DETAILS", "100"))
PAGE_SIZE = int(os.environ.get("PAGE_SIZE", "50"))
# API tokens expire this many days after they were created (0: never).
API_TOKEN_MAX_AGE_DAYS = int(os.environ.get("API_TOKEN_MAX_AGE_DAYS", "90"))
