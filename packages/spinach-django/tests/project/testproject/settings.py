"""Settings of the test project: SQLite files, a MemoryBroker, no network.

With SPINACH_TEST_POSTGRES_HOST set, the default database is a PostgreSQL
server instead: test_django_transactions_postgres.py runs the transaction
tests so, on the private server it started.
"""

import os
import tempfile
from pathlib import Path

from spinach import MemoryBroker

_TMP = Path(os.environ.get("SPINACH_DJANGO_TMP") or tempfile.gettempdir())

SECRET_KEY = "only-for-tests"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "testproject.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "polls",
    "shop",
    "spinach.contrib.spinachd",
]

MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware"]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(_TMP / f"spinachd-testproject-{os.getpid()}.sqlite3"),
        # A file, not the in-memory default: worker threads need connections
        # of their own that really close.
        "TEST": {"NAME": str(_TMP / f"spinachd-test-{os.getpid()}.sqlite3")},
    }
}

if os.environ.get("SPINACH_TEST_POSTGRES_HOST"):
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ["SPINACH_TEST_POSTGRES_HOST"],  # the Unix socket's folder
            "PORT": os.environ["SPINACH_TEST_POSTGRES_PORT"],
            "USER": os.environ["SPINACH_TEST_POSTGRES_USER"],
            "NAME": "spinach",  # never created: the tests use test_spinach
        }
    }

EMAIL_BACKEND = "spinach.contrib.spinachd.mail.BackgroundEmailBackend"
SPINACH_ACTUAL_EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
SPINACH_BROKER = MemoryBroker()
SPINACH_NAMESPACE = "spinachd-tests"

# Spinach's INFO logs on stderr, as a user would configure them, for the tests
# running manage.py in a subprocess (in-process tests keep pytest's logging).
if os.environ.get("SPINACH_DJANGO_LOG_TO_STDERR"):
    LOGGING = {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"stderr": {"class": "logging.StreamHandler"}},
        "loggers": {"spinach": {"handlers": ["stderr"], "level": "INFO"}},
    }
