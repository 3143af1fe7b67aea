"""Test settings: real PostgreSQL and Redis started by `make test` (scrm.devservers)."""

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
