# Production image: gunicorn serves the API and admin; the same image runs the Celery worker
# and beat (see docker-compose.yml). Settings come from the environment (scrm.settings.production).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=scrm.settings.production

WORKDIR /app
RUN useradd --system --uid 10001 --home-dir /app scrm

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Static files (admin, API docs assets) are collected at build time and served by WhiteNoise.
# The throwaway values only satisfy the production settings' checks during the build.
RUN SECRET_KEY=build-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz \
    ALLOWED_HOSTS=build DATABASE_URL=postgres://build@localhost/build \
    python manage.py collectstatic --noinput -v 0

USER scrm
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "scripts/healthcheck.py"]
CMD ["gunicorn", "scrm.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", \
     "--timeout", "60", "--access-logfile", "-"]
