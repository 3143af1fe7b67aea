"""`manage.py install_publishing_schedule`: the beat entry publishing due deferred posts.

Idempotent; the row is a django-celery-beat PeriodicTask, editable in the admin afterwards
(``--reset`` restores it from settings).
"""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

NAME = "Posts: publish due deferred posts"
TASK = "campaigns.publish_due_posts"


class Command(BaseCommand):
    help = "Install the periodic task that publishes deferred posts when their time comes."

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="overwrite an edited schedule")

    @transaction.atomic
    def handle(self, *args, reset=False, **options):
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=settings.SCRM["DEFERRED_PUBLISH_EVERY_MINUTES"], period=IntervalSchedule.MINUTES
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
