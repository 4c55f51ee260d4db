from __future__ import annotations

from typing import Any

from django.http import FileResponse, QueryDict
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from apps.concerns import selectors, services
from apps.concerns.api import serializers as s
from apps.concerns.filtersets import ConcernFilterSet
from apps.concerns.listing import ConcernListing
from apps.concerns.models import Concern
from apps.concerns.selectors import View
from apps.core.api.base import ApiView, GenericApiView
from apps.core.exceptions import BadRequest
from apps.core.filters import StrictFilterBackend
from apps.core.pagination import EnvelopePagination
from apps.core.permissions import Authenticated, Public, require, user_has
from apps.core.responses import envelope, message
from apps.core.serializers import NON_FIELD_ERRORS_KEY, json_type

CONTACT_FIELDS = ("email", "phone", "name")


def create_payload(request: Request) -> dict[str, Any]:
    """The create body as a plain dict, whether JSON or multipart. Multipart may spell the
    contact as ``contact.email``, ``contact[email]`` or ``contact_email``."""
    data = request.data
    if not isinstance(data, QueryDict):
        if not isinstance(data, dict):
            # As every other body that is not an object (StrictSerializer): a field error, 422.
            error = f"Expected an object, got {json_type(data)}."
            raise serializers.ValidationError({NON_FIELD_ERRORS_KEY: [error]})
        return dict(data)
    payload: dict[str, Any] = {}
    contact: dict[str, str] = {}
    for key in data:
        if key in {"attachments", "attachments[]", "files"}:
            continue
        for spelling in ("contact.", "contact_"):
            if key.startswith(spelling) and key[len(spelling) :] in CONTACT_FIELDS:
                contact[key[len(spelling) :]] = data.get(key)
                break
        else:
            if key.startswith("contact[") and key.endswith("]") and key[8:-1] in CONTACT_FIELDS:
                contact[key[8:-1]] = data.get(key)
            else:
                payload[key] = data.get(key)
    if contact:
        payload["contact"] = contact
    files = [
        *request.FILES.getlist("attachments"),
        *request.FILES.getlist("attachments[]"),
        *request.FILES.getlist("files"),
    ]
    if files:
        payload["attachments"] = files
    return payload


def get_concern_or_404(identifier: str) -> Concern:
    concern = selectors.concern_get(identifier=identifier)
    if concern is None:
        raise NotFound("No concern with this id or tracking number.")
    return concern


class ConcernListPagination(EnvelopePagination):
    """EnvelopePagination over an apps.concerns.listing.ConcernListing: its pages are
    selectors.ConcernRow tuples, and ``total`` comes without counting when it can.

    A page that is not full ends the list, so its total is exact from the page itself
    (offset + rows) and no COUNT runs. Otherwise the total is ConcernListing.total(): for a
    list of selectors.COUNT_CACHE_MIN_ROWS or more (TEXT_COUNT_CACHE_MIN_ROWS when ``q``
    searches the text) it is counted at most every selectors.COUNT_CACHE_SECONDS per set of
    filters, so it, and ``pages``, which is always derived from it, may miss the concerns
    created or deleted in the last 10 seconds (20 at most, while a recount is under way).
    It is never below what the page shows. Cursor pages have no total."""

    def _paginate_offset(  # type: ignore[override]
        self, listing: ConcernListing, request: Request, default: int, maximum: int
    ) -> list:
        page, limit, offset = self._offset_window(request, default, maximum)
        rows = listing.page(offset, limit)
        shown = offset + len(rows) if rows else 0  # at least this many exist
        last_page = len(rows) < limit and (rows or offset == 0)  # nothing after it
        self._offset_pagination(page, limit, shown if last_page else max(listing.total(), shown))
        return rows

    def _paginate_cursor(  # type: ignore[override]
        self, listing: ConcernListing, request: Request, field: str, default: int, maximum: int
    ) -> list:
        rows = selectors.concern_rows(listing.concerns)
        return super()._paginate_cursor(rows, request, field, default, maximum)


class ConcernListView(GenericApiView):
    """List concerns (staff: all; others: their own) or submit one (JSON or multipart).

    The list's ``pagination.total`` (and ``pages``) is exact for a last page and for lists of
    fewer than 10,000 concerns (500 for a text search, ``q``); a larger total is counted at
    most every 10 seconds per set of filters, so it may be up to 10 seconds old (20 at most,
    while it is being recounted)."""

    method_permissions = {"GET": [Authenticated], "POST": [require("concerns.create")]}
    permission_classes = [Authenticated]
    filterset_class = ConcernFilterSet
    pagination_class = ConcernListPagination
    result_key = "concerns"
    cursor_field = "submitted_at"

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):
            return Concern.objects.none()
        return selectors.concern_list(user=self.request.user)

    def get_serializer_class(self):  # type: ignore[no-untyped-def]
        if user_has(self.request.user, "concerns.view_all"):
            return s.ConcernStaffListSerializer
        return s.ConcernListSerializer

    @extend_schema(responses={200: s.ConcernStaffListSerializer(many=True)})
    def get(self, request: Request) -> Response:
        owner_id = selectors.concern_list_owner(user=request.user)
        concerns = selectors.concern_list_of(owner_id=owner_id)
        filterset = StrictFilterBackend().validated_filterset(request, concerns, self)
        listing = ConcernListing(filterset=filterset, owner_id=owner_id)
        params = request.query_params
        if "cursor" in params and params.get("sort", "submitted_at") not in {"submitted_at", "created_at"}:
            raise BadRequest(details={"cursor": ["Cursor pagination follows submitted_at; drop `sort`."]})
        if "cursor" in params and params.get("order", "desc") != "desc":
            raise BadRequest(details={"cursor": ["Cursor pagination runs newest first; drop `order`."]})
        page = self.paginate_queryset(listing)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=s.ConcernCreateSerializer, responses={201: dict})
    def post(self, request: Request) -> Response:
        form = s.ConcernCreateSerializer(data=create_payload(request))
        form.is_valid(raise_exception=True)
        data = form.validated_data
        concern = services.concern_create(
            title=data["title"],
            description=data["description"],
            category=data["category"],
            priority=data["priority"],
            location=data["location"],
            latitude=data.get("latitude"),
            longitude=data.get("longitude"),
            contact=data.get("contact"),
            anonymous=data["anonymous"],
            submitted_by=request.user,
            source="api",
            files=data.get("attachments"),
        )
        concern = get_concern_or_404(str(concern.pk))
        view = selectors.concern_view_for(concern=concern, user=request.user)
        return Response(s.concern_detail(concern, view, request), status=status.HTTP_201_CREATED)


class ConcernDetailView(ApiView):
    """A concern by id or tracking number. Anyone gets the public view; the submitter and
    staff see more. Staff update it; administrators delete it (soft)."""

    method_permissions = {
        "GET": [Public],
        "PUT": [require("concerns.update")],
        "PATCH": [require("concerns.update")],
        "DELETE": [require("concerns.delete")],
    }
    permission_classes = [Public]

    @extend_schema(parameters=[OpenApiParameter("identifier", str, OpenApiParameter.PATH)], responses={200: dict})
    def get(self, request: Request, identifier: str) -> Response:
        concern = get_concern_or_404(identifier)
        view = selectors.concern_view_for(concern=concern, user=request.user)
        return Response(s.concern_detail(concern, view, request))

    @extend_schema(request=s.ConcernUpdateSerializer, responses={200: dict})
    def put(self, request: Request, identifier: str) -> Response:
        concern = get_concern_or_404(identifier)
        form = s.ConcernUpdateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = dict(form.validated_data)
        if "assigned_to" not in form.initial_data:
            data.pop("assigned_to", None)
        services.concern_update(concern=concern, actor=request.user, **data)
        concern = get_concern_or_404(str(concern.pk))
        body = s.concern_detail(concern, View.STAFF, request)
        body["message"] = "Concern updated successfully"
        return envelope(body, message="Concern updated successfully")

    patch = put

    @extend_schema(request=None, responses={200: dict})
    def delete(self, request: Request, identifier: str) -> Response:
        concern = get_concern_or_404(identifier)
        services.concern_delete(concern=concern, actor=request.user)
        return message("Concern deleted successfully", id=str(concern.pk))


class AttachmentListView(ApiView):
    """Attachments of a concern; the submitter and staff may add more (multipart `file`)."""

    method_permissions = {"GET": [Public], "POST": [Authenticated]}
    permission_classes = [Public]

    @extend_schema(responses={200: s.AttachmentSerializer(many=True)})
    def get(self, request: Request, identifier: str) -> Response:
        concern = get_concern_or_404(identifier)
        attachments = s.AttachmentSerializer(concern.attachments.all(), many=True, context={"request": request})
        return Response({"attachments": attachments.data})

    @extend_schema(
        request={
            "multipart/form-data": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
        },
        responses={201: s.AttachmentSerializer},
    )
    def post(self, request: Request, identifier: str) -> Response:
        concern = get_concern_or_404(identifier)
        if selectors.concern_view_for(concern=concern, user=request.user) is View.PUBLIC:
            raise PermissionDenied("Only the submitter and staff may add attachments.")
        upload = request.FILES.get("file") or request.FILES.get("attachments")
        if upload is None:
            from django.core.exceptions import ValidationError

            raise ValidationError({"file": ["Upload a file in the multipart field `file`."]})
        attachment = services.attachment_add(concern=concern, upload=upload, actor=request.user)
        return Response(s.AttachmentSerializer(attachment, context={"request": request}).data, status=201)


class AttachmentFileView(ApiView):
    """The file itself, served with the type checked at upload."""

    permission_classes = [Public]

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request: Request, identifier: str, attachment_id: str) -> FileResponse:
        concern = get_concern_or_404(identifier)
        attachment = concern.attachments.filter(pk=attachment_id).first()
        if attachment is None:
            raise NotFound("No such attachment.")
        response = FileResponse(attachment.file.open("rb"), content_type=attachment.content_type)
        disposition = "inline" if attachment.is_image else "attachment"
        response["Content-Disposition"] = f'{disposition}; filename="{attachment.filename}"'
        response["X-Content-Type-Options"] = "nosniff"
        return response


class CategoryListView(GenericApiView):
    permission_classes = [Public]
    serializer_class = s.CategorySerializer
    pagination_class = None

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.category_list()

    @extend_schema(responses={200: s.CategorySerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response({"categories": self.get_serializer(self.get_queryset(), many=True).data})
