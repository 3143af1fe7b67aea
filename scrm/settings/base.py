"""Settings shared by every environment. Values come from the environment (django-environ)."""

from pathlib import Path

import environ
from celery.schedules import crontab  # noqa: F401  (used by beat schedules below)
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "import_export",
    "scrm.tenancy",
    "customers",
    "interactions",
    "campaigns",
    "privacy",
    "wecom",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "scrm.api.middleware.BodySizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "scrm.api.middleware.ApiTrailingSlashMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "scrm.urls"
WSGI_APPLICATION = "scrm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "scrm" / "templates"],
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

DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/scrm")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env.int(
    "DATABASE_CONNECT_TIMEOUT", default=5
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "scrm",
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Requests larger than this are answered 413 (the batch endpoint's cap is below).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "scrm.api.authentication.BearerTokenAuthentication",
        "scrm.api.authentication.AppKeyAuthentication",
        "scrm.api.authentication.BrandSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["scrm.api.permissions.IsBrandCaller"],
    "DEFAULT_PAGINATION_CLASS": "scrm.api.pagination.CursorPagination",
    "DEFAULT_FILTER_BACKENDS": ["scrm.api.filters.FilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "scrm.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "scrm.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "scrm.api.fastjson.PageJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["scrm.api.parsers.JSONParser"],
    "DEFAULT_THROTTLE_RATES": {
        "auth": env("AUTH_THROTTLE_RATE", default="20/min"),
        "customer_token": env("CUSTOMER_TOKEN_THROTTLE_RATE", default="600/min"),
        # Ingest (interactions/ POST and interactions/batch/), per app key (or staff member,
        # or customer): a request is one event or a batch of up to 1,000.
        "ingest": env("INGEST_THROTTLE_RATE", default="1200/min"),
    },
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "scrm API",
    "DESCRIPTION": (
        "Private-domain SCRM: customers, the friendship graph, KOC advocates, moments posts, "
        "interactions, tie strength, fatigue rules and campaigns. Every row belongs to a brand; "
        "callers are staff (Bearer token or session), brand app keys (`Api-Key`) and "
        "short-lived customer tokens (Bearer)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Operations are grouped (tagged) by the resource after the version prefix: customers,
    # posts, interactions, campaigns, … instead of one "v1" group.
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "PostStatusEnum": "campaigns.models.PostStatus",
        "AdvocateStatusEnum": "customers.models.AdvocateStatus",
        "FriendshipSourceEnum": "customers.models.FriendshipSource",
        "DeliveryStatusEnum": "campaigns.models.DeliveryStatus",
        "PublishDecisionEnum": ["published", "deferred", "rejected"],
        "IngestStatusEnum": ["created", "duplicate", "rejected"],
        "CampaignStatusEnum": "campaigns.models.CampaignStatus.choices",
        "ConversionSourceEnum": "campaigns.models.ConversionSource.choices",
        "ConversionAnswerStatusEnum": [("created", "created"), ("duplicate", "duplicate")],
    },
}

# --- Celery -------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=None)
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=25 * 60)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = (Queue("default"), Queue("scoring"), Queue("maintenance"))
CELERY_TASK_ROUTES = {
    "interactions.*": {"queue": "scoring"},
    "maintenance.*": {"queue": "maintenance"},
}
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 60 * 60}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# --- Domain parameters --------------------------------------------------------------------
SCRM = {
    # Tokens
    "STAFF_TOKEN_TTL_HOURS": env.int("SCRM_STAFF_TOKEN_TTL_HOURS", default=24 * 7),
    "CUSTOMER_TOKEN_TTL_MINUTES": env.int("SCRM_CUSTOMER_TOKEN_TTL_MINUTES", default=60),
    # Pagination
    "PAGE_SIZE": env.int("SCRM_PAGE_SIZE", default=50),
    "MAX_PAGE_SIZE": env.int("SCRM_MAX_PAGE_SIZE", default=500),
    # Advocate tiers by friend count: nano < MICRO, micro < MACRO, macro >= MACRO
    "TIER_MICRO_MIN_FRIENDS": env.int("SCRM_TIER_MICRO_MIN_FRIENDS", default=1_000),
    "TIER_MACRO_MIN_FRIENDS": env.int("SCRM_TIER_MACRO_MIN_FRIENDS", default=100_000),
    # Request body caps (bytes) by path suffix; others use DATA_UPLOAD_MAX_MEMORY_SIZE.
    "BODY_LIMITS_BY_PATH_SUFFIX": {
        "/interactions/batch/": env.int("SCRM_BATCH_MAX_BODY_BYTES", default=4 * 1024 * 1024),
        "/import/": env.int("SCRM_IMPORT_MAX_BODY_BYTES", default=20 * 1024 * 1024),
    },
    # WeCom callbacks: largest body (WeCom's events are a few hundred bytes), the largest
    # age (and future skew) of a callback's timestamp, and the key that encrypts each brand's
    # callback token and EncodingAESKey at rest (empty: derived from SECRET_KEY).
    "WECOM_CALLBACK_MAX_BODY_BYTES": env.int("SCRM_WECOM_CALLBACK_MAX_BODY_BYTES", default=65_536),
    "WECOM_MAX_CLOCK_SKEW_SECONDS": env.int("SCRM_WECOM_MAX_CLOCK_SKEW_SECONDS", default=300),
    "WECOM_SECRETS_KEY": env("SCRM_WECOM_SECRETS_KEY", default=""),
    # The sweeper (beat, `manage.py install_wecom_schedule`) applies callbacks still pending
    # this long after they were received (their task was lost), every SWEEP_EVERY minutes.
    "WECOM_SWEEP_AFTER_SECONDS": env.int("SCRM_WECOM_SWEEP_AFTER_SECONDS", default=120),
    "WECOM_SWEEP_EVERY_MINUTES": env.int("SCRM_WECOM_SWEEP_EVERY_MINUTES", default=2),
    # Churn alerts list the posts delivered to the customer this many days before they left.
    "CHURN_SEEN_POSTS_DAYS": env.int("SCRM_CHURN_SEEN_POSTS_DAYS", default=7),
    # Deepest nesting of objects/arrays in a JSON request body (400 beyond it).
    "JSON_MAX_DEPTH": env.int("SCRM_JSON_MAX_DEPTH", default=32),
    # Phones without a country code are read in this region (ISO 3166 code).
    "PHONE_DEFAULT_REGION": env("SCRM_PHONE_DEFAULT_REGION", default="CN"),
    # CSV import
    "IMPORT_MAX_ROWS": env.int("SCRM_IMPORT_MAX_ROWS", default=50_000),
    # Posts
    "POST_TEXT_MAX_CHARS": env.int("SCRM_POST_TEXT_MAX_CHARS", default=2_000),
    "POST_MAX_IMAGES": env.int("SCRM_POST_MAX_IMAGES", default=9),
    # Publishing: pair cool-downs after negative signals are the brand's fatigue policy
    # (SCRM_FATIGUE["COOLDOWN_DAYS"] are its defaults). Back-off counts ignored commercial
    # exposures since the recipient's last engagement, looking back at most this many days.
    "FATIGUE_IGNORED_LOOKBACK_DAYS": env.int("SCRM_FATIGUE_IGNORED_LOOKBACK_DAYS", default=90),
    # Deferred posts: the beat task publishes those that are due, this many per run, every
    # DEFERRED_PUBLISH_EVERY_MINUTES (installed by `manage.py install_publishing_schedule`).
    "DEFERRED_PUBLISH_EVERY_MINUTES": env.int("SCRM_DEFERRED_PUBLISH_EVERY_MINUTES", default=1),
    "DEFERRED_PUBLISH_BATCH": env.int("SCRM_DEFERRED_PUBLISH_BATCH", default=200),
    # Interaction ingest
    "INGEST_BATCH_MAX_EVENTS": env.int("SCRM_INGEST_BATCH_MAX_EVENTS", default=1_000),
    "INGEST_PAYLOAD_MAX_BYTES": env.int("SCRM_INGEST_PAYLOAD_MAX_BYTES", default=4_096),
    "INGEST_FUTURE_SKEW_MINUTES": env.int("SCRM_INGEST_FUTURE_SKEW_MINUTES", default=5),
    # Newly created interactions are handed to the scoring queue in tasks of this many ids.
    "SCORING_HANDOFF_CHUNK": env.int("SCRM_SCORING_HANDOFF_CHUNK", default=1_000),
    # A scoring task applies its own ids plus the brand's oldest other pending interactions,
    # up to this many per partition in one transaction: one batch per brand and partition at
    # a time, so under load the next one takes what queued meanwhile; also the sweeper's batch.
    "SCORING_BATCH_MAX": env.int("SCRM_SCORING_BATCH_MAX", default=20_000),
    # A brand's events are scored in this many partitions by pair (actor + target mod N):
    # batches of different partitions write different tie rows, so up to N workers score
    # one brand at the same time (one batch per partition at a time). Set it to the
    # worker's concurrency: a scoring process mostly waits on PostgreSQL, so 4 processes
    # and partitions score ~1.5x faster than 2 on a 2-CPU machine (docs/benchmarks.md).
    "SCORING_PARTITIONS": env.int("SCRM_SCORING_PARTITIONS", default=4),
    # Campaigns: length of enrollment referral codes (advocate codes are 10 characters long,
    # so the two kinds never collide), life of a signed share link.
    "ENROLLMENT_CODE_LENGTH": env.int("SCRM_ENROLLMENT_CODE_LENGTH", default=12),
    "SHARE_LINK_MAX_AGE_DAYS": env.int("SCRM_SHARE_LINK_MAX_AGE_DAYS", default=90),
    # Fraud: this many conversions from one buyer within the window are flagged for review.
    "CONVERSION_BURST_COUNT": env.int("SCRM_CONVERSION_BURST_COUNT", default=3),
    "CONVERSION_BURST_MINUTES": env.int("SCRM_CONVERSION_BURST_MINUTES", default=10),
    # Orders older than this many days are refused (a typo, not a late report).
    "CONVERSION_MAX_AGE_DAYS": env.int("SCRM_CONVERSION_MAX_AGE_DAYS", default=3_650),
    # Campaign reports: upper edges of the buyer's tie-strength bands (0..1); the last band
    # runs from the last edge to 1.
    "REPORT_TIE_BAND_EDGES": env.list(
        "SCRM_REPORT_TIE_BAND_EDGES", cast=float, default=[0.2, 0.4, 0.6, 0.8]
    ),
    # Tie scoring: how long an incremental batch waits for the brand's scoring lock (the
    # batch before it, or a running recompute) before the task is retried; after how many
    # minutes the sweeper scores interactions a lost or killed task left unscored; work_mem
    # of the full recompute's transaction.
    "SCORING_LOCK_TIMEOUT_MS": env.int("SCRM_SCORING_LOCK_TIMEOUT_MS", default=10_000),
    "SCORING_SWEEP_AFTER_MINUTES": env.int("SCRM_SCORING_SWEEP_AFTER_MINUTES", default=10),
    "RECOMPUTE_WORK_MEM": env("SCRM_RECOMPUTE_WORK_MEM", default="256MB"),
    # Beat schedules installed by `manage.py install_scoring_schedule` (editable in admin).
    "RECOMPUTE_CRONTAB": env("SCRM_RECOMPUTE_CRONTAB", default="30 3 * * *"),
    "KAPPA_REFRESH_MINUTES": env.int("SCRM_KAPPA_REFRESH_MINUTES", default=60),
    "SWEEP_EVERY_MINUTES": env.int("SCRM_SWEEP_EVERY_MINUTES", default=5),
    # Retention of raw interactions (per brand, default keep): the shortest period a brand may
    # set (the fatigue look-backs, cool-downs and influence windows read raw events), and when
    # the fold runs (UTC crontab; before the nightly recompute), installed by
    # `manage.py install_privacy_schedule`.
    "RETENTION_MIN_DAYS": env.int("SCRM_RETENTION_MIN_DAYS", default=180),
    "RETENTION_CRONTAB": env("SCRM_RETENTION_CRONTAB", default="0 3 * * *"),
    # Erasure requests still queued this many minutes after they were made (their task was
    # lost: the broker was down at commit) are queued again by the beat task
    # `privacy.requeue_erasures`, every ERASURE_SWEEP_EVERY_MINUTES (`install_privacy_schedule`).
    "ERASURE_SWEEP_AFTER_MINUTES": env.int("SCRM_ERASURE_SWEEP_AFTER_MINUTES", default=10),
    "ERASURE_SWEEP_EVERY_MINUTES": env.int("SCRM_ERASURE_SWEEP_EVERY_MINUTES", default=5),
    # Advocate leaderboard (influence = reach × mean tie strength × engagement rate) and KOC
    # candidates (advocacy potential). Engagement counts distinct (post, person) pairs with one
    # of ENGAGEMENT_TYPES on a person's posts over the last INFLUENCE_WINDOW_DAYS.
    "INFLUENCE_WINDOW_DAYS": env.int("SCRM_INFLUENCE_WINDOW_DAYS", default=30),
    "ENGAGEMENT_TYPES": env.list(
        "SCRM_ENGAGEMENT_TYPES", default=["click", "like", "comment", "reply", "forward"]
    ),
    # Engagement rate smoothed towards the brand's rate: (engaged + m·prior) / (deliveries + m).
    "ENGAGEMENT_PRIOR_DELIVERIES": env.float("SCRM_ENGAGEMENT_PRIOR_DELIVERIES", default=20.0),
    # The prior when the brand delivered nothing in the window.
    "ENGAGEMENT_PRIOR_RATE": env.float("SCRM_ENGAGEMENT_PRIOR_RATE", default=0.05),
    # potential = W_TIES·(sum of the TOP_TIES strongest ties / TOP_TIES)
    #           + W_ENGAGEMENT·(1 − e^(−engaged/ENGAGEMENT_SCALE))
    #           + W_PURCHASES·(1 − e^(−purchases through their links/PURCHASE_SCALE))
    "CANDIDATE_TOP_TIES": env.int("SCRM_CANDIDATE_TOP_TIES", default=10),
    "CANDIDATE_W_TIES": env.float("SCRM_CANDIDATE_W_TIES", default=0.5),
    "CANDIDATE_W_ENGAGEMENT": env.float("SCRM_CANDIDATE_W_ENGAGEMENT", default=0.3),
    "CANDIDATE_W_PURCHASES": env.float("SCRM_CANDIDATE_W_PURCHASES", default=0.2),
    "CANDIDATE_ENGAGEMENT_SCALE": env.float("SCRM_CANDIDATE_ENGAGEMENT_SCALE", default=10.0),
    "CANDIDATE_PURCHASE_SCALE": env.float("SCRM_CANDIDATE_PURCHASE_SCALE", default=2.0),
}

# Tie strength (interactions.scoring.TieParams.from_settings). SPEC "Tie strength".
SCRM_TIES = {
    # Weight of one interaction of each type; "unlike" takes back one like (see scoring.py).
    "WEIGHTS": {
        "view": env.float("SCRM_TIE_WEIGHT_VIEW", default=0.0),
        "click": env.float("SCRM_TIE_WEIGHT_CLICK", default=0.2),
        "like": env.float("SCRM_TIE_WEIGHT_LIKE", default=1.0),
        "forward": env.float("SCRM_TIE_WEIGHT_FORWARD", default=2.0),
        "comment": env.float("SCRM_TIE_WEIGHT_COMMENT", default=3.0),
        "message": env.float("SCRM_TIE_WEIGHT_MESSAGE", default=3.0),
        "reply": env.float("SCRM_TIE_WEIGHT_REPLY", default=6.0),
        "purchase": env.float("SCRM_TIE_WEIGHT_PURCHASE", default=5.0),
    },
    "HALF_LIFE_DAYS": env.float("SCRM_TIE_HALF_LIFE_DAYS", default=14.0),
    # strength = 1 - (1 + c*E/kappa)^(-SATURATION_POWER), c = 2^(1/SATURATION_POWER) - 1
    # (strength 1/2 at E = kappa), evidence
    # E = I * (1 + DURATION_WEIGHT*(1-e^(-days/DURATION_SCALE_DAYS))) * (1 + MUTUAL_WEIGHT*Jaccard).
    # A brand's fitted weights (manage.py fit_tie_model) replace WEIGHTS and the two term weights.
    "DURATION_WEIGHT": env.float("SCRM_TIE_DURATION_WEIGHT", default=0.25),
    "MUTUAL_WEIGHT": env.float("SCRM_TIE_MUTUAL_WEIGHT", default=4.0),
    "SATURATION_POWER": env.float("SCRM_TIE_SATURATION_POWER", default=0.5),
    "DURATION_SCALE_DAYS": env.float("SCRM_TIE_DURATION_SCALE_DAYS", default=180.0),
    # Reciprocity factor = FLOOR + (1-FLOOR)*min/max.
    "RECIPROCITY_FLOOR": env.float("SCRM_TIE_RECIPROCITY_FLOOR", default=0.8),
    # kappa = this percentile of I over active ties; DEFAULT when there are none.
    "KAPPA_PERCENTILE": env.float("SCRM_TIE_KAPPA_PERCENTILE", default=75.0),
    "KAPPA_DEFAULT": env.float("SCRM_TIE_KAPPA_DEFAULT", default=3.0),
    "KAPPA_MIN": env.float("SCRM_TIE_KAPPA_MIN", default=0.1),
    # Directed pairs idle this long with affinity below the threshold are pruned.
    "PRUNE_IDLE_DAYS": env.float("SCRM_TIE_PRUNE_IDLE_DAYS", default=60.0),
    "PRUNE_MIN_AFFINITY": env.float("SCRM_TIE_PRUNE_MIN_AFFINITY", default=0.06),
}

# Fatigue defaults for a brand's policy (campaigns.fatigue.rules.FatiguePolicy.from_settings);
# each brand may override them. SPEC "Fatigue rules".
SCRM_FATIGUE = {
    "SENDER_DAILY_CAP": env.int("SCRM_FATIGUE_SENDER_DAILY_CAP", default=2),
    "SENDER_WEEKLY_CAP": env.int("SCRM_FATIGUE_SENDER_WEEKLY_CAP", default=8),
    "SENDER_MIN_GAP_HOURS": env.float("SCRM_FATIGUE_SENDER_MIN_GAP_HOURS", default=3.0),
    "SENDER_COMMERCIAL_SHARE_MAX": env.float("SCRM_FATIGUE_COMMERCIAL_SHARE_MAX", default=0.5),
    "QUIET_HOURS_START": env("SCRM_FATIGUE_QUIET_HOURS_START", default="22:00"),
    "QUIET_HOURS_END": env("SCRM_FATIGUE_QUIET_HOURS_END", default="08:00"),
    "RECIPIENT_DAILY_CAP": env.int("SCRM_FATIGUE_RECIPIENT_DAILY_CAP", default=1),
    "RECIPIENT_WEEKLY_CAP": env.int("SCRM_FATIGUE_RECIPIENT_WEEKLY_CAP", default=4),
    "WINDOW_DAYS": env.int("SCRM_FATIGUE_WINDOW_DAYS", default=7),
    # Cool-downs in days after a negative signal of a recipient on a sender; null = for good.
    "COOLDOWN_DAYS": {
        "block": None,
        "report": None,
        "mute_author": env.int("SCRM_FATIGUE_COOLDOWN_MUTE_DAYS", default=90),
        "unfriend": env.int("SCRM_FATIGUE_COOLDOWN_UNFRIEND_DAYS", default=90),
        "hide_post": env.int("SCRM_FATIGUE_COOLDOWN_HIDE_DAYS", default=30),
    },
    "BACKOFF_AFTER_IGNORED": env.int("SCRM_FATIGUE_BACKOFF_AFTER_IGNORED", default=3),
    "BACKOFF_BASE_DAYS": env.float("SCRM_FATIGUE_BACKOFF_BASE_DAYS", default=2.0),
    "BACKOFF_MAX_DAYS": env.float("SCRM_FATIGUE_BACKOFF_MAX_DAYS", default=30.0),
    # Negative actions per recipient reached over the window: above HALVE caps are halved,
    # above PAUSE the advocate is paused.
    "HEALTH_HALVE_RATE": env.float("SCRM_FATIGUE_HEALTH_HALVE_RATE", default=0.001),
    "HEALTH_PAUSE_RATE": env.float("SCRM_FATIGUE_HEALTH_PAUSE_RATE", default=0.003),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
