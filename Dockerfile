# syntax=docker/dockerfile:1
#
# CitizenAI: one image for every role; docker-compose.yml chooses the command.
#
#   web     (default CMD) gunicorn with sync workers, WSGI: all plain HTTP. bench/foundation.py
#           measured it well ahead of Daphne and of gunicorn+uvicorn workers, on the bare view and
#           on the authenticated API path alike.
#   asgi    daphne --access-log /dev/null citizenai.asgi:application: what needs ASGI. WebSockets (/api/v1/ws/..., routed
#           in citizenai/routing.py) and streaming responses built on async iterators, today the
#           chat SSE stream /api/v1/chat/stream. Under WSGI Django buffers such a stream whole and
#           a sync worker is held for its duration. A reverse proxy in front sends /api/v1/ws/ and
#           /api/v1/chat/stream to the asgi service and everything else to web.
#   worker  celery -A citizenai worker
#   beat    celery -A citizenai beat
#
# Build: docker build -t citizenai .
# Run:   see docker-compose.yml; SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL and REDIS_URL come from
#        the environment at run time, never from the image.

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=citizenai.settings.production \
    VAR_DIR=/app/var \
    MEDIA_ROOT=/app/var/media \
    STATIC_ROOT=/app/staticfiles

WORKDIR /app

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app

# Every pinned requirement ships a manylinux wheel (psycopg-binary bundles libpq), so no compiler.
COPY requirements.txt .
RUN pip install -r requirements.txt

# The code stays root-owned and read-only to the app user; only var/ (media) is writable.
COPY . .

# Static files are collected into the image: production settings refuse to load without a
# SECRET_KEY, so collectstatic gets a throwaway one that lives only in this build step.
RUN SECRET_KEY="collectstatic-only-$(python -c 'import secrets; print(secrets.token_urlsafe(48))')" \
    ALLOWED_HOSTS=localhost \
    python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p /app/var/media \
    && chown -R app:app /app/var

USER app

EXPOSE 8000

# Readiness of the web role: /api/v1/system/health checks the database, cache, channel layer,
# broker and file storage (503 if one fails). It is asked for the first ALLOWED_HOSTS name,
# as if through the TLS proxy, so SECURE_SSL_REDIRECT does not turn it into a redirect.
# Other roles override this in docker-compose.yml.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; h = (os.environ.get('ALLOWED_HOSTS') or 'localhost').split(',')[0].strip().lstrip('.'); r.urlopen(r.Request('http://127.0.0.1:8000/api/v1/system/health', headers={'Host': h if h not in ('', '*') else 'localhost', 'X-Forwarded-Proto': 'https'}), timeout=8)"]

# Workers: gunicorn.conf.py, one per CPU unless WEB_CONCURRENCY says otherwise. Our
# RequestIdMiddleware writes the access log, so gunicorn's stays off; so does its control
# socket, which would go to the read-only $HOME.
# Sync workers expect a buffering reverse proxy in front (slow clients).
CMD ["gunicorn", "citizenai.wsgi:application", \
     "--bind", "0.0.0.0:8000", \
     "--no-control-socket", \
     "--worker-tmp-dir", "/dev/shm", \
     "--timeout", "30", \
     "--graceful-timeout", "30", \
     "--max-requests", "5000", \
     "--max-requests-jitter", "500"]
