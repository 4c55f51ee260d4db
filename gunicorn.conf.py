"""gunicorn's settings for the web role; gunicorn reads ./gunicorn.conf.py when it starts.

Workers: WEB_CONCURRENCY, else one sync worker per CPU this process may run on. A cached,
authenticated API request no longer waits on the network (apps/core/near_cache.py,
apps/core/shared_counts.py), so it is CPU-bound, and on a 2-CPU machine 4 workers cost
about half again as much CPU per request as 2: more processes than CPUs only take turns
and evict each other's caches (bench/foundation.py, README "Production"). Requests that
mostly wait on PostgreSQL (a chat message) gain from more workers: raise WEB_CONCURRENCY
for such a load.
"""

import os

from citizenai.env import Env

workers = Env().int("WEB_CONCURRENCY", len(os.sched_getaffinity(0)), minimum=1)
