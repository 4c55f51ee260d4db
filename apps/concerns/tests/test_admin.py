"""Staff triage in the Django admin: lists, bulk actions, the change form and who may do what."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.roles import Role
from apps.concerns import services
from apps.concerns.models import Category, Concern, ConcernUpdate, DuplicateLink, Priority, Status
from conftest import make_user

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/concerns/concern/"


class FormData(HTMLParser):
    """What a browser would submit from the page's main form (the one with the CSRF token)."""

    def __init__(self, html: str, form_id: str) -> None:
        super().__init__()
        self.form_id = form_id
        self.data: dict[str, list[str]] = {}
        self._in_form = False
        self._select: str | None = None
        self._textarea: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        if tag == "form" and values.get("id") == self.form_id:
            self._in_form = True
        if not self._in_form:
            return
        name = values.get("name")
        if tag == "input" and name:
            kind = values.get("type", "text")
            if kind in {"submit", "button", "file", "image", "reset"}:
                return
            if kind in {"checkbox", "radio"} and "checked" not in values:
                return
            self.data.setdefault(name, []).append(values.get("value", "on" if kind == "checkbox" else ""))
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in values:
            self.data[self._select].append(values.get("value", ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = [""]

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.data[self._textarea][0] += data.removeprefix("\n") if not self.data[self._textarea][0] else data


@pytest.fixture
def staff() -> User:
    return make_user("sam", Role.STAFF)


@pytest.fixture
def second_staff() -> User:
    return make_user("kim", Role.STAFF)


@pytest.fixture
def administrator() -> User:
    return make_user("ada", Role.ADMINISTRATOR)


@pytest.fixture
def staff_client(client: Client, staff: User) -> Client:
    client.force_login(staff)
    return client


@pytest.fixture
def admin_client_(client: Client, administrator: User) -> Client:
    client.force_login(administrator)
    return client


@pytest.fixture
def roads() -> Category:
    return Category.objects.get(code="roads")


def new_concern(category: Category, title: str = "Pothole on Elm Street", **kwargs: Any) -> Concern:
    return services.concern_create(
        title=title,
        description=kwargs.pop("description", f"{title}: please fix it."),
        category=category,
        location=kwargs.pop("location", "Somewhere"),
        **kwargs,
    )


def closed_concern(category: Category, actor: User) -> Concern:
    concern = new_concern(category, "Old closed report", description="Long since fixed and closed.")
    for status in (Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED):
        services.concern_update(concern=concern, actor=actor, status=status)
    return concern


def run_action(client: Client, action: str, concerns: list[Concern], url: str = CHANGELIST, **fields: Any) -> Any:
    data: dict[str, Any] = {"action": action, ACTION_CHECKBOX_NAME: [str(c.pk) for c in concerns], **fields}
    return client.post(url, data, follow=True)


def texts(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def reload(concern: Concern) -> Concern:
    return Concern.all_objects.get(pk=concern.pk)


# --- access ----------------------------------------------------------------------------------


def test_staff_see_concerns_on_the_admin_index(staff_client: Client) -> None:
    response = staff_client.get("/admin/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/admin/concerns/concern/" in html
    assert "/admin/concerns/category/" in html


def test_citizens_cannot_open_the_admin(client: Client) -> None:
    client.force_login(make_user("chris", Role.CITIZEN))
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_staff_can_open_the_changelist_and_search(staff_client: Client, roads: Category) -> None:
    pothole = new_concern(roads, "Pothole on Elm Street")
    light = new_concern(Category.objects.get(code="street_lighting"), "Street light out", location="Maple Avenue 8")

    response = staff_client.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert pothole.tracking_number in html and light.tracking_number in html
    for heading in ("Tracking number", "Priority", "Assigned to", "Overdue", "Duplicates", "Estimated resolution"):
        assert heading in html

    found = staff_client.get(CHANGELIST, {"q": "pothole"}).content.decode()
    assert pothole.tracking_number in found and light.tracking_number not in found

    by_number = staff_client.get(CHANGELIST, {"q": light.tracking_number}).content.decode()
    assert light.tracking_number in by_number and pothole.tracking_number not in by_number

    by_location = staff_client.get(CHANGELIST, {"q": "maple"}).content.decode()
    assert light.tracking_number in by_location and pothole.tracking_number not in by_location


def test_list_filters(staff_client: Client, roads: Category, staff: User) -> None:
    late = new_concern(roads, "Late one")
    Concern.objects.filter(pk=late.pk).update(estimated_resolution=timezone.now() - timedelta(hours=1))
    on_time = new_concern(Category.objects.get(code="water"), "Leak on Harbour Street", priority=Priority.HIGH)
    services.concern_update(concern=on_time, actor=staff, assigned_to=staff)

    overdue = staff_client.get(CHANGELIST, {"overdue": "yes"}).content.decode()
    assert late.tracking_number in overdue and on_time.tracking_number not in overdue
    not_overdue = staff_client.get(CHANGELIST, {"overdue": "no"}).content.decode()
    assert on_time.tracking_number in not_overdue and late.tracking_number not in not_overdue

    high = staff_client.get(CHANGELIST, {"priority__exact": "high"}).content.decode()
    assert on_time.tracking_number in high and late.tracking_number not in high
    mine = staff_client.get(CHANGELIST, {"assigned_to__id__exact": str(staff.pk)}).content.decode()
    assert on_time.tracking_number in mine and late.tracking_number not in mine
    by_category = staff_client.get(CHANGELIST, {"category__id__exact": str(roads.pk)}).content.decode()
    assert late.tracking_number in by_category and on_time.tracking_number not in by_category


def test_duplicate_count_and_links(staff_client: Client, roads: Category) -> None:
    first = new_concern(roads, "Huge pothole near the school gate", latitude=52.37, longitude=4.89)
    second = new_concern(roads, "Huge pothole near the school gate", latitude=52.37, longitude=4.89)
    assert DuplicateLink.objects.filter(concern=second, duplicate_of=first).exists()

    staff_client.get(CHANGELIST)
    listing = staff_client.get(CHANGELIST)
    rows = {row.tracking_number: row.duplicate_count for row in listing.context["cl"].result_list}
    assert rows == {first.tracking_number: 1, second.tracking_number: 1}

    page = staff_client.get(f"{CHANGELIST}{second.pk}/change/").content.decode()
    assert f"/admin/concerns/concern/{first.pk}/change/" in page
    assert "Looks like the earlier" in page


# --- bulk actions ----------------------------------------------------------------------------


def test_bulk_set_status_writes_the_timeline_and_reports_invalid_transitions(
    staff_client: Client, roads: Category, staff: User
) -> None:
    fresh = new_concern(roads, "Fresh report")
    other = new_concern(roads, "Another fresh report")
    done = closed_concern(roads, staff)

    page = staff_client.post(
        CHANGELIST, {"action": "set_status", ACTION_CHECKBOX_NAME: [str(fresh.pk), str(done.pk)], "index": "0"}
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="status"' in html and fresh.tracking_number in html and done.tracking_number in html

    response = run_action(
        staff_client,
        "set_status",
        [fresh, other, done],
        status=Status.IN_PROGRESS,
        message="A crew is on its way.",
        apply="Apply",
    )

    assert response.status_code == 200
    assert reload(fresh).status == Status.IN_PROGRESS
    assert reload(other).status == Status.IN_PROGRESS
    assert reload(done).status == Status.CLOSED
    entry = ConcernUpdate.objects.filter(concern=fresh).last()
    assert entry is not None
    assert (entry.status, entry.message, entry.updated_by) == (Status.IN_PROGRESS, "A crew is on its way.", staff)
    assert ConcernUpdate.objects.filter(concern=done).count() == 4  # no entry for the refused move
    messages = texts(response)
    assert any("2 concerns moved to “In progress”" in text for text in messages)
    assert any(done.tracking_number in text and "Cannot move from closed" in text for text in messages)
    assert not any(fresh.tracking_number in text for text in messages)


def test_bulk_assign(staff_client: Client, roads: Category, second_staff: User) -> None:
    one, two = new_concern(roads, "One"), new_concern(roads, "Two")
    citizen = make_user("chris", Role.CITIZEN)

    page = staff_client.post(CHANGELIST, {"action": "assign", ACTION_CHECKBOX_NAME: [str(one.pk)], "index": "0"})
    html = page.content.decode()
    assert f'value="{second_staff.pk}"' in html
    assert f'value="{citizen.pk}"' not in html  # only staff and administrators

    response = run_action(staff_client, "assign", [one, two], assignee=str(second_staff.pk), apply="Apply")

    assert reload(one).assigned_to == second_staff
    assert reload(two).assigned_to == second_staff
    assert ConcernUpdate.objects.filter(concern=one, message="Assigned to a staff member.").exists()
    assert any("2 concerns assigned to kim" in text for text in texts(response))

    run_action(staff_client, "assign", [one], assignee="", apply="Apply")
    assert reload(one).assigned_to is None


def test_bulk_assign_refuses_a_citizen(staff_client: Client, roads: Category) -> None:
    one = new_concern(roads, "One")
    citizen = make_user("chris", Role.CITIZEN)
    response = staff_client.post(
        CHANGELIST,
        {"action": "assign", ACTION_CHECKBOX_NAME: [str(one.pk)], "assignee": str(citizen.pk), "apply": "Apply"},
    )
    assert response.status_code == 200  # the intermediate page again, with the error
    assert "Select a valid choice" in response.content.decode()
    assert reload(one).assigned_to is None


def test_bulk_set_priority(staff_client: Client, roads: Category) -> None:
    concern = new_concern(roads, "Slow one")
    before = concern.estimated_resolution
    assert before is not None

    response = run_action(staff_client, "set_priority", [concern], priority=Priority.EMERGENCY, apply="Apply")

    concern = reload(concern)
    assert concern.priority == Priority.EMERGENCY
    assert concern.estimated_resolution is not None and concern.estimated_resolution < before
    assert ConcernUpdate.objects.filter(concern=concern, message="Priority set to emergency.").exists()
    assert any("set to priority “Emergency”" in text for text in texts(response))


def test_administrator_soft_deletes_and_restores(admin_client_: Client, roads: Category, administrator: User) -> None:
    concern = new_concern(roads, "To be removed")

    response = run_action(admin_client_, "soft_delete", [concern])
    assert any("1 concern deleted" in text for text in texts(response))
    deleted = reload(concern)
    assert deleted.deleted_at is not None and deleted.deleted_by == administrator
    assert not Concern.objects.filter(pk=concern.pk).exists()

    assert concern.tracking_number not in admin_client_.get(CHANGELIST).content.decode()
    listing = admin_client_.get(CHANGELIST, {"deleted": "yes"})
    html = listing.content.decode()
    assert concern.tracking_number in html
    assert 'value="restore"' in html and 'value="soft_delete"' not in html
    # a deleted concern opens read-only
    change = admin_client_.get(f"{CHANGELIST}{concern.pk}/change/")
    assert change.status_code == 200
    assert 'name="status"' not in change.content.decode()

    response = run_action(admin_client_, "restore", [concern], url=f"{CHANGELIST}?deleted=yes")
    assert any("1 concern restored" in text for text in texts(response))
    assert reload(concern).deleted_at is None
    assert concern.tracking_number in admin_client_.get(CHANGELIST).content.decode()


def test_staff_cannot_delete_or_restore(staff_client: Client, roads: Category, administrator: User) -> None:
    concern = new_concern(roads, "Removed by an administrator")
    live = new_concern(roads, "Still here")
    services.concern_delete(concern=concern, actor=administrator)

    html = staff_client.get(CHANGELIST, {"deleted": "all"}).content.decode()
    assert 'value="restore"' not in html and 'value="soft_delete"' not in html
    assert 'value="delete_selected"' not in html

    run_action(staff_client, "restore", [concern], url=f"{CHANGELIST}?deleted=yes")
    assert reload(concern).deleted_at is not None
    run_action(staff_client, "soft_delete", [live])
    assert reload(live).deleted_at is None
    # and no hard delete either
    assert staff_client.post(f"{CHANGELIST}{live.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Concern.objects.filter(pk=live.pk).exists()


def test_changes_to_deleted_concerns_are_refused_in_bulk(
    admin_client_: Client, roads: Category, administrator: User
) -> None:
    concern = new_concern(roads, "Removed")
    services.concern_delete(concern=concern, actor=administrator)
    response = run_action(
        admin_client_, "set_status", [concern], url=f"{CHANGELIST}?deleted=all", status="in_progress", apply="Apply"
    )
    assert any("restore it before changing it" in text for text in texts(response))
    assert reload(concern).status == Status.SUBMITTED


# --- the change form -------------------------------------------------------------------------


def change_form(client: Client, concern: Concern) -> dict[str, list[str]]:
    response = client.get(f"{CHANGELIST}{concern.pk}/change/")
    assert response.status_code == 200
    return FormData(response.content.decode(), "concern_form").data


def test_change_form_shows_timeline_attachments_and_internal_notes(staff_client: Client, roads: Category) -> None:
    concern = new_concern(
        roads, "With a photo", contact={"email": "robin@example.org", "name": "Robin", "phone": ""}, anonymous=True
    )
    html = staff_client.get(f"{CHANGELIST}{concern.pk}/change/").content.decode()
    assert "Concern received." in html  # the timeline inline
    assert 'name="internal_notes"' in html
    assert "robin@example.org" in html  # staff see the contact even of anonymous concerns
    assert f"/concerns/track/{concern.tracking_number}/" in html
    assert 'name="title"' not in html  # the citizen's text is read-only


def test_saving_the_change_form_with_a_new_status_writes_the_timeline(
    staff_client: Client, roads: Category, staff: User
) -> None:
    concern = new_concern(roads, "Change me")
    data = change_form(staff_client, concern)
    data["status"] = [Status.IN_PROGRESS]
    data["update_message"] = ["Crew scheduled for Thursday."]
    data["internal_notes"] = ["Call the contractor first."]

    response = staff_client.post(f"{CHANGELIST}{concern.pk}/change/", data)

    assert response.status_code == 302, response.content.decode()[:3000]
    concern = reload(concern)
    assert concern.status == Status.IN_PROGRESS
    assert concern.internal_notes == "Call the contractor first."
    entry = concern.updates.last()
    assert entry is not None
    assert (entry.status, entry.message, entry.updated_by) == (
        Status.IN_PROGRESS,
        "Crew scheduled for Thursday.",
        staff,
    )


def test_change_form_assigns_and_changes_priority(staff_client: Client, roads: Category, second_staff: User) -> None:
    concern = new_concern(roads, "Assign me")
    data = change_form(staff_client, concern)
    data["assigned_to"] = [str(second_staff.pk)]
    data["priority"] = [Priority.HIGH]

    assert staff_client.post(f"{CHANGELIST}{concern.pk}/change/", data).status_code == 302

    concern = reload(concern)
    assert (concern.assigned_to, concern.priority) == (second_staff, Priority.HIGH)
    assert concern.updates.count() == 2


def test_internal_notes_alone_add_no_public_timeline_entry(staff_client: Client, roads: Category) -> None:
    concern = new_concern(roads, "Notes only")
    data = change_form(staff_client, concern)
    data["internal_notes"] = ["Seen by the crew lead."]
    assert staff_client.post(f"{CHANGELIST}{concern.pk}/change/", data).status_code == 302
    concern = reload(concern)
    assert concern.internal_notes == "Seen by the crew lead."
    assert concern.updates.count() == 1


def test_change_form_rejects_an_invalid_transition(staff_client: Client, roads: Category) -> None:
    concern = new_concern(roads, "Cannot jump")
    data = change_form(staff_client, concern)
    data["status"] = [Status.CLOSED]

    response = staff_client.post(f"{CHANGELIST}{concern.pk}/change/", data)

    assert response.status_code == 200
    assert "cannot move from “Submitted” to “Closed”" in response.content.decode()
    concern = reload(concern)
    assert concern.status == Status.SUBMITTED
    assert concern.updates.count() == 1


def test_concerns_cannot_be_added_in_the_admin(admin_client_: Client) -> None:
    assert admin_client_.get(f"{CHANGELIST}add/").status_code == 403


# --- categories ------------------------------------------------------------------------------


def test_staff_can_view_but_not_change_categories(staff_client: Client, roads: Category) -> None:
    listing = staff_client.get("/admin/concerns/category/")
    assert listing.status_code == 200
    html = listing.content.decode()
    assert "Roads and potholes" in html
    assert "form-0-sla_hours" not in html  # list_editable only for those who may change
    response = staff_client.post(f"/admin/concerns/category/{roads.pk}/change/", {"name": "Hacked"})
    assert response.status_code == 403
    assert Category.objects.get(pk=roads.pk).name == "Roads and potholes"


def test_administrators_edit_sla_hours_in_the_list(admin_client_: Client) -> None:
    listing = admin_client_.get("/admin/concerns/category/")
    data = FormData(listing.content.decode(), "changelist-form").data
    assert "form-0-sla_hours" in data
    first_id = data["form-0-id"][0]
    data["form-0-sla_hours"] = ["7"]
    data["_save"] = ["Save"]
    response = admin_client_.post("/admin/concerns/category/", data)
    assert response.status_code == 302
    assert Category.objects.get(pk=first_id).sla_hours == 7
