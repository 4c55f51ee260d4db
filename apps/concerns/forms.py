"""Forms of the citizen pages and of the staff admin."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat

from apps.accounts.models import User
from apps.accounts.roles import Role
from apps.concerns import selectors
from apps.concerns.attachments import check_upload
from apps.concerns.models import TRANSITIONS, Category, Concern, Priority, Status
from apps.concerns.selectors import TRACKING_NUMBER
from apps.concerns.services import MAX_ATTACHMENTS_PER_CONCERN
from apps.core.exceptions import PayloadTooLarge, UnsupportedMediaType

ACCEPTED_TYPES = "image/jpeg,image/png,image/webp,application/pdf,.jpg,.jpeg,.png,.webp,.pdf"


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input; cleans to a list (empty when none were chosen)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ACCEPTED_TYPES}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        if not data:
            if self.required:
                raise forms.ValidationError(self.error_messages["required"], code="required")
            return []
        uploads = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(upload, initial) for upload in uploads]


def staff_users() -> Any:
    """Active accounts concerns may be assigned to."""
    return User.objects.filter(is_active=True, role__in=[Role.STAFF, Role.ADMINISTRATOR]).order_by("username")


class ConcernForm(forms.Form):
    """The citizen's "report a problem" form."""

    category = forms.ModelChoiceField(
        label="Category",
        queryset=Category.objects.none(),
        empty_label="Choose a category",
    )
    title = forms.CharField(label="Title", max_length=100, help_text="A short summary, e.g. “Pothole on Elm Street”.")
    description = forms.CharField(
        label="Description",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="What is the problem, and since when? Up to 2000 characters.",
    )
    location = forms.CharField(
        label="Location",
        max_length=255,
        required=False,
        help_text="Street address, crossing or landmark. Required unless you give coordinates.",
    )
    latitude = forms.FloatField(
        label="Latitude (optional)",
        required=False,
        min_value=-90,
        max_value=90,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )
    longitude = forms.FloatField(
        label="Longitude (optional)",
        required=False,
        min_value=-180,
        max_value=180,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )
    photos = MultipleFileField(label="Photos or documents (optional)", required=False)
    contact_name = forms.CharField(
        label="Your name", max_length=100, required=False, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    contact_email = forms.EmailField(
        label="E-mail",
        required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        help_text="We only use it to tell you about progress on this concern.",
    )
    contact_phone = forms.CharField(
        label="Phone",
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "type": "tel"}),
    )
    anonymous = forms.BooleanField(
        label="Keep me anonymous",
        required=False,
        help_text="Your name and contact details are then seen by city staff only.",
    )

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].queryset = selectors.category_list()
        limit = settings.ATTACHMENT_MAX_BYTES
        self.fields[
            "photos"
        ].help_text = (
            f"JPEG, PNG, WebP or PDF; up to {filesizeformat(limit)} each, at most {MAX_ATTACHMENTS_PER_CONCERN} files."
        )
        if user is not None and user.is_authenticated and not self.is_bound:
            self.initial.setdefault("contact_name", user.get_full_name())
            self.initial.setdefault("contact_email", user.email)

    def clean_photos(self) -> list[UploadedFile]:
        uploads: list[UploadedFile] = self.cleaned_data.get("photos") or []
        if len(uploads) > MAX_ATTACHMENTS_PER_CONCERN:
            raise forms.ValidationError(f"Attach at most {MAX_ATTACHMENTS_PER_CONCERN} files.")
        errors = []
        for upload in uploads:
            try:
                check_upload(upload)
            except (PayloadTooLarge, UnsupportedMediaType) as exc:
                errors.append(forms.ValidationError(exc.message))
        if errors:
            raise forms.ValidationError(errors)
        return uploads

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        has_lat = data.get("latitude") is not None
        has_lon = data.get("longitude") is not None
        if has_lat != has_lon and "latitude" not in self.errors and "longitude" not in self.errors:
            self.add_error("longitude" if has_lat else "latitude", "Give both latitude and longitude, or neither.")
        if not (data.get("location") or "").strip() and not (has_lat and has_lon) and "location" not in self.errors:
            self.add_error("location", "Tell us where the problem is, or give its coordinates.")
        return data

    def create_kwargs(self) -> dict[str, Any]:
        """Arguments for services.concern_create."""
        data = self.cleaned_data
        return {
            "title": data["title"],
            "description": data["description"],
            "category": data["category"],
            "location": data["location"],
            "latitude": data["latitude"],
            "longitude": data["longitude"],
            "contact": {
                "name": data["contact_name"],
                "email": data["contact_email"],
                "phone": data["contact_phone"],
            },
            "anonymous": data["anonymous"],
            "files": data["photos"],
        }


class TrackForm(forms.Form):
    tracking_number = forms.CharField(
        label="Tracking number",
        max_length=30,
        help_text="It looks like TRK-2025-000123 and was shown when you submitted the concern.",
        widget=forms.TextInput(attrs={"autocapitalize": "characters", "spellcheck": "false", "autocomplete": "off"}),
    )

    def clean_tracking_number(self) -> str:
        value = self.cleaned_data["tracking_number"].strip().upper()
        if not TRACKING_NUMBER.match(value):
            raise forms.ValidationError("This is not a tracking number; it looks like TRK-2025-000123.")
        return value


# --- Staff admin -----------------------------------------------------------------------------


class ConcernAdminForm(forms.ModelForm):
    """The triage fields of the change form. Transitions are checked here so an invalid one
    is a form error; services.concern_update checks them again under a row lock."""

    update_message = forms.CharField(
        label="Public update message",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Optional; added to the public timeline with this change.",
    )

    class Meta:
        model = Concern
        fields = ["status", "priority", "assigned_to", "estimated_resolution", "internal_notes"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "assigned_to" in self.fields:
            # The current assignee stays selectable even if no longer active staff.
            current = User.objects.filter(pk=self.instance.assigned_to_id)
            self.fields["assigned_to"].queryset = (staff_users() | current).distinct().order_by("username")
        if "status" in self.fields and self.instance.pk:
            current = self.instance.status
            allowed = {current, *TRANSITIONS.get(current, frozenset())}
            self.fields["status"].help_text = "Allowed next: " + (
                ", ".join(Status(value).label for value in Status.values if value in allowed - {current}) or "none"
            )

    def clean_status(self) -> str:
        status: str = self.cleaned_data["status"]
        current = self.instance.status if self.instance.pk else Status.SUBMITTED
        if status != current and status not in TRANSITIONS.get(current, frozenset()):
            raise forms.ValidationError(
                f"A concern cannot move from “{Status(current).label}” to “{Status(status).label}”."
            )
        return status


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        label="Assign to", queryset=User.objects.none(), required=False, empty_label="Nobody (remove assignment)"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = staff_users()


class StatusForm(forms.Form):
    status = forms.ChoiceField(label="New status", choices=Status.choices)
    message = forms.CharField(
        label="Public update message",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Optional; added to the timeline of each concern.",
    )


class PriorityForm(forms.Form):
    priority = forms.ChoiceField(label="New priority", choices=Priority.choices)
