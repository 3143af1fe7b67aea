"""`manage.py install_privacy_schedule`: create or update the privacy beat entries — the
retention fold and the sweeper that queues again erasure requests whose task was lost.

Idempotent; the rows are django-celery-beat PeriodicTasks, editable in the admin afterwards
(run with ``--reset`` to restore the schedules from settings).
"""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

NAME = "Retention: fold raw interactions older than each brand's period"
SWEEP_NAME = "Erasure: queue again requests whose task was lost"


def _retention() -> dict:
    minute, hour, day_of_month, month_of_year, day_of_week = settings.SCRM[
        "RETENTION_CRONTAB"
    ].split()
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
        timezone="UTC",
    )
    return {"task": "privacy.fold_interactions", "crontab": crontab, "interval": None}


def _sweep() -> dict:
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=settings.SCRM["ERASURE_SWEEP_EVERY_MINUTES"], period=IntervalSchedule.MINUTES
    )
    return {
        "task": "privacy.requeue_erasures",
        "interval": interval,
        "crontab": None,
        "queue": "default",
    }


class Command(BaseCommand):
    help = "Install the periodic tasks of the privacy app (retention fold, erasure sweeper)."

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="overwrite edited schedules")

    @transaction.atomic
    def handle(self, *args, reset=False, **options):
        for name, fields in ((NAME, _retention()), (SWEEP_NAME, _sweep())):
            existing = PeriodicTask.objects.filter(name=name).first()
            if existing is None:
                PeriodicTask.objects.create(name=name, **fields)
                self.stdout.write(f"created {name!r}")
            elif reset:
                for key, value in fields.items():
                    setattr(existing, key, value)
                existing.save()
                self.stdout.write(f"reset {name!r}")
            else:
                self.stdout.write(f"kept {name!r}")
