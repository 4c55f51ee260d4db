"""URLs that point into the inside network are refused when registering and when sending."""

from __future__ import annotations

import pytest
from django.test import override_settings

from apps.webhooks import transport

pytestmark = pytest.mark.django_db

BLOCKED = [
    "http://localhost/hook",
    "http://127.0.0.1/hook",
    "http://127.1.2.3:8080/hook",
    "http://[::1]/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.5/hook",
    "http://192.168.1.1/hook",
    "http://172.16.0.1/hook",
    "http://0.0.0.0/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://224.0.0.1/hook",
    "http://100.64.0.1/hook",
    "http://localhost.localdomain/hook",
]


@override_settings(WEBHOOKS_ALLOW_PRIVATE_NETWORKS=False)
@pytest.mark.parametrize("url", BLOCKED)
def test_private_destinations_are_refused_at_registration(staff_member, url):
    response = staff_member.post("/api/v1/webhooks", {"url": url, "events": ["concern.created"]})
    assert response.status_code == 422, response.content
    assert "url" in response.json()["error"]["details"]


@override_settings(WEBHOOKS_ALLOW_PRIVATE_NETWORKS=False)
@pytest.mark.parametrize(
    "url", ["ftp://example.org/x", "file:///etc/passwd", "gopher://x/", "http://user:pw@example.org/"]
)
def test_other_schemes_and_credentials_are_refused(staff_member, url):
    response = staff_member.post("/api/v1/webhooks", {"url": url, "events": ["concern.created"]})
    assert response.status_code == 422


@override_settings(WEBHOOKS_ALLOW_PRIVATE_NETWORKS=False)
def test_the_address_is_checked_again_when_sending():
    """A name that resolved to a public address at registration and to loopback later (DNS
    rebinding) is refused at connect time, without any connection being made."""
    result = transport.post("http://localhost:9/hook", b"{}", {})
    assert result.status_code is None
    assert result.error.startswith("blocked")


def test_public_addresses_pass_the_check():
    assert transport.address_is_public("93.184.216.34")
    assert transport.address_is_public("2606:2800:220:1:248:1893:25c8:1946")
    assert not transport.address_is_public("::ffff:10.0.0.1")
    assert not transport.address_is_public("fe80::1")
    assert not transport.address_is_public("fc00::1")


@override_settings(WEBHOOKS_ALLOW_PRIVATE_NETWORKS=True)
def test_private_networks_can_be_allowed_by_setting(staff_member):
    response = staff_member.post("/api/v1/webhooks", {"url": "http://127.0.0.1:9/hook", "events": ["*"]})
    assert response.status_code == 201
