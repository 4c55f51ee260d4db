"""Citizen pages: report a problem, its confirmation, public tracking and "my concerns".

Every write goes through apps.concerns.services; these views only translate forms and
errors to pages."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from apps.concerns import selectors, services
from apps.concerns.forms import ConcernForm, TrackForm
from apps.core.exceptions import PayloadTooLarge, UnsupportedMediaType
from apps.core.net import client_ip
from apps.core.ratelimit import hit

MY_CONCERNS_PAGE_SIZE = 20
# Service error keys that are not form fields but belong next to one.
_ERROR_FIELDS = {"attachments": "photos", "file": "photos"}


def _submission_allowed(request: HttpRequest) -> bool:
    """Signed-out submissions share the anonymous per-address budget."""
    if request.user.is_authenticated or not settings.RATE_LIMIT_ENABLED:
        return True
    budget = hit(f"concern-form:ip:{client_ip(request)}", settings.RATE_LIMITS_PER_MINUTE["anonymous"])
    return not budget.exceeded


def _add_service_errors(form: ConcernForm, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        target = _ERROR_FIELDS.get(field, field)
        for text in errors:
            form.add_error(target if target in form.fields else None, text)


@require_http_methods(["GET", "POST"])
def concern_new(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render(request, "concerns/new.html", {"form": ConcernForm(user=request.user)})
    form = ConcernForm(request.POST, request.FILES, user=request.user)
    status = 400
    if not _submission_allowed(request):
        form.add_error(None, "You have sent many reports in a short time; please try again in a minute.")
        status = 429
    elif form.is_valid():
        try:
            concern = services.concern_create(
                **form.create_kwargs(),
                submitted_by=request.user if request.user.is_authenticated else None,
                source="web",
            )
        except (PayloadTooLarge, UnsupportedMediaType) as exc:
            form.add_error("photos", exc.message)
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            return redirect("concerns:submitted", tracking_number=concern.tracking_number)
    return render(request, "concerns/new.html", {"form": form}, status=status)


def _not_found(request: HttpRequest, tracking_number: str) -> HttpResponse:
    form = TrackForm(initial={"tracking_number": tracking_number})
    return render(request, "concerns/not_found.html", {"form": form, "tracking_number": tracking_number}, status=404)


@require_GET
def concern_submitted(request: HttpRequest, tracking_number: str) -> HttpResponse:
    concern = selectors.concern_get_public(tracking_number=tracking_number)
    if concern is None:
        return _not_found(request, tracking_number)
    return render(request, "concerns/submitted.html", {"concern": concern})


@require_GET
def concern_track(request: HttpRequest) -> HttpResponse:
    """The lookup form; a valid number goes on to its tracking page."""
    if "tracking_number" not in request.GET:
        return render(request, "concerns/track.html", {"form": TrackForm()})
    form = TrackForm(request.GET)
    if form.is_valid():
        return redirect("concerns:track-detail", tracking_number=form.cleaned_data["tracking_number"])
    return render(request, "concerns/track.html", {"form": form}, status=400)


@require_GET
def concern_track_detail(request: HttpRequest, tracking_number: str) -> HttpResponse:
    """The public view: never contact data, internal notes or the assignee."""
    concern = selectors.concern_get_public(tracking_number=tracking_number)
    if concern is None:
        return _not_found(request, tracking_number)
    if concern.tracking_number != tracking_number:
        return redirect("concerns:track-detail", tracking_number=concern.tracking_number)
    context = {
        "concern": concern,
        "updates": list(concern.updates.all()),
        "images": [attachment for attachment in concern.attachments.all() if attachment.is_image],
        "is_staff_viewer": selectors.concern_view_for(concern=concern, user=request.user) is selectors.View.STAFF,
    }
    return render(request, "concerns/track_detail.html", context)


@login_required
@require_GET
def my_concerns(request: HttpRequest) -> HttpResponse:
    concerns = selectors.concern_list(user=request.user).filter(submitted_by=request.user)
    page = Paginator(concerns, MY_CONCERNS_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "concerns/mine.html", {"page": page, "concerns": page.object_list})
