"""Beat entries installed by the apps' `manage.py install_*_schedule` commands.

Each entry is a django-celery-beat ``PeriodicTask`` named for people (editable in the admin
afterwards); installing is idempotent and keeps an edited entry unless ``--reset`` restores it
from settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask


@dataclass(frozen=True)
class Entry:
    name: str  # the PeriodicTask's name, shown in the admin
    task: str  # the Celery task's registered name
    schedule: Callable[[], IntervalSchedule | CrontabSchedule]  # read when installing
    queue: str = "default"


def every_minutes(minutes: int) -> IntervalSchedule:
    schedule, _ = IntervalSchedule.objects.get_or_create(
        every=int(minutes), period=IntervalSchedule.MINUTES
    )
    return schedule


def crontab_utc(expression: str) -> CrontabSchedule:
    """``"30 3 * * *"`` (minute hour day-of-month month day-of-week, UTC) as a schedule row."""
    minute, hour, day_of_month, month_of_year, day_of_week = expression.split()
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
        timezone="UTC",
    )
    return schedule


def entry_install(entry: Entry, *, reset: bool = False) -> str:
    """Create the entry, or restore it with ``reset``; answers what was done
    (``created``, ``reset`` or ``kept``)."""
    schedule = entry.schedule()
    fields = {
        "task": entry.task,
        "queue": entry.queue,
        "interval": schedule if isinstance(schedule, IntervalSchedule) else None,
        "crontab": schedule if isinstance(schedule, CrontabSchedule) else None,
    }
    existing = PeriodicTask.objects.filter(name=entry.name).first()
    if existing is None:
        PeriodicTask.objects.create(name=entry.name, **fields)
        return "created"
    if not reset:
        return "kept"
    for key, value in fields.items():
        setattr(existing, key, value)
    existing.save()
    return "reset"


class InstallScheduleCommand(BaseCommand):
    """Base of the `install_*_schedule` commands: subclasses name their ``entries()``."""

    def entries(self) -> Iterable[Entry]:
        raise NotImplementedError

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="overwrite edited schedules")

    @transaction.atomic
    def handle(self, *args, reset=False, **options):
        for entry in self.entries():
            done = entry_install(entry, reset=reset)
            self.stdout.write(f"{done} {entry.name!r} ({entry.task})")
