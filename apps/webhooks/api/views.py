from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api.base import ApiView, GenericApiView
from apps.core.permissions import require
from apps.core.responses import message
from apps.webhooks import selectors, services
from apps.webhooks.api import serializers as s
from apps.webhooks.models import Delivery, Endpoint

MANAGE = [require("webhooks.manage")]


def get_endpoint(request: Request, endpoint_id: Any) -> Endpoint:
    return get_object_or_404(selectors.endpoint_list(user=request.user), pk=endpoint_id)


class EndpointListView(GenericApiView):
    """Your webhook endpoints (administrators: everyone's); create one."""

    permission_classes = MANAGE
    serializer_class = s.EndpointSerializer
    result_key = "webhooks"
    idempotency_redact = ("secret",)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):
            return Endpoint.objects.none()
        return selectors.endpoint_list(user=self.request.user)

    @extend_schema(responses={200: s.EndpointSerializer(many=True)})
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=s.EndpointCreateSerializer, responses={201: s.EndpointWithSecretSerializer})
    def post(self, request: Request) -> Response:
        form = s.EndpointCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        endpoint, secret = services.endpoint_create(owner=request.user, **form.validated_data)
        endpoint.secret = secret  # type: ignore[attr-defined]
        return Response(s.EndpointWithSecretSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class EndpointDetailView(ApiView):
    permission_classes = MANAGE

    @extend_schema(responses={200: s.EndpointSerializer})
    def get(self, request: Request, endpoint_id: Any) -> Response:
        return Response(s.EndpointSerializer(get_endpoint(request, endpoint_id)).data)

    @extend_schema(request=s.EndpointUpdateSerializer, responses={200: s.EndpointSerializer})
    def put(self, request: Request, endpoint_id: Any) -> Response:
        endpoint = get_endpoint(request, endpoint_id)
        form = s.EndpointUpdateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        endpoint = services.endpoint_update(endpoint=endpoint, data=form.validated_data)
        return Response(s.EndpointSerializer(endpoint).data)

    patch = put

    @extend_schema(request=None, responses={200: dict})
    def delete(self, request: Request, endpoint_id: Any) -> Response:
        endpoint = get_endpoint(request, endpoint_id)
        services.endpoint_delete(endpoint=endpoint)
        return message("Webhook deleted successfully", id=str(endpoint_id))


class EndpointTestView(ApiView):
    """Send a `webhook.ping` event to this endpoint only."""

    permission_classes = MANAGE

    @extend_schema(request=None, responses={202: s.DeliverySerializer})
    def post(self, request: Request, endpoint_id: Any) -> Response:
        delivery = services.endpoint_ping(endpoint=get_endpoint(request, endpoint_id))
        delivery = selectors.delivery_list(endpoint=delivery.endpoint).get(pk=delivery.pk)
        return Response(s.DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class RotateSecretView(ApiView):
    permission_classes = MANAGE
    idempotency_redact = ("secret",)

    @extend_schema(request=s.RotateSecretSerializer, responses={200: s.EndpointWithSecretSerializer})
    def post(self, request: Request, endpoint_id: Any) -> Response:
        endpoint = get_endpoint(request, endpoint_id)
        form = s.RotateSecretSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        endpoint.secret = services.endpoint_rotate_secret(  # type: ignore[attr-defined]
            endpoint=endpoint, secret=form.validated_data.get("secret")
        )
        return Response(s.EndpointWithSecretSerializer(endpoint).data)


class DeliveryListView(GenericApiView):
    """The delivery log of an endpoint, newest first, with every attempt (cursor paginated)."""

    permission_classes = MANAGE
    serializer_class = s.DeliverySerializer
    result_key = "deliveries"
    cursor_field = "created_at"

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):
            return Delivery.objects.none()
        return selectors.delivery_list(endpoint=get_endpoint(self.request, self.kwargs["endpoint_id"]))

    @extend_schema(responses={200: s.DeliverySerializer(many=True)})
    def get(self, request: Request, endpoint_id: Any) -> Response:
        queryset = self.get_queryset().order_by("-created_at", "-id")
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class RedeliverView(ApiView):
    permission_classes = MANAGE

    @extend_schema(request=None, responses={202: s.DeliverySerializer})
    def post(self, request: Request, endpoint_id: Any, delivery_id: Any) -> Response:
        endpoint = get_endpoint(request, endpoint_id)
        delivery = get_object_or_404(Delivery, pk=delivery_id, endpoint=endpoint)
        services.delivery_redeliver(delivery=delivery)
        delivery = selectors.delivery_list(endpoint=endpoint).get(pk=delivery.pk)
        return Response(s.DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
