"""Production settings: everything in base, plus refusals and HTTPS hardening.

Start with DJANGO_SETTINGS_MODULE=citizenai.settings.production. The process refuses to
start with DEBUG on, a SECRET_KEY that is the development one or not random-looking, or no
ALLOWED_HOSTS (or "*").
"""

from django.core.exceptions import ImproperlyConfigured

from citizenai.env import env
from citizenai.settings.base import *  # noqa: F403
from citizenai.settings.base import INSECURE_DEFAULT_SECRET_KEY, SECRET_KEY

if env.bool("DEBUG", False):
    raise ImproperlyConfigured("DEBUG must be off in production (unset DEBUG or set DEBUG=false).")
# As Django's own deploy check (security.W009): long, not the insecure prefix, not one
# character repeated.
if (
    SECRET_KEY == INSECURE_DEFAULT_SECRET_KEY
    or len(SECRET_KEY) < 50
    or len(set(SECRET_KEY)) < 5
    or SECRET_KEY.startswith("django-insecure-")
):
    raise ImproperlyConfigured("SECRET_KEY must be set to a random value of at least 50 characters in production.")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must list the host names this site serves.")
if "*" in ALLOWED_HOSTS:  # any Host header would be believed: password-reset links, absolute URLs
    raise ImproperlyConfigured("ALLOWED_HOSTS must list the host names this site serves, not '*'.")

DEBUG = False
ENVIRONMENT = env.str("ENVIRONMENT", "production")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", True)
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
if env.bool("SECURE_PROXY_SSL_HEADER", True):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# The flag only allows submitting the domain to the browsers' preload list; set false to opt out.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
}
WHITENOISE_USE_FINDERS = False
