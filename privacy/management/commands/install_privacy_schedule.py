"""`manage.py install_privacy_schedule`: create or update the retention beat entry.

Idempotent; the row is a django-celery-beat PeriodicTask, editable in the admin afterwards
(run with ``--reset`` to restore the schedule from settings).
"""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

NAME = "Retention: fold raw interactions older than each brand's period"


class Command(BaseCommand):
    help = "Install the periodic task that applies the brands' retention policies."

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="overwrite an edited schedule")

    @transaction.atomic
    def handle(self, *args, reset=False, **options):
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
        fields = {"task": "privacy.fold_interactions", "crontab": crontab, "interval": None}
        existing = PeriodicTask.objects.filter(name=NAME).first()
        if existing is None:
            PeriodicTask.objects.create(name=NAME, **fields)
            self.stdout.write(f"created {NAME!r}")
        elif reset:
            for key, value in fields.items():
                setattr(existing, key, value)
            existing.save()
            self.stdout.write(f"reset {NAME!r}")
        else:
            self.stdout.write(f"kept {NAME!r}")
