"""The brand's fatigue policy: API (GET/PUT/PATCH), validation, audit, admin, tenancy."""

from __future__ import annotations

import pytest

from campaigns.models import FatiguePolicyChange, FatiguePolicyRecord
from campaigns.services.fatigue_policy import fatigue_policy_for
from scrm.tenancy.models import Role
from tests.conftest import admin_client_for, staff_client_for

pytestmark = pytest.mark.django_db
URL = "/api/v1/fatigue/policy/"
# The audit inline's management form (its rows are read only).
INLINE = {"changes-TOTAL_FORMS": "0", "changes-INITIAL_FORMS": "0"}


def test_get_answers_the_defaults_in_the_brands_time_zone(analyst_client, brand):
    # given a brand in Berlin that never touched its policy
    brand.time_zone = "Europe/Berlin"
    brand.save()

    # when an analyst reads the policy
    response = analyst_client.get(URL)

    # then it is SPEC's defaults, in the brand's time zone, and the row now exists
    assert response.status_code == 200
    body = response.json()
    assert body["time_zone"] == "Europe/Berlin"
    assert body["sender_daily_cap"] == 2 and body["sender_weekly_cap"] == 8
    assert body["quiet_hours_start"] == "22:00" and body["quiet_hours_end"] == "08:00"
    assert body["cooldown_days"] == {
        "block": None,
        "report": None,
        "mute_author": 90,
        "unfriend": 90,
        "hide_post": 30,
    }
    assert FatiguePolicyRecord.objects.filter(brand=brand).exists()
    assert not FatiguePolicyChange.objects.exists()


def test_app_key_reads_but_cannot_write(app_client):
    assert app_client.get(URL).status_code == 200
    assert app_client.patch(URL, {"sender_daily_cap": 1}, format="json").status_code == 403


def test_patch_changes_fields_and_is_audited(staff_client, brand):
    # given the defaults
    staff_client.get(URL)

    # when a manager lowers the daily cap and moves quiet hours
    response = staff_client.patch(
        URL,
        {"sender_daily_cap": 1, "quiet_hours_start": "21:30", "updated_at": "ignored"},
        format="json",
    )

    # then the policy changed, the publish path sees it, and one audit row says old → new
    assert response.status_code == 200, response.json()
    assert response.json()["sender_daily_cap"] == 1
    policy = fatigue_policy_for(brand_id=brand.pk)
    assert policy.sender_daily_cap == 1
    assert policy.quiet_hours_start.strftime("%H:%M") == "21:30"
    change = FatiguePolicyChange.objects.get()
    assert change.changes == {
        "quiet_hours_start": {"old": "22:00", "new": "21:30"},
        "sender_daily_cap": {"old": 2, "new": 1},
    }
    assert change.changed_by_id == staff_client.user.pk
    assert change.changed_by_label == f"staff:{staff_client.user.pk}"

    # and the same patch again changes nothing and audits nothing
    staff_client.patch(URL, {"sender_daily_cap": 1}, format="json")
    assert FatiguePolicyChange.objects.count() == 1


def test_put_replaces_the_policy_missing_fields_take_the_defaults(staff_client, brand):
    staff_client.patch(URL, {"sender_daily_cap": 1, "recipient_weekly_cap": 2}, format="json")

    response = staff_client.put(URL, {"recipient_weekly_cap": 3}, format="json")

    assert response.status_code == 200
    assert response.json()["sender_daily_cap"] == 2
    assert response.json()["recipient_weekly_cap"] == 3


def test_a_get_answer_can_be_put_back_unchanged(staff_client):
    body = staff_client.get(URL).json()
    response = staff_client.put(URL, body, format="json")
    assert response.status_code == 200
    assert not FatiguePolicyChange.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sender_daily_cap": -1}, "sender_daily_cap"),
        ({"recipient_weekly_cap": -2}, "recipient_weekly_cap"),
        ({"sender_daily_cap": 3, "sender_weekly_cap": 2}, "sender_weekly_cap"),
        ({"window_days": 0}, "window_days"),
        ({"window_days": 400}, "window_days"),
        ({"sender_min_gap_hours": -1}, "sender_min_gap_hours"),
        ({"sender_commercial_share_max": 1.5}, "sender_commercial_share_max"),
        ({"quiet_hours_start": "25:00"}, "quiet_hours_start"),
        ({"quiet_hours_end": "noon"}, "quiet_hours_end"),
        ({"quiet_hours_start": "08:00", "quiet_hours_end": "08:00"}, "quiet_hours_end"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"cooldown_days": {"mute_author": -5}}, "cooldown_days.mute_author"),
        ({"cooldown_days": {"wave": 3}}, "cooldown_days.wave"),
        ({"enabled_rules": ["quiet_hours", "nap_time"]}, "enabled_rules"),
        ({"health_halve_rate": 0.5, "health_pause_rate": 0.1}, "health_pause_rate"),
        ({"sender_daily_cap": "two"}, "sender_daily_cap"),
        ({"sender_daily_cap": True}, "sender_daily_cap"),
        ({"unknown_knob": 1}, "unknown_knob"),
    ],
)
def test_bad_values_are_400_naming_the_field(staff_client, brand, body, field):
    response = staff_client.patch(URL, body, format="json")

    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert field in error["details"], error
    assert fatigue_policy_for(brand_id=brand.pk).sender_daily_cap == 2
    assert not FatiguePolicyChange.objects.exists()


def test_a_body_that_is_not_an_object_is_400(staff_client):
    response = staff_client.put(URL, [1, 2], format="json")
    assert response.status_code == 400


def test_roles_and_callers(brand, customer_client):
    operator = staff_client_for(brand, Role.OPERATOR)
    analyst = staff_client_for(brand, Role.ANALYST)
    owner = staff_client_for(brand, Role.OWNER)

    assert operator.get(URL).status_code == 200
    assert operator.patch(URL, {"sender_daily_cap": 1}, format="json").status_code == 403
    assert analyst.put(URL, {}, format="json").status_code == 403
    assert customer_client.get(URL).status_code == 403
    assert customer_client.patch(URL, {"sender_daily_cap": 1}, format="json").status_code == 403
    assert owner.patch(URL, {"sender_daily_cap": 1}, format="json").status_code == 200


def test_another_brands_staff_read_and_change_only_their_own(
    staff_client, other_staff_client, brand, other_brand
):
    # given brand A with a stricter policy
    staff_client.patch(URL, {"sender_daily_cap": 1}, format="json")

    # when brand B's owner reads and writes "the" policy
    assert other_staff_client.get(URL).json()["sender_daily_cap"] == 2
    other_staff_client.patch(URL, {"sender_daily_cap": 5, "sender_weekly_cap": 9}, format="json")

    # then each brand keeps its own numbers
    assert fatigue_policy_for(brand_id=brand.pk).sender_daily_cap == 1
    assert fatigue_policy_for(brand_id=other_brand.pk).sender_daily_cap == 5


def test_admin_edits_the_policy_with_validation_and_audit(brand, other_brand, staff_client):
    # given a manager of brand A in the admin, and brand B's policy row
    staff_client.get(URL)
    other = staff_client_for(other_brand, Role.OWNER)
    other.get(URL)
    record = FatiguePolicyRecord.objects.get(brand=brand)
    other_record = FatiguePolicyRecord.objects.get(brand=other_brand)
    client = admin_client_for(brand, Role.MANAGER)
    page = f"/admin/campaigns/fatiguepolicyrecord/{record.pk}/change/"

    # when they open the list and the page
    listing = client.get("/admin/campaigns/fatiguepolicyrecord/")
    assert listing.status_code == 200
    assert b"Rival Coffee" not in listing.content
    assert client.get(page).status_code == 200
    foreign = client.get(f"/admin/campaigns/fatiguepolicyrecord/{other_record.pk}/change/")
    assert foreign.status_code == 302  # "does not exist" for another brand's row

    # a bad value is refused on the form, naming the field
    bad = client.post(page, {"policy": '{"sender_daily_cap": -1}', **INLINE})
    assert bad.status_code == 200
    assert b"sender_daily_cap" in bad.content

    # a good one is saved through the service, with an audit row
    good = client.post(page, {"policy": '{"sender_daily_cap": 1}', **INLINE})
    assert good.status_code == 302
    assert fatigue_policy_for(brand_id=brand.pk).sender_daily_cap == 1
    change = FatiguePolicyChange.objects.get(brand=brand)
    assert change.changes == {"sender_daily_cap": {"old": 2, "new": 1}}
    assert change.changed_by_id == client.user.pk
    assert b"sender_daily_cap" in client.get(page).content  # the audit inline

    # the audit log lists only this brand's changes
    other.patch(URL, {"sender_daily_cap": 1}, format="json")
    log = client.get("/admin/campaigns/fatiguepolicychange/")
    assert log.status_code == 200
    assert b"Rival Coffee" not in log.content


def test_analysts_see_the_admin_policy_but_cannot_change_it(brand, staff_client):
    staff_client.get(URL)
    record = FatiguePolicyRecord.objects.get(brand=brand)
    client = admin_client_for(brand, Role.ANALYST)
    page = f"/admin/campaigns/fatiguepolicyrecord/{record.pk}/change/"

    assert client.get(page).status_code == 200
    client.post(page, {"policy": '{"sender_daily_cap": 1}'})

    assert fatigue_policy_for(brand_id=brand.pk).sender_daily_cap == 2


def test_changing_the_window_rebuilds_the_brands_counters(
    staff_client, brand, django_capture_on_commit_callbacks
):
    # given Redis without this brand's fatigue state
    import redis as redis_lib
    from django.conf import settings

    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    ready = f"{{b:{brand.pk}}}:fat:ready"
    assert not client.exists(ready)

    # when a manager changes another field, then the window
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.patch(URL, {"sender_daily_cap": 1}, format="json")
    assert not client.exists(ready)
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.patch(URL, {"window_days": 14}, format="json")

    # then the counters were rebuilt from the ledger for the new window
    assert client.exists(ready)
    client.close()


def test_the_publish_path_reads_the_stored_policy_as_validated(staff_client, brand):
    # given a brand whose staff changed several fields, one of them a nested one
    from campaigns.fatigue.rules import FatiguePolicy, PolicyError
    from campaigns.models import Post
    from campaigns.services.fatigue_policy import fatigue_policy_of
    from tests.campaigns.factories import PostFactory

    body = {
        "sender_daily_cap": 1,
        "quiet_hours_start": "21:30",
        "cooldown_days": {"hide_post": 7, "block": None},
        "enabled_rules": ["cooldown", "sender_daily_cap"],
        "backoff_base_days": 1.5,
    }
    assert staff_client.patch(URL, body, format="json").status_code == 200
    post = PostFactory(author__brand=brand)

    # when the publish path reads it from the post's brand (loaded with its policy row)
    loaded = Post.objects.select_related("brand__fatigue_policy").get(pk=post.pk)
    policy = fatigue_policy_of(brand=loaded.brand)

    # then it is exactly the validated policy, and the defaults stand in for an unknown field
    stored = FatiguePolicyRecord.objects.get(brand=brand).policy
    assert policy == fatigue_policy_for(brand_id=brand.pk) == FatiguePolicy.from_dict(stored)
    assert policy.cooldown_days == {"hide_post": 7, "block": None}
    with pytest.raises(PolicyError):
        FatiguePolicy.from_stored({**stored, "renamed": 1}, base=FatiguePolicy())
    FatiguePolicyRecord.objects.filter(brand=brand).update(policy={**stored, "renamed": 1})
    assert fatigue_policy_for(brand_id=brand.pk) == FatiguePolicy(time_zone=brand.time_zone)
