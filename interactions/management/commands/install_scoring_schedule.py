"""`manage.py install_scoring_schedule`: create or update the scoring beat entries.

Idempotent; the rows are django-celery-beat PeriodicTasks, editable in the admin afterwards
(run with ``--reset`` to restore the schedules from settings).
"""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

ENTRIES = (
    ("Tie scores: nightly full recompute", "interactions.recompute_ties", "crontab"),
    ("Tie scores: refresh kappa", "interactions.refresh_kappa", "kappa"),
    ("Tie scores: score interactions left unscored", "interactions.score_unscored", "sweep"),
)


def _crontab() -> CrontabSchedule:
    minute, hour, day_of_month, month_of_year, day_of_week = settings.SCRM[
        "RECOMPUTE_CRONTAB"
    ].split()
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
        timezone="UTC",
    )
    return schedule


def _every(minutes: int) -> IntervalSchedule:
    schedule, _ = IntervalSchedule.objects.get_or_create(
        every=minutes, period=IntervalSchedule.MINUTES
    )
    return schedule


class Command(BaseCommand):
    help = "Install the periodic tasks of tie scoring (recompute, kappa, sweeper)."

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="overwrite edited schedules")

    @transaction.atomic
    def handle(self, *args, reset=False, **options):
        for name, task, kind in ENTRIES:
            fields = {"task": task, "queue": "scoring"}
            if kind == "crontab":
                fields |= {"crontab": _crontab(), "interval": None}
            elif kind == "kappa":
                fields |= {"interval": _every(settings.SCRM["KAPPA_REFRESH_MINUTES"])}
            else:
                fields |= {"interval": _every(settings.SCRM["SWEEP_EVERY_MINUTES"])}
            existing = PeriodicTask.objects.filter(name=name).first()
            if existing is None:
                PeriodicTask.objects.create(name=name, **fields)
                self.stdout.write(f"created {name!r} ({task})")
            elif reset:
                for key, value in fields.items():
                    setattr(existing, key, value)
                existing.save()
                self.stdout.write(f"reset {name!r} ({task})")
            else:
                self.stdout.write(f"kept {name!r} ({task})")
