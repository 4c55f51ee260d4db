"""Open311 GeoReport v2 endpoints under /open311/v2/.

Plain Django views (not DRF): the answers are the spec's own XML and JSON, never the
/api/v1 envelope, and they stay out of the OpenAPI schema. Each view declares who may call
each method in ``method_permissions`` with the project's permission classes; a method that
is not declared is refused. Reads are public. POST needs an ``api_key`` (one of our API
keys) whose owner may create concerns.
"""

from __future__ import annotations

import logging
import math
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from rest_framework.permissions import BasePermission

from apps.accounts.authentication import authenticate_bearer
from apps.accounts.models import User
from apps.core.exceptions import InvalidCredentials, log_unhandled
from apps.core.net import client_ip
from apps.core.permissions import Public, require
from apps.core.ratelimit import credential_bucket, tier_hit
from apps.open311 import documents, params, selectors, services
from apps.open311.errors import Open311Error, bad_request, forbidden, not_found
from apps.open311.formats import DEFAULT_FORMAT, Document, format_from_suffix, render, render_error

logger = logging.getLogger(__name__)

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

Answer = tuple[Document, int]


def _throttle(request: HttpRequest, tier: str, identity: str) -> None:
    """Counts the request against the caller's budget (shared with /api/v1)."""
    if not settings.RATE_LIMIT_ENABLED:
        return
    budget = tier_hit(tier, identity)
    request.ratelimit = budget  # type: ignore[attr-defined]  # the X-RateLimit-* headers
    if budget.exceeded:
        wait = max(1, math.ceil(budget.wait()))
        raise Open311Error(429, f"Rate limit exceeded; retry in {wait} seconds.", headers={"Retry-After": str(wait)})


def _throttle_anonymous(request: HttpRequest) -> None:
    _throttle(request, "anonymous", f"ip:{client_ip(request)}")


@method_decorator(csrf_exempt, name="dispatch")  # no cookie authentication here: api_key only
class Open311View(View):
    """Format from the path suffix, jurisdiction check, rate limit, api_key and permission
    checks, then the handler; every failure is an Open311 error list in that format."""

    method_permissions: ClassVar[dict[str, list[type[BasePermission]]]] = {}
    # Methods whose caller is identified by api_key (form field, query or Bearer header).
    api_key_methods: ClassVar[frozenset[str]] = frozenset()
    strict_format: ClassVar[bool] = True

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        suffix = kwargs.pop("fmt", None)
        fmt = DEFAULT_FORMAT
        try:
            try:
                fmt = format_from_suffix(suffix)
            except Open311Error:
                if self.strict_format:
                    raise
            method = "GET" if request.method == "HEAD" else str(request.method)
            handler = getattr(self, method.lower(), None)
            permissions = self.method_permissions.get(method)
            if handler is None or permissions is None:
                allowed = ", ".join(sorted(self.method_permissions))
                raise Open311Error(405, f"{request.method} is not allowed; use {allowed}.", headers={"Allow": allowed})
            form = self._form(request, method)
            params.refuse_null_characters(form, request.GET)
            jurisdiction = params.value(form, "jurisdiction_id") or params.value(request.GET, "jurisdiction_id")
            params.jurisdiction_check(jurisdiction)
            if method in self.api_key_methods:
                request.user = self._api_key_user(request, form)
            else:
                _throttle_anonymous(request)
            for permission in permissions:
                if not permission().has_permission(request, self):  # type: ignore[arg-type]
                    raise forbidden("This api_key may not do this.")
            document, status = handler(request, form, *args, **kwargs)
            return render(document, fmt, status)
        except Open311Error as exc:
            return render_error(self._counted(request, exc), fmt)
        except Exception as exc:
            log_unhandled(exc)
            return render_error(Open311Error(500, "An internal error occurred; please try again later."), fmt)

    @staticmethod
    def _counted(request: HttpRequest, error: Open311Error) -> Open311Error:
        """A request refused before its caller was counted (a bad format, jurisdiction or
        body) is counted by address, so it carries the X-RateLimit-* headers too; over
        budget, the 429 is the answer."""
        if hasattr(request, "ratelimit"):
            return error
        try:
            _throttle_anonymous(request)
        except Open311Error as over_budget:
            return over_budget
        return error

    def _form(self, request: HttpRequest, method: str) -> QueryDict:
        if method != "POST":
            return request.GET
        content_type = request.content_type or ""
        if content_type not in FORM_TYPES:
            raise bad_request("Send the request as application/x-www-form-urlencoded.")
        limit = settings.API_MAX_UPLOAD_BYTES if content_type == "multipart/form-data" else settings.API_MAX_JSON_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise bad_request("Invalid Content-Length header.") from None
        if length > limit:
            raise bad_request(f"The request body exceeds {limit} bytes.")
        try:
            return request.POST
        except (SuspiciousOperation, MultiPartParserError):
            raise bad_request("The request body could not be read (malformed or too large).") from None

    def _api_key_user(self, request: HttpRequest, form: QueryDict) -> User:
        secret = params.value(form, "api_key") or params.value(request.GET, "api_key")
        if secret is None:
            header = request.META.get("HTTP_AUTHORIZATION", "").split()
            if len(header) == 2 and header[0].lower() == "bearer":
                secret = header[1]
        if secret is None:
            _throttle_anonymous(request)
            raise forbidden("api_key was not provided -- can't proceed with create_request.")
        try:
            user, credential = authenticate_bearer(secret)
        except InvalidCredentials as exc:
            _throttle_anonymous(request)
            raise forbidden(f"Invalid api_key received -- can't proceed with create_request ({exc.detail}).") from None
        _throttle(request, *credential_bucket(user, credential))
        return user


class DiscoveryView(Open311View):
    """Service discovery: where the endpoint is, its formats and how to get an API key."""

    method_permissions: ClassVar[dict[str, list[type[BasePermission]]]] = {"GET": [Public]}

    def get(self, request: HttpRequest, form: QueryDict) -> Answer:
        endpoint = request.build_absolute_uri(reverse("open311:root")).rstrip("/")
        account = request.build_absolute_uri(reverse("accounts:account"))
        api_keys = request.build_absolute_uri(reverse("api-keys"))
        document = documents.discovery_document(
            endpoint_url=endpoint,
            contact=f"Questions about this API: contact the city through {request.build_absolute_uri('/')}",
            key_service=(
                f"Create an API key on your account page ({account}) or with POST {api_keys}; "
                "send it as api_key when creating service requests."
            ),
            production=not settings.DEBUG,
        )
        return document, 200


class ServiceListView(Open311View):
    method_permissions: ClassVar[dict[str, list[type[BasePermission]]]] = {"GET": [Public]}

    def get(self, request: HttpRequest, form: QueryDict) -> Answer:
        return documents.services_document(selectors.service_list()), 200


class ServiceDefinitionView(Open311View):
    method_permissions: ClassVar[dict[str, list[type[BasePermission]]]] = {"GET": [Public]}

    def get(self, request: HttpRequest, form: QueryDict, service_code: str) -> Answer:
        category = selectors.service_get(service_code=service_code)
        if category is None:
            raise not_found(f"service_code '{service_code[:50]}' was not found.")
        attributes = selectors.service_attributes(category=category)
        return documents.service_definition_document(category, attributes), 200


class RequestListView(Open311View):
    """GET: public query of service requests. POST: create one (api_key required)."""

    method_permissions: ClassVar[dict[str, list[type[BasePermission]]]] = {
        "GET": [Public],
        "POST": [require("concerns.create")],
    }
    api_key_methods = frozenset({"POST"})

    def get(self, request: HttpRequest, form: QueryDict) -> Answer:
        filters = params.request_filters(form, now=timezone.now())
        extensions = params.flag(form, "extensions")
        concerns = selectors.service_request_list(filters=filters, extensions=extensions)
        return documents.service_requests_document(concerns, request.build_absolute_uri, extensions=extensions), 200

    def post(self, request: HttpRequest, form: QueryDict) -> Answer:
        assert isinstance(request.user, User)
        concern = services.service_request_create(
            form=form, submitted_by=request.user, media=request.FILES.get("media")
        )
        return documents.created_document(concern), 201


class RequestDetailView(Open311View):
    method_permissions: ClassVar[dict[str, list[type[BasePermission]]]] = {"GET": [Public]}

    def get(self, request: HttpRequest, form: QueryDict, service_request_id: str) -> Answer:
        extensions = params.flag(form, "extensions")
        concern = selectors.service_request_get(service_request_id=service_request_id, extensions=extensions)
        if concern is None:
            raise not_found(f"service_request_id '{service_request_id[:50]}' was not found.")
        return documents.service_requests_document([concern], request.build_absolute_uri, extensions=extensions), 200


class TokenView(Open311View):
    method_permissions: ClassVar[dict[str, list[type[BasePermission]]]] = {"GET": [Public]}

    def get(self, request: HttpRequest, form: QueryDict, token: str) -> Answer:
        service_request_id = selectors.service_request_id_for_token(token=token)
        if service_request_id is None:
            raise not_found(f"token '{token[:50]}' was not found.")
        return documents.token_document(token=token, service_request_id=service_request_id), 200


class NotFoundView(Open311View):
    """Anything else under /open311/v2/: a 404 in the Open311 error format."""

    method_permissions: ClassVar[dict[str, list[type[BasePermission]]]] = {
        method: [Public] for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
    }
    strict_format = False

    def _not_found(self, request: HttpRequest, form: QueryDict) -> Answer:
        raise not_found("There is no such Open311 resource.")

    get = post = put = patch = delete = options = _not_found  # type: ignore[assignment]

    def _form(self, request: HttpRequest, method: str) -> QueryDict:
        return request.GET
