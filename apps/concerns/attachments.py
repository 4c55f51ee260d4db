"""Checks on uploaded files: the type comes from the content, never the name or header."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from PIL import Image, UnidentifiedImageError

from apps.core.exceptions import PayloadTooLarge, UnsupportedMediaType

EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "application/pdf": ".pdf"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def sniff(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def check_upload(upload: UploadedFile) -> tuple[UploadedFile, str]:
    """(upload, content type) or PayloadTooLarge (413) / UnsupportedMediaType (415)."""
    limit = settings.ATTACHMENT_MAX_BYTES
    if (upload.size or 0) > limit:
        raise PayloadTooLarge(
            f"{upload.name} is larger than the limit of {limit} bytes.",
            {"file": [f"Files may be at most {limit} bytes."], "max_bytes": limit},
        )
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    content_type = sniff(head)
    if content_type is None:
        raise UnsupportedMediaType(
            f"{upload.name} is not a JPEG, PNG, WebP or PDF file.",
            {"file": ["Only JPEG, PNG, WebP and PDF files are accepted (checked from the content)."]},
        )
    if content_type.startswith("image/"):
        try:
            with Image.open(upload) as image:
                image.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise UnsupportedMediaType(
                f"{upload.name} is not a readable image.", {"file": ["The image data is corrupt."]}
            ) from None
        finally:
            upload.seek(0)
    return upload, content_type


def clean_filename(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return (_UNSAFE.sub("_", base).strip(" .") or "upload")[:255]


def storage_name(attachment_id: uuid.UUID, content_type: str) -> str:
    return f"{attachment_id.hex}{EXTENSIONS[content_type]}"


@contextmanager
def files_removed_on_error() -> Iterator[list[str]]:
    """Collects stored file names; if the block fails they are deleted again, so a
    rolled-back transaction leaves no orphan files."""
    saved: list[str] = []
    try:
        yield saved
    except BaseException:
        for name in saved:
            default_storage.delete(name)
        raise
