"""Local development: `make run`. Never use in production."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default="local-insecure-0c6f5e7b3a2d4c1e9f8a7b6c5d4e3f2a")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "0.0.0.0"])  # noqa: S104
# Creates the demo brand's `demo` / `demo` staff login in seed_demo.
SCRM_DEMO_LOGIN = True
