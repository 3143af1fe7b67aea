"""`manage.py install_wecom_schedule`: the beat entry that applies WeCom callbacks a lost task
left pending (idempotent; ``--reset`` restores an edited entry from settings)."""

from django.conf import settings

from scrm.schedules import Entry, InstallScheduleCommand, every_minutes


class Command(InstallScheduleCommand):
    help = "Install the periodic task that applies WeCom callbacks whose task was lost."

    def entries(self):
        minutes = settings.SCRM["WECOM_SWEEP_EVERY_MINUTES"]
        yield Entry(
            "WeCom: apply callbacks left pending",
            "wecom.apply_pending",
            lambda: every_minutes(minutes),
        )
