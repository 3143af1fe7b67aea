"""`manage.py install_publishing_schedule`: the beat entry publishing due deferred posts
(idempotent; ``--reset`` restores an edited entry from settings)."""

from django.conf import settings

from scrm.schedules import Entry, InstallScheduleCommand, every_minutes


class Command(InstallScheduleCommand):
    help = "Install the periodic task that publishes deferred posts when their time comes."

    def entries(self):
        minutes = settings.SCRM["DEFERRED_PUBLISH_EVERY_MINUTES"]
        yield Entry(
            "Posts: publish due deferred posts",
            "campaigns.publish_due_posts",
            lambda: every_minutes(minutes),
        )
