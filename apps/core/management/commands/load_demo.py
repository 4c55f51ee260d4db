"""Load demo data: each installed app may provide ``demo.load(write)``; they run in
INSTALLED_APPS order so later apps can use what earlier ones created."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction


class Command(BaseCommand):
    help = "Create demo accounts (random passwords, printed once) and demo content."

    def handle(self, *args: Any, **options: Any) -> None:
        for config in apps.get_app_configs():
            if not config.name.startswith("apps."):
                continue
            try:
                module = import_module(f"{config.name}.demo")
            except ModuleNotFoundError as exc:
                if exc.name == f"{config.name}.demo":
                    continue
                raise
            self.stdout.write(self.style.MIGRATE_HEADING(f"{config.verbose_name}:"))
            with transaction.atomic():
                module.load(self.stdout.write)
