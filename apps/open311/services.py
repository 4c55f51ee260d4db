"""POST Service Request: validate the Open311 form against the service definition and file
a concern through ``concern_create``.

Attribute answers are kept in ``Concern.attributes``; a ``media_url`` is appended to the
description, where staff read it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Protocol

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import URLValidator, validate_email
from django.utils.dateparse import parse_date, parse_datetime

from apps.accounts.models import User
from apps.concerns.models import Category, Concern
from apps.concerns.services import concern_create
from apps.core.exceptions import ApiError
from apps.open311 import selectors
from apps.open311.errors import Open311Error, bad_request, not_found
from apps.open311.params import value
from apps.open311.selectors import ServiceAttribute

DESCRIPTION_MAX = 2000  # Concern.description; the spec allows 4000, we store 2000
TITLE_MAX = 100
ADDRESS_MAX = 255
ADDRESS_ID_MAX = 100
NAME_MAX = 100
EMAIL_MAX = 254
MEDIA_URL_MAX = 500
STRING_MAX = 500
MEDIA_URL_LABEL = "Photo (Open311 media_url):"
_PHONE = re.compile(r"^[0-9+() .-]{3,30}$")
_ATTRIBUTE_FIELD = re.compile(r"^attribute\[(?P<code>[^\[\]]+)\](?:\[\])?$")


class FormData(Protocol):
    def get(self, key: str, default: str | None = None) -> str | None: ...

    def getlist(self, key: str) -> list[str]: ...

    def lists(self) -> Iterable[tuple[str, list[str]]]: ...


@dataclass(frozen=True)
class Location:
    text: str
    latitude: float | None
    longitude: float | None


def _coordinate(name: str, raw: str, limit: float, errors: list[str]) -> float | None:
    try:
        number = float(raw)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or not -limit <= number <= limit:
        errors.append(f"{name} must be a number from {-limit:g} to {limit:g} (WGS84).")
        return None
    return number


def _location(form: FormData, errors: list[str]) -> Location:
    lat_raw, long_raw = value(form, "lat"), value(form, "long")
    address = value(form, "address_string")
    address_id = value(form, "address_id")
    latitude = longitude = None
    if lat_raw is not None or long_raw is not None:
        if lat_raw is None or long_raw is None:
            errors.append("lat and long must both be sent.")
        else:
            latitude = _coordinate("lat", lat_raw, 90, errors)
            longitude = _coordinate("long", long_raw, 180, errors)
    if address is not None and len(address) > ADDRESS_MAX:
        errors.append(f"address_string may be at most {ADDRESS_MAX} characters.")
    if address_id is not None and len(address_id) > ADDRESS_ID_MAX:
        errors.append(f"address_id may be at most {ADDRESS_ID_MAX} characters.")
    if lat_raw is None and long_raw is None and address is None and address_id is None:
        errors.append("A location is required: lat and long, address_string or address_id.")
    if latitude is None or longitude is None:
        latitude = longitude = None
    text = address or (f"Address ID {address_id}" if address_id else "")
    return Location(text=text[:ADDRESS_MAX], latitude=latitude, longitude=longitude)


def _contact(form: FormData, errors: list[str]) -> dict[str, str]:
    name = " ".join(part for part in (value(form, "first_name"), value(form, "last_name")) if part)
    email = value(form, "email")
    phone = value(form, "phone")
    contact: dict[str, str] = {}
    if name:
        if len(name) > NAME_MAX:
            errors.append(f"first_name and last_name together may be at most {NAME_MAX} characters.")
        contact["name"] = name
    if email:
        try:
            if len(email) > EMAIL_MAX:
                raise ValidationError("too long")
            validate_email(email)
        except ValidationError:
            errors.append("email is not a valid e-mail address.")
        contact["email"] = email
    if phone:
        if not _PHONE.match(phone):
            errors.append("phone may only hold digits, spaces and + ( ) . - (3 to 30 characters).")
        contact["phone"] = phone
    return contact


def _media_url(form: FormData, errors: list[str]) -> str | None:
    url = value(form, "media_url")
    if url is None:
        return None
    try:
        if len(url) > MEDIA_URL_MAX:
            raise ValidationError("too long")
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        errors.append(f"media_url must be an http or https URL of at most {MEDIA_URL_MAX} characters.")
        return None
    return url


def _submitted_attributes(form: FormData) -> dict[str, list[str]]:
    """attribute[code]=v and attribute[code][]=v1&attribute[code][]=v2, empties dropped."""
    submitted: dict[str, list[str]] = {}
    for key, raw_values in form.lists():
        match = _ATTRIBUTE_FIELD.match(key)
        if match is None:
            continue
        answers = submitted.setdefault(match.group("code"), [])
        for raw in raw_values:
            raw = raw.strip()
            if raw and raw not in answers:
                answers.append(raw)
    return {code: answers for code, answers in submitted.items() if answers}


def _check_answer(attribute: ServiceAttribute, answers: list[str]) -> str | None:
    """What is wrong with the answers to one attribute, or None."""
    label = f"attribute[{attribute.code}]"
    if attribute.datatype == "multivaluelist":
        keys = {option.key for option in attribute.values}
        wrong = [answer for answer in answers if answer not in keys]
        return f"{label} has no value '{wrong[0][:50]}'." if wrong else None
    if len(answers) > 1:
        return f"{label} takes a single value."
    answer = answers[0]
    if attribute.datatype == "singlevaluelist":
        if answer not in {option.key for option in attribute.values}:
            return f"{label} has no value '{answer[:50]}'."
    elif attribute.datatype == "number":
        try:
            if not Decimal(answer).is_finite():
                raise InvalidOperation
        except InvalidOperation:
            return f"{label} must be a number."
    elif attribute.datatype == "datetime":
        try:
            valid = parse_datetime(answer) is not None or parse_date(answer) is not None
        except ValueError:
            valid = False
        if not valid:
            return f"{label} must be an ISO 8601 date or date and time."
    elif attribute.datatype == "string":
        if "\n" in answer or "\r" in answer:
            return f"{label} must be a single line."
        if len(answer) > STRING_MAX:
            return f"{label} may be at most {STRING_MAX} characters."
    elif len(answer) > DESCRIPTION_MAX:
        return f"{label} may be at most {DESCRIPTION_MAX} characters."
    return None


def _attribute_answers(
    form: FormData, category: Category, attributes: list[ServiceAttribute], errors: list[str]
) -> list[tuple[ServiceAttribute, list[str]]]:
    submitted = _submitted_attributes(form)
    by_code = {attribute.code: attribute for attribute in attributes}
    for code in submitted:
        if code not in by_code:
            errors.append(f"attribute[{code[:50]}] is not an attribute of service {category.code}.")
    answered: list[tuple[ServiceAttribute, list[str]]] = []
    for attribute in attributes:
        if not attribute.variable:
            continue  # information for the user only; nothing to answer
        answers = submitted.get(attribute.code)
        if not answers:
            if attribute.required:
                what = f" ({attribute.description})" if attribute.description else ""
                errors.append(f"attribute[{attribute.code}] is required{what}.")
            continue
        problem = _check_answer(attribute, answers)
        if problem:
            errors.append(problem)
        else:
            answered.append((attribute, answers))
    return answered


def _stored(answered: list[tuple[ServiceAttribute, list[str]]]) -> dict[str, str | list[str]]:
    """Concern.attributes: a multivaluelist keeps its list of keys, any other one value."""
    return {
        attribute.code: answers if attribute.datatype == "multivaluelist" else answers[0]
        for attribute, answers in answered
    }


def _title(description: str, category: Category) -> str:
    text = " ".join(description.split())
    if not text:
        return category.name[:TITLE_MAX]
    return text if len(text) <= TITLE_MAX else text[: TITLE_MAX - 1].rstrip() + "…"


def service_request_create(*, form: FormData, submitted_by: User, media: UploadedFile | None = None) -> Concern:
    """A concern from an Open311 POST. Raises Open311Error: 400 listing every problem, 404
    for an unknown service_code."""
    service_code = value(form, "service_code")
    if service_code is None:
        raise bad_request("service_code was not provided.")
    category = selectors.service_get(service_code=service_code)
    if category is None:
        raise not_found(f"service_code '{service_code[:50]}' was not found.")
    errors: list[str] = []
    location = _location(form, errors)
    contact = _contact(form, errors)
    description = value(form, "description") or ""
    if len(description) > DESCRIPTION_MAX:
        errors.append(f"description may be at most {DESCRIPTION_MAX} characters.")
    answered = _attribute_answers(form, category, selectors.service_attributes(category=category), errors)
    media_url = _media_url(form, errors)
    details = f"{MEDIA_URL_LABEL} {media_url}" if media_url else ""
    full_description = "\n\n".join(part for part in (description, details) if part) or category.name
    if not errors and len(full_description) > DESCRIPTION_MAX:
        errors.append(f"description and media_url together may be at most {DESCRIPTION_MAX} characters.")
    if errors:
        raise bad_request(*errors)
    try:
        return concern_create(
            title=_title(description, category),
            description=full_description,
            category=category,
            location=location.text,
            latitude=location.latitude,
            longitude=location.longitude,
            contact=contact,
            anonymous=not contact,
            submitted_by=submitted_by,
            source="open311",
            files=[media] if media is not None else None,
            attributes=_stored(answered),
        )
    except ValidationError as exc:
        raise bad_request(*exc.messages) from None
    except ApiError as exc:  # the media file: too large or not an image/PDF
        raise Open311Error(400, f"media: {exc.message}") from None
