"""The `install_*_schedule` commands: idempotent, keep staff's edits, restore with --reset."""

import io

import pytest
from django.conf import settings
from django.core.management import call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask

pytestmark = pytest.mark.django_db


def install(command: str, *args: str) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


def test_an_edited_entry_is_kept_until_reset():
    assert "created 'Posts: publish due deferred posts'" in install("install_publishing_schedule")
    # staff slow the entry down in the admin
    hourly, _ = IntervalSchedule.objects.get_or_create(every=60, period=IntervalSchedule.MINUTES)
    PeriodicTask.objects.filter(task="campaigns.publish_due_posts").update(interval=hourly)

    assert "kept" in install("install_publishing_schedule")
    assert PeriodicTask.objects.get(task="campaigns.publish_due_posts").interval == hourly

    assert "reset" in install("install_publishing_schedule", "--reset")
    task = PeriodicTask.objects.get(task="campaigns.publish_due_posts")
    assert task.interval.every == settings.SCRM["DEFERRED_PUBLISH_EVERY_MINUTES"]
    assert task.crontab is None and task.queue == "default"


def test_scoring_entries_run_on_the_scoring_queue_with_their_own_schedules():
    install("install_scoring_schedule")
    install("install_scoring_schedule")

    tasks = {t.task: t for t in PeriodicTask.objects.filter(task__startswith="interactions.")}
    assert len(tasks) == 3 and {t.queue for t in tasks.values()} == {"scoring"}
    nightly = tasks["interactions.recompute_ties"]
    minute, hour, *_ = settings.SCRM["RECOMPUTE_CRONTAB"].split()
    assert nightly.interval is None
    assert (nightly.crontab.minute, nightly.crontab.hour) == (minute, hour)
    assert nightly.crontab.timezone.key == "UTC"
    kappa = tasks["interactions.refresh_kappa"].interval
    assert kappa.every == settings.SCRM["KAPPA_REFRESH_MINUTES"]
