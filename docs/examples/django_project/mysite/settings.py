import os
import tempfile
from datetime import timedelta
from pathlib import Path

from spinach import RedisBroker

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "not-a-secret-for-the-example")
DEBUG = False
ALLOWED_HOSTS = ["localhost", "testserver"]
ROOT_URLCONF = "mysite.urls"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("MYSITE_DATABASE", BASE_DIR / "db.sqlite3"),
        # Each request runs in a transaction: jobs and emails are queued on commit
        "ATOMIC_REQUESTS": True,
    }
}

INSTALLED_APPS = (
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "polls",
    "spinach.contrib.spinachd",
)

# Spinach (these two have defaults: spinach.RedisBroker() and "spinach")
SPINACH_BROKER = RedisBroker.from_url(
    os.environ.get("SPINACH_REDIS_URL", "redis://localhost:6379/0")
)
SPINACH_NAMESPACE = "mysite"

# Emails are sent by jobs, through the actual backend (usually SMTP:
# "django.core.mail.backends.smtp.EmailBackend", the default)
EMAIL_BACKEND = "spinach.contrib.spinachd.mail.BackgroundEmailBackend"
SPINACH_ACTUAL_EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = os.environ.get("MYSITE_EMAIL_DIR", tempfile.gettempdir())

# Expired sessions are removed from the database once a week
SPINACH_CLEAR_SESSIONS_PERIODICITY = timedelta(weeks=1)
