"""Settings read on every request, as plain attributes: ``hot_settings.NAME``.

Each read of ``django.conf.settings.NAME`` runs LazyObject.__getattribute__ in Python; the
dozen reads a cached, authenticated API request made were about 3% of its instructions
(callgrind). ``hot_settings`` reads a setting from Django's once and keeps it, until any
setting changes (override_settings and pytest-django's ``settings`` send setting_changed).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver


class HotSettings:
    def __getattr__(self, name: str) -> Any:  # only for a name not kept yet
        value = getattr(settings, name)
        self.__dict__[name] = value
        return value


hot_settings = HotSettings()


@receiver(setting_changed)
def _forget_kept(**kwargs: Any) -> None:
    hot_settings.__dict__.clear()
