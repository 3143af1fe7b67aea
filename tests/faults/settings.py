"""Settings of the API and worker processes the fault tests start: the test settings with
production's persistent database connections (checked before reuse), so a PostgreSQL restart
meets connections that went stale, as it would in production."""

from scrm.settings.test import *  # noqa: F403
from scrm.settings.test import DATABASES

DATABASES["default"]["CONN_MAX_AGE"] = 60
