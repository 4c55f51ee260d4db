"""Settings for bench/foundation.py: production settings with the bench URLconf; with
BENCH_BARE=1 no middleware at all, so /bench/bare measures Django and the server alone;
with BENCH_BARE=django only the middleware that is not ours (Django's and WhiteNoise).
BENCH_DB_POOL=1 is an experiment: Django's psycopg connection pool (needs psycopg_pool)."""

import os

from citizenai.settings.production import *  # noqa: F403
from citizenai.settings.production import DATABASES, MIDDLEWARE

ROOT_URLCONF = "citizenai.bench_urls"
if os.environ.get("BENCH_BARE") == "1":
    MIDDLEWARE = []
elif os.environ.get("BENCH_BARE") == "django":
    # Django's own classes where ours subclass them (they skip work on API reads).
    DJANGO_OWN = {
        "apps.core.middleware.SessionMiddleware": "django.contrib.sessions.middleware.SessionMiddleware",
        "apps.core.middleware.AuthenticationMiddleware": "django.contrib.auth.middleware.AuthenticationMiddleware",
    }
    MIDDLEWARE = [DJANGO_OWN.get(m, m) for m in MIDDLEWARE if m in DJANGO_OWN or not m.startswith("apps.")]
if os.environ.get("BENCH_DB_POOL") == "1":
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # a pool replaces persistent connections
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {"min_size": 2, "max_size": 8}
