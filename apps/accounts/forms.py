from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.accounts import services
from apps.accounts.models import User
from apps.accounts.roles import Tier


class SignInForm(forms.Form):
    identifier = forms.CharField(label="Username or e-mail", max_length=254)
    password = forms.CharField(label="Password", widget=forms.PasswordInput, strip=False)
    remember_me = forms.BooleanField(label="Keep me signed in", required=False)


class SignUpForm(forms.Form):
    name = forms.CharField(label="Full name", max_length=300)
    email = forms.EmailField(label="E-mail", max_length=254)
    password = forms.CharField(
        label="Password",
        widget=forms.PasswordInput,
        strip=False,
        help_text="At least 8 characters, not too common and not only digits.",
    )

    def save(self) -> User:
        data: dict[str, Any] = self.cleaned_data
        try:
            return services.user_register(email=data["email"], password=data["password"], name=data["name"])
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                target = field if field in self.fields else ("email" if field == "username" else None)
                for text in messages:
                    self.add_error(target, text)
            raise


class ApiKeyForm(forms.Form):
    name = forms.CharField(label="Key name", max_length=100)
    # Each rendering of the form has its own id: the page sent again (a reload re-posts it)
    # creates no second key. See apps/accounts/views.py account().
    form_id = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)
    expires_at = forms.DateTimeField(
        label="Expires (optional)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def __init__(self, *args: Any, may_choose_tier: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A datetime-local value has no zone: it is read in the site's, which the page names.
        self.fields["expires_at"].help_text = f"In {timezone.get_current_timezone_name()} time, as the table above."
        if may_choose_tier:  # administrators, as on POST /api/v1/auth/api-keys
            self.fields["tier"] = forms.ChoiceField(
                label="Rate-limit tier",
                required=False,
                choices=[("", "Your own tier"), *Tier.choices],
            )
