"""`manage.py install_scoring_schedule`: the scoring beat entries — nightly recompute, κ
refresh, sweeper (idempotent; ``--reset`` restores edited entries from settings)."""

from django.conf import settings

from scrm.schedules import Entry, InstallScheduleCommand, crontab_utc, every_minutes


class Command(InstallScheduleCommand):
    help = "Install the periodic tasks of tie scoring (recompute, kappa, sweeper)."

    def entries(self):
        scrm = settings.SCRM
        yield Entry(
            "Tie scores: nightly full recompute",
            "interactions.recompute_ties",
            lambda: crontab_utc(scrm["RECOMPUTE_CRONTAB"]),
            queue="scoring",
        )
        yield Entry(
            "Tie scores: refresh kappa",
            "interactions.refresh_kappa",
            lambda: every_minutes(scrm["KAPPA_REFRESH_MINUTES"]),
            queue="scoring",
        )
        yield Entry(
            "Tie scores: score interactions left unscored",
            "interactions.score_unscored",
            lambda: every_minutes(scrm["SWEEP_EVERY_MINUTES"]),
            queue="scoring",
        )
