import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

pytestmark = pytest.mark.django_db


def test_install_privacy_schedule_is_idempotent_and_keeps_edits():
    call_command("install_privacy_schedule")
    task = PeriodicTask.objects.get(task="privacy.fold_interactions")
    assert task.crontab.hour == "3" and task.crontab.minute == "0"
    task.enabled = False
    task.save()

    call_command("install_privacy_schedule")
    assert PeriodicTask.objects.filter(task="privacy.fold_interactions").count() == 1
    assert not PeriodicTask.objects.get(task="privacy.fold_interactions").enabled


def test_install_privacy_schedule_installs_the_erasure_sweeper(settings):
    call_command("install_privacy_schedule")
    sweeper = PeriodicTask.objects.get(task="privacy.requeue_erasures")
    assert sweeper.interval.every == settings.SCRM["ERASURE_SWEEP_EVERY_MINUTES"]
    assert sweeper.interval.period == "minutes" and sweeper.queue == "default"
    call_command("install_privacy_schedule")
    assert PeriodicTask.objects.filter(task="privacy.requeue_erasures").count() == 1
