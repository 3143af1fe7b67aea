"""Test settings: real PostgreSQL and Redis started by `make test` (scrm.devservers)."""

import os
import re
from urllib.parse import urlsplit, urlunsplit

from .base import *  # noqa: F403
from .base import env

SECRET_KEY = env("SECRET_KEY", default="test-insecure-5b1e0f2c9d8a7e6b5c4d3e2f1a0b9c8d")
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
SCRM_DEMO_LOGIN = True
WHITENOISE_AUTOREFRESH = True  # serve from app dirs; no collectstatic in tests
WHITENOISE_USE_FINDERS = True

# Parallel runs (pytest -n N): each xdist worker (gw0, gw1, …) uses a Redis database of its
# own, since every test empties the one it uses (cache, counters, broker queues).
_xdist_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if re.fullmatch(r"gw\d+", _xdist_worker):
    _redis = urlsplit(REDIS_URL)  # noqa: F405
    REDIS_URL = urlunsplit(_redis._replace(path=f"/{int(_xdist_worker[2:]) + 1}"))
    CACHES["default"]["LOCATION"] = REDIS_URL  # noqa: F405
    if not env("CELERY_BROKER_URL", default=""):
        CELERY_BROKER_URL = REDIS_URL
