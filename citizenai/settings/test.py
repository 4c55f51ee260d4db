"""Test settings: base, with a fast password hasher and isolated cache keys per run."""

import os

from citizenai.settings.base import *  # noqa: F403
from citizenai.settings.base import CACHE_KEY_PREFIX

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Each pytest-xdist worker and each run gets its own Redis key space for rate limits.
CACHE_KEY_PREFIX = f"{CACHE_KEY_PREFIX}-test-{os.getpid()}"
if REDIS_URL:  # noqa: F405
    CACHES["default"]["KEY_PREFIX"] = CACHE_KEY_PREFIX  # noqa: F405
    CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = f"{CACHE_KEY_PREFIX}:asgi"  # noqa: F405
MEDIA_ROOT = VAR_DIR / f"test-media-{os.getpid()}"  # noqa: F405

# Tests send webhooks in the calling thread and run Celery tasks eagerly; the integration
# tests that need a real worker start one as a subprocess with their own environment.
WEBHOOK_DISPATCH = "inline"
CELERY_TASK_ALWAYS_EAGER = True
WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
