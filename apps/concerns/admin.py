"""Staff triage in the Django admin.

Access follows the role permissions (apps.accounts.roles), not Django's model permissions:
``concerns.update`` lets staff view and triage concerns, ``concerns.delete`` and
``users.manage`` (administrators) delete and restore them and manage categories. Every
change goes through apps.concerns.services so the timeline is written and events fire.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from apps.concerns import services
from apps.concerns.filtersets import ConcernFilterSet
from apps.concerns.forms import AssignForm, ConcernAdminForm, PriorityForm, StatusForm
from apps.concerns.models import Attachment, Category, Concern, ConcernUpdate, DuplicateLink, Priority, Status
from apps.core.permissions import user_has

TRIAGE_FIELDS = ("status", "priority", "assigned_to", "estimated_resolution", "internal_notes", "update_message")


def can_view(user: Any) -> bool:
    return user_has(user, "concerns.view_all") or user_has(user, "concerns.update")


def can_triage(user: Any) -> bool:
    return user_has(user, "concerns.update")


def is_administrator(user: Any) -> bool:
    return user_has(user, "users.manage")


def _duplicate_count() -> Any:
    """Links in both directions: "looks like an older one" and "reported again as"."""
    outgoing = (
        DuplicateLink.objects.filter(concern=OuterRef("pk"))
        .order_by()
        .values("concern")
        .annotate(n=Count("pk"))
        .values("n")
    )
    incoming = (
        DuplicateLink.objects.filter(duplicate_of=OuterRef("pk"))
        .order_by()
        .values("duplicate_of")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(outgoing, output_field=IntegerField()), 0) + Coalesce(
        Subquery(incoming, output_field=IntegerField()), 0
    )


def _concern_link(concern: Concern) -> SafeString:
    url = reverse("admin:concerns_concern_change", args=[concern.pk])
    return format_html('<a href="{}">{}</a> {}', url, concern.tracking_number, concern.title)


# --- List filters ----------------------------------------------------------------------------


class OverdueFilter(admin.SimpleListFilter):
    title = "overdue"
    parameter_name = "overdue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Overdue"), ("no", "On time")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Concern]) -> QuerySet[Concern]:
        if self.value() not in ("yes", "no"):
            return queryset
        filterset = ConcernFilterSet(queryset=queryset, request=request)
        return filterset.filter_overdue(queryset, "overdue", self.value() == "yes")


class DeletedFilter(admin.SimpleListFilter):
    """Soft-deleted concerns are hidden unless asked for, so they can be restored."""

    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Deleted only"), ("all", "Including deleted")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Concern]) -> QuerySet[Concern]:
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        if self.value() == "all":
            return queryset
        return queryset.filter(deleted_at__isnull=True)

    def choices(self, changelist: Any) -> Any:
        choices = list(super().choices(changelist))
        choices[0]["display"] = "Not deleted"
        return choices


# --- Inlines ---------------------------------------------------------------------------------


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_view(request.user)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ConcernUpdateInline(ReadOnlyInline):
    model = ConcernUpdate
    verbose_name = "timeline entry"
    verbose_name_plural = "timeline"
    fields = ["timestamp", "status", "message", "author"]
    readonly_fields = fields

    @admin.display(description="By")
    def author(self, obj: ConcernUpdate) -> str:
        return obj.updated_by_name


class AttachmentInline(ReadOnlyInline):
    model = Attachment
    fields = ["file_link", "content_type", "file_size", "uploaded_at", "uploaded_by"]
    readonly_fields = fields

    @admin.display(description="File")
    def file_link(self, obj: Attachment) -> SafeString:
        url = reverse("concern-attachment-file", args=[obj.concern.tracking_number, obj.pk])
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, obj.filename)

    @admin.display(description="Size")
    def file_size(self, obj: Attachment) -> str:
        return filesizeformat(obj.size)


# --- Concerns --------------------------------------------------------------------------------


@admin.register(Concern)
class ConcernAdmin(admin.ModelAdmin):
    form = ConcernAdminForm
    list_display = [
        "tracking_number",
        "title",
        "category",
        "priority",
        "status",
        "assigned_to",
        "submitted_at",
        "estimated_resolution",
        "overdue",
        "duplicate_count",
    ]
    list_display_links = ["tracking_number", "title"]
    list_filter = ["status", "priority", "category", "assigned_to", OverdueFilter, DeletedFilter]
    list_select_related = ["category", "assigned_to"]
    search_fields = ["title", "description", "tracking_number", "location"]
    ordering = ["-submitted_at", "-id"]
    list_per_page = 50
    inlines = [ConcernUpdateInline, AttachmentInline]
    actions = ["assign", "set_status", "set_priority", "soft_delete", "restore"]
    readonly_fields = [
        "tracking_number",
        "title",
        "description",
        "category",
        "location",
        "latitude",
        "longitude",
        "public_page",
        "contact_name",
        "contact_email",
        "contact_phone",
        "anonymous",
        "submitted_by",
        "source",
        "submitted_at",
        "last_updated",
        "resolved_at",
        "deleted_at",
        "deleted_by",
        "possible_duplicates",
        "attribute_answers",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "tracking_number",
                    "title",
                    "description",
                    "category",
                    "location",
                    ("latitude", "longitude"),
                    "public_page",
                    "attribute_answers",
                ]
            },
        ),
        ("Triage", {"fields": list(TRIAGE_FIELDS)}),
        ("Possible duplicates", {"fields": ["possible_duplicates"]}),
        (
            "Submitter",
            {"fields": ["contact_name", "contact_email", "contact_phone", "anonymous", "submitted_by", "source"]},
        ),
        ("Record", {"fields": ["submitted_at", "last_updated", "resolved_at", "deleted_at", "deleted_by"]}),
    ]

    # -- permissions: role permissions, not Django model permissions --

    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_view(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_view(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A soft-deleted concern is read-only until it is restored.
        return can_triage(request.user) and (obj is None or obj.deleted_at is None)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # concerns come in through the web form, the API and Open311

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # never a hard delete: the soft-delete action keeps them for audit

    def has_soft_delete_permission(self, request: HttpRequest) -> bool:
        return user_has(request.user, "concerns.delete") and is_administrator(request.user)

    def has_restore_permission(self, request: HttpRequest) -> bool:
        return user_has(request.user, "concerns.delete") and is_administrator(request.user)

    # -- lists --

    def get_queryset(self, request: HttpRequest) -> QuerySet[Concern]:
        # All concerns, soft-deleted included (DeletedFilter hides them by default).
        return Concern.all_objects.select_related("category", "assigned_to").annotate(
            duplicate_count=_duplicate_count()
        )

    def get_list_display(self, request: HttpRequest) -> list[str]:
        columns = list(super().get_list_display(request))
        if request.GET.get(DeletedFilter.parameter_name) in ("yes", "all"):
            columns.append("deleted_at")
        return columns

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        showing = request.GET.get(DeletedFilter.parameter_name)
        if showing == "yes":
            for name in ("assign", "set_status", "set_priority", "soft_delete"):
                actions.pop(name, None)
        elif showing != "all":
            actions.pop("restore", None)
        return actions

    @admin.display(boolean=True, description="Overdue")
    def overdue(self, obj: Concern) -> bool:
        return obj.is_overdue

    @admin.display(description="Duplicates", ordering="duplicate_count")
    def duplicate_count(self, obj: Concern) -> int:
        return getattr(obj, "duplicate_count", 0)

    @admin.display(description="Public page")
    def public_page(self, obj: Concern) -> str:
        if obj.deleted_at:
            return "— (deleted)"
        url = reverse("concerns:track-detail", args=[obj.tracking_number])
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, url)

    @admin.display(description="Service attributes")
    def attribute_answers(self, obj: Concern) -> str:
        if not obj.attributes:
            return "None"
        return format_html_join(
            "",
            "<div><strong>{}</strong>: {}</div>",
            (
                (code, ", ".join(map(str, value)) if isinstance(value, list) else str(value))
                for code, value in obj.attributes.items()
            ),
        )

    @admin.display(description="Possible duplicates")
    def possible_duplicates(self, obj: Concern) -> str:
        older = [
            (link.duplicate_of, link)
            for link in DuplicateLink.objects.filter(concern=obj).select_related("duplicate_of")
        ]
        newer = [
            (link.concern, link) for link in DuplicateLink.objects.filter(duplicate_of=obj).select_related("concern")
        ]
        if not older and not newer:
            return "None found"

        def rows(pairs: list[tuple[Concern, DuplicateLink]], label: str) -> SafeString:
            return format_html_join(
                "",
                "<li>{}: {} ({})</li>",
                ((label, _concern_link(concern), _reason(link)) for concern, link in pairs),
            )

        return format_html("<ul>{}{}</ul>", rows(older, "Looks like the earlier"), rows(newer, "Reported again as"))

    # -- the change form --

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if self.has_change_permission(request, obj):
            return fieldsets
        # Read-only (deleted, or a viewer without concerns.update): no form-only field.
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f != "update_message"]})
            for name, options in fieldsets
        ]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None and obj.estimated_resolution and "estimated_resolution" in form.base_fields:
            form.base_fields["estimated_resolution"].required = True
        return form

    def save_model(self, request: HttpRequest, obj: Concern, form: forms.ModelForm, change: bool) -> None:
        """Never obj.save(): the service writes the timeline and publishes the event."""
        if not change:
            raise PermissionDenied("Concerns are created through the web form or the API.")
        data = form.cleaned_data
        changes: dict[str, Any] = {
            field: data[field]
            for field in ("status", "priority", "assigned_to", "internal_notes", "estimated_resolution")
            if field in form.changed_data and data.get(field) is not None
        }
        if "assigned_to" in form.changed_data:
            changes["assigned_to"] = data.get("assigned_to")
        message = (data.get("update_message") or "").strip()
        if not changes and not message:
            return
        try:
            services.concern_update(concern=obj, actor=request.user, message=message, **changes)
        except ValidationError as exc:
            # The form checked the transition; this only happens if someone else moved it meanwhile.
            self.message_user(request, f"{obj.tracking_number}: {' '.join(exc.messages)}", messages.ERROR)

    # -- bulk actions --

    def _action_page(
        self, request: HttpRequest, queryset: QuerySet[Concern], *, action: str, title: str, form: forms.Form
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "subtitle": None,
            "opts": self.model._meta,
            "concerns": list(queryset),
            "form": form,
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "concerns/admin/action_form.html", context)

    def _update_each(
        self, request: HttpRequest, queryset: QuerySet[Concern], done: str, update: Callable[[Concern], Any]
    ) -> None:
        """Applies ``update`` to each concern on its own; a refusal is reported per concern."""
        applied = 0
        for concern in queryset:
            if concern.deleted_at is not None:
                self.message_user(
                    request, f"{concern.tracking_number}: deleted; restore it before changing it.", messages.WARNING
                )
                continue
            try:
                update(concern)
            except ValidationError as exc:
                self.message_user(request, f"{concern.tracking_number}: {' '.join(exc.messages)}", messages.ERROR)
            else:
                applied += 1
        if applied:
            self.message_user(request, f"{applied} concern{'s' if applied != 1 else ''} {done}.", messages.SUCCESS)

    @admin.action(description="Assign selected concerns to a staff member…", permissions=["change"])
    def assign(self, request: HttpRequest, queryset: QuerySet[Concern]) -> HttpResponse | None:
        form = AssignForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return self._action_page(request, queryset, action="assign", title="Assign concerns", form=form)
        assignee = form.cleaned_data["assignee"]
        done = f"assigned to {assignee.username}" if assignee else "unassigned"
        self._update_each(
            request,
            queryset,
            done,
            lambda concern: services.concern_update(concern=concern, actor=request.user, assigned_to=assignee),
        )
        return None

    @admin.action(description="Change status of selected concerns…", permissions=["change"])
    def set_status(self, request: HttpRequest, queryset: QuerySet[Concern]) -> HttpResponse | None:
        form = StatusForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return self._action_page(request, queryset, action="set_status", title="Change status", form=form)
        status, message = form.cleaned_data["status"], form.cleaned_data["message"].strip()
        self._update_each(
            request,
            queryset,
            f"moved to “{Status(status).label}”",
            lambda concern: services.concern_update(
                concern=concern, actor=request.user, status=status, message=message
            ),
        )
        return None

    @admin.action(description="Change priority of selected concerns…", permissions=["change"])
    def set_priority(self, request: HttpRequest, queryset: QuerySet[Concern]) -> HttpResponse | None:
        form = PriorityForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return self._action_page(request, queryset, action="set_priority", title="Change priority", form=form)
        priority = form.cleaned_data["priority"]
        self._update_each(
            request,
            queryset,
            f"set to priority “{Priority(priority).label}”",
            lambda concern: services.concern_update(concern=concern, actor=request.user, priority=priority),
        )
        return None

    @admin.action(description="Delete selected concerns (kept for audit, restorable)", permissions=["soft_delete"])
    def soft_delete(self, request: HttpRequest, queryset: QuerySet[Concern]) -> None:
        deleted = 0
        for concern in queryset.filter(deleted_at__isnull=True):
            services.concern_delete(concern=concern, actor=request.user)
            deleted += 1
        self.message_user(
            request,
            f"{deleted} concern{'s' if deleted != 1 else ''} deleted. Filter by “deleted” to see and restore them.",
            messages.SUCCESS,
        )

    @admin.action(description="Restore selected deleted concerns", permissions=["restore"])
    def restore(self, request: HttpRequest, queryset: QuerySet[Concern]) -> None:
        restored = 0
        for concern in queryset.filter(deleted_at__isnull=False):
            services.concern_restore(concern=concern)
            restored += 1
        self.message_user(request, f"{restored} concern{'s' if restored != 1 else ''} restored.", messages.SUCCESS)


def _reason(link: DuplicateLink) -> str:
    if link.reason == "nearby" and link.distance_m is not None:
        return f"nearby, {link.distance_m:.0f} m"
    if link.similarity is not None:
        return f"similar text, {link.similarity:.0%}"
    return link.reason.replace("_", " ")


# --- Categories ------------------------------------------------------------------------------


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "group", "sla_hours", "active"]
    list_editable = ["sla_hours", "active"]
    list_filter = ["active", "group"]
    search_fields = ["code", "name", "description"]
    ordering = ["sort_order", "name"]
    prepopulated_fields = {"code": ["name"]}

    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_view(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_view(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_administrator(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_administrator(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Categories in use are protected by the foreign key; deactivate those instead.
        return is_administrator(request.user)
