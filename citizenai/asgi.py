"""HTTP goes to Django; WebSockets to Channels consumers behind origin validation."""

import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "citizenai.settings.base")

from apps.core.handlers import asgi_application, freeze_startup_objects  # after the environment is set

django_asgi_app = asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from apps.realtime.auth import OriginValidator  # noqa: E402
from citizenai.routing import websocket_urlpatterns  # noqa: E402

# OriginValidator: a browser's Origin must be an allowed host (AllowedHostsOriginValidator);
# clients without an Origin (SDKs, servers) get in without cookies, i.e. by token only.
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": OriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

# On the embedded default (no broker) webhook deliveries and retries run in a thread of
# the server process; start it with the server so pending retries resume after a restart.
from apps.webhooks.dispatch import start_local_worker_if_needed  # noqa: E402

start_local_worker_if_needed()

# A server holding thousands of sockets has a large, long-lived heap, and a full collection
# scans all of it: such pauses of several hundred ms stalled every socket of a fan-out in one
# round out of three (bench/realtime.py). What was imported so far lives as long as the
# process and is frozen out of collections; larger thresholds make young collections rarer
# and full ones rarer still, while cyclic garbage is still collected.
freeze_startup_objects()
gc.set_threshold(50_000, 20, 20)
