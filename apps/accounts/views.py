"""Sign in, sign up, sign out and the account page with API keys."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework.exceptions import Throttled

from apps.accounts import selectors, services
from apps.accounts.errors import LoginFailed
from apps.accounts.forms import ApiKeyForm, SignInForm, SignUpForm
from apps.core.net import client_ip
from apps.core.ratelimit import hit


def _posted(request: HttpRequest) -> QueryDict | None:
    """The POST data to bind a form to. ``request.POST or None`` would leave an empty POST
    unbound, so a submitted empty form showed no errors."""
    return request.POST if request.method == "POST" else None


def _login_budget_exceeded(request: HttpRequest) -> Throttled | None:
    budget = hit(f"login:ip:{client_ip(request)}", settings.RATE_LIMITS_PER_MINUTE["login"], exact=True)
    return Throttled(wait=budget.wait()) if budget.exceeded else None


def _safe_next(request: HttpRequest) -> str | None:
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return None


@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    form = SignInForm(_posted(request))
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            throttled = _login_budget_exceeded(request)
            if throttled is not None:
                raise throttled
            user = services.user_authenticate(
                identifier=form.cleaned_data["identifier"],
                password=form.cleaned_data["password"],
                request=request,
            )
        except LoginFailed:
            form.add_error(None, "The username or password is not correct.")
            status = 400
        except Throttled as exc:
            form.add_error(None, getattr(exc, "envelope_message", "Too many attempts; try again in a minute."))
            status = 429
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            # As POST /auth/login's remember_me: REMEMBER_ME_TTL, else until the browser closes.
            request.session.set_expiry(settings.REMEMBER_ME_TTL if form.cleaned_data["remember_me"] else 0)
            return redirect(_safe_next(request) or "accounts:account")
    elif request.method == "POST":
        status = 400
    return render(request, "accounts/sign_in.html", {"form": form, "next": _safe_next(request)}, status=status)


@require_http_methods(["GET", "POST"])
def sign_up(request: HttpRequest) -> HttpResponse:
    form = SignUpForm(_posted(request))
    status = 400 if request.method == "POST" else 200
    if request.method == "POST" and form.is_valid():
        # Sign-ups share the sign-in budget per address, as POST /auth/register does.
        throttled = _login_budget_exceeded(request)
        if throttled is not None:
            form.add_error(None, "Too many attempts; try again in a minute.")
            status = 429
        else:
            try:
                user = form.save()
            except ValidationError:
                pass
            else:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                messages.success(request, "Welcome! Your account is ready.")
                return redirect("accounts:account")
    return render(request, "accounts/sign_up.html", {"form": form}, status=status)


@require_http_methods(["GET", "POST"])
def sign_out(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":  # a link or a typed address: ask, signing out is a POST
        return render(request, "accounts/sign_out.html")
    services.auth_session_revoke_linked(django_session=request.session, user=request.user)
    logout(request)
    messages.info(request, "You are signed out.")
    return redirect("home")


SUBMITTED_KEY_FORMS = "api_key_forms_submitted"  # the last few form_ids that created a key


def _fresh_key_form(*, may_choose_tier: bool) -> ApiKeyForm:
    return ApiKeyForm(initial={"form_id": secrets.token_urlsafe(16)}, may_choose_tier=may_choose_tier)


@login_required
@require_http_methods(["GET", "POST"])
def account(request: HttpRequest) -> HttpResponse:
    may_choose_tier = services.api_key_may_choose_tier(user=request.user)
    if request.method == "POST":
        form = ApiKeyForm(request.POST, may_choose_tier=may_choose_tier)
    else:
        form = _fresh_key_form(may_choose_tier=may_choose_tier)
    new_secret = None
    if request.method == "POST" and form.is_valid():
        form_id = form.cleaned_data["form_id"]
        submitted = request.session.get(SUBMITTED_KEY_FORMS, [])
        if form_id and form_id in submitted:
            messages.info(request, "That key was created already: the form was sent again. Its secret was shown once.")
            return redirect("accounts:account")
        try:
            key, new_secret = services.api_key_create(
                user=request.user,
                name=form.cleaned_data["name"],
                tier=form.cleaned_data.get("tier") or None,
                expires_at=form.cleaned_data["expires_at"],
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for text in errors:
                    form.add_error(field if field in form.fields else None, text)
        else:
            if form_id:
                request.session[SUBMITTED_KEY_FORMS] = [*submitted[-19:], form_id]
            messages.success(request, f"API key “{key.name}” created. Copy it now: it will not be shown again.")
            form = _fresh_key_form(may_choose_tier=may_choose_tier)
    context = {
        "form": form,
        "new_secret": new_secret,
        "api_keys": selectors.api_key_list(user=request.user),
    }
    status = 400 if request.method == "POST" and new_secret is None else 200
    response = render(request, "accounts/account.html", context, status=status)
    if new_secret is not None:
        # The page carries a secret shown only once: no browser or proxy may keep a copy.
        response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def revoke_api_key(request: HttpRequest, key_id: str) -> HttpResponse:
    key = selectors.api_key_of(user=request.user, key_id=key_id)
    if key is None:
        raise Http404("No such API key.")
    if key.revoked_at is not None:  # the form sent again (back button, a second click)
        messages.info(request, f"API key “{key.name}” was already revoked.")
    else:
        services.api_key_revoke(api_key=key)
        messages.info(request, f"API key “{key.name}” revoked.")
    return redirect("accounts:account")
