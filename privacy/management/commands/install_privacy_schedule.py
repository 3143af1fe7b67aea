"""`manage.py install_privacy_schedule`: the privacy beat entries — the retention fold and the
sweeper that queues again erasure requests whose task was lost (idempotent; ``--reset``
restores edited entries from settings)."""

from django.conf import settings

from scrm.schedules import Entry, InstallScheduleCommand, crontab_utc, every_minutes


class Command(InstallScheduleCommand):
    help = "Install the periodic tasks of the privacy app (retention fold, erasure sweeper)."

    def entries(self):
        scrm = settings.SCRM
        yield Entry(
            "Retention: fold raw interactions older than each brand's period",
            "privacy.fold_interactions",
            lambda: crontab_utc(scrm["RETENTION_CRONTAB"]),
        )
        yield Entry(
            "Erasure: queue again requests whose task was lost",
            "privacy.requeue_erasures",
            lambda: every_minutes(scrm["ERASURE_SWEEP_EVERY_MINUTES"]),
        )
