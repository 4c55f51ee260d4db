import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "citizenai.settings.base")
# A WSGI sync worker serves one request at a time on one thread, so a kept PostgreSQL
# connection is reused safely; opening one per request cost about three quarters of the
# API's CPU time (bench/foundation.py). ASGI keeps the settings default of 0. An explicit
# DATABASE_CONN_MAX_AGE still wins.
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "60")

from apps.core.handlers import wsgi_application  # after the environment is set

application = wsgi_application()

# As citizenai/asgi.py: without a broker, webhook deliveries and retries run in a thread of
# each worker, started with it so pending retries resume after a restart.
from apps.webhooks.dispatch import start_local_worker_if_needed  # noqa: E402

start_local_worker_if_needed()
