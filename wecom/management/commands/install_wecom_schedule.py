"""`manage.py install_wecom_schedule`: the beat entry that applies WeCom callbacks a lost task
left pending.

Idempotent; the row is a django-celery-beat PeriodicTask, editable in the admin afterwards
(``--reset`` restores it from settings).
"""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

NAME = "WeCom: apply callbacks left pending"
TASK = "wecom.apply_pending"


class Command(BaseCommand):
    help = "Install the periodic task that applies WeCom callbacks whose task was lost."

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="overwrite an edited schedule")

    @transaction.atomic
    def handle(self, *args, reset=False, **options):
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=settings.SCRM["WECOM_SWEEP_EVERY_MINUTES"], period=IntervalSchedule.MINUTES
        )
        fields = {"task": TASK, "interval": interval, "crontab": None, "queue": "default"}
        existing = PeriodicTask.objects.filter(name=NAME).first()
        if existing is None:
            PeriodicTask.objects.create(name=NAME, **fields)
            self.stdout.write(f"created {NAME!r} ({TASK})")
        elif reset:
            for key, value in fields.items():
                setattr(existing, key, value)
            existing.save()
            self.stdout.write(f"reset {NAME!r} ({TASK})")
        else:
            self.stdout.write(f"kept {NAME!r} ({TASK})")
