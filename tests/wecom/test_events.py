"""What each WeCom event does: contacts, attribution, churn, staff deletions, transfers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from customers.models import Customer, CustomerKind, Friendship
from interactions.models import Interaction, Tie
from tests.campaigns.factories import EnrollmentFactory
from tests.factories import AdvocateFactory, CustomerFactory
from wecom.models import (
    CallbackEvent,
    CallbackStatus,
    ChurnRecord,
    ContactChannel,
    ContactEndReason,
    WeComContact,
    WeComStaff,
)
from wecom.services.config import wecom_staff_map

from .helpers import CORP_ID, configure, contact_event, store_and_apply

pytestmark = pytest.mark.django_db


@pytest.fixture
def wecom_brand(brand):
    configure(brand)
    return brand


def _friendship(a: Customer, b: Customer) -> Friendship | None:
    low, high = sorted((a.pk, b.pk))
    return Friendship.objects.filter(customer_low_id=low, customer_high_id=high).last()


def _add(brand, external="wmEXT001", user_id="zhangsan", change="add_external_contact", **kw):
    return store_and_apply(brand, contact_event(change, external=external, user_id=user_id, **kw))


def test_add_external_contact_creates_the_customer_and_friendship_with_the_staff(wecom_brand):
    account = CustomerFactory(brand=wecom_brand, kind=CustomerKind.BRAND_ACCOUNT)
    wecom_staff_map(brand_id=wecom_brand.pk, user_id="zhangsan", brand_account_id=account.pk)

    event = _add(wecom_brand)

    assert event.status == CallbackStatus.APPLIED
    customer = Customer.objects.get(brand=wecom_brand, external_id="wmEXT001")
    assert (customer.kind, customer.source_channel) == ("consumer", "wecom")
    friendship = _friendship(customer, account)
    assert friendship.ended_at is None and friendship.source == "wecom"
    account.refresh_from_db()
    assert account.friend_count == 1
    contact = WeComContact.objects.get(customer=customer)
    assert (contact.brand_account_id, contact.half) == (account.pk, False)


def test_an_unmapped_userid_gets_a_brand_account_of_its_own(wecom_brand):
    _add(wecom_brand, user_id="lisi")
    staff = WeComStaff.objects.get(brand=wecom_brand, user_id="lisi")
    assert staff.brand_account.kind == CustomerKind.BRAND_ACCOUNT
    assert staff.brand_account.external_id == "wecom-staff:lisi"
    _add(wecom_brand, external="wmEXT002", user_id="lisi")
    assert WeComStaff.objects.filter(brand=wecom_brand).count() == 1


def test_add_half_external_contact_is_a_half_contact_then_completed(wecom_brand):
    _add(wecom_brand, change="add_half_external_contact")
    contact = WeComContact.objects.get()
    assert contact.half is True
    _add(wecom_brand)
    contact.refresh_from_db()
    assert contact.half is False
    assert WeComContact.objects.count() == 1


def test_state_of_a_contact_me_channel_credits_channel_campaign_and_advocate(wecom_brand):
    enrollment = EnrollmentFactory(campaign__brand=wecom_brand)
    channel = ContactChannel.objects.create(
        brand=wecom_brand,
        state="spring-qr",
        name="Spring QR",
        campaign=enrollment.campaign,
        advocate=enrollment.advocate,
    )
    event = _add(wecom_brand, State="spring-qr")
    contact = WeComContact.objects.get()
    assert (contact.channel, contact.campaign, contact.advocate) == (
        channel,
        enrollment.campaign,
        enrollment.advocate,
    )
    assert event.result["attribution"]["channel"] == channel.pk


def test_state_of_an_enrollment_code_credits_its_advocate_and_campaign(wecom_brand):
    enrollment = EnrollmentFactory(campaign__brand=wecom_brand)
    _add(wecom_brand, State=enrollment.code)
    contact = WeComContact.objects.get()
    assert (contact.campaign_id, contact.advocate_id) == (
        enrollment.campaign_id,
        enrollment.advocate_id,
    )


def test_state_of_an_advocates_referral_code_credits_the_advocate(wecom_brand):
    advocate = AdvocateFactory(customer__brand=wecom_brand)
    _add(wecom_brand, State=advocate.referral_code)
    assert WeComContact.objects.get().advocate == advocate


def test_state_of_another_brands_code_credits_nothing(wecom_brand, other_brand):
    advocate = AdvocateFactory(customer__brand=other_brand)
    event = _add(wecom_brand, State=advocate.referral_code)
    contact = WeComContact.objects.get()
    assert contact.advocate is None and contact.state == advocate.referral_code
    assert event.result["attribution"] == {"state": advocate.referral_code, "matched": False}


def test_del_follow_user_is_churn_with_an_unfriend_signal_that_fatigue_honours(wecom_brand):
    # given a customer who added the staff account a while ago
    _add(wecom_brand)
    customer = Customer.objects.get(external_id="wmEXT001")
    account = WeComStaff.objects.get().brand_account
    Friendship.objects.filter(customer_low_id=min(customer.pk, account.pk)).update(
        since=timezone.now() - timedelta(days=40)
    )

    # when the customer deletes the staff account
    event = store_and_apply(wecom_brand, contact_event("del_follow_user", external="wmEXT001"))

    # then the friendship ended (kept), churn is recorded, the unfriend is in the log
    assert event.status == CallbackStatus.APPLIED
    friendship = _friendship(customer, account)
    assert friendship.ended_at is not None and friendship.ended_by_id == customer.pk
    churn = ChurnRecord.objects.get()
    assert (churn.customer, churn.brand_account, churn.user_id) == (customer, account, "zhangsan")
    assert churn.friends_days in (39, 40)
    unfriend = Interaction.objects.get(type="unfriend")
    assert (unfriend.actor_id, unfriend.target_id) == (customer.pk, account.pk)
    assert unfriend.event_id == churn.interaction_event_id
    # the pair is flagged, so publishing suppresses it (fatigue reads the flag)
    assert Tie.objects.get(source=customer, target=account).unfriended_at is not None
    customer.refresh_from_db()
    assert customer.lifecycle_stage == "churned"
    contact = WeComContact.objects.get()
    assert contact.end_reason == ContactEndReason.CHURN


def test_churn_while_still_friends_with_another_staff_keeps_the_stage(wecom_brand):
    _add(wecom_brand, user_id="zhangsan")
    _add(wecom_brand, user_id="lisi")
    store_and_apply(wecom_brand, contact_event("del_follow_user", user_id="zhangsan"))
    customer = Customer.objects.get(external_id="wmEXT001")
    assert customer.lifecycle_stage != "churned"
    assert ChurnRecord.objects.count() == 1


def test_a_churned_customer_who_comes_back_is_a_prospect_again(wecom_brand):
    _add(wecom_brand)
    store_and_apply(wecom_brand, contact_event("del_follow_user"))
    _add(wecom_brand)
    customer = Customer.objects.get(external_id="wmEXT001")
    assert customer.lifecycle_stage == "prospect"
    assert WeComContact.objects.filter(ended_at__isnull=True).count() == 1
    assert Friendship.objects.filter(ended_at__isnull=True).count() == 1


def test_del_external_contact_by_staff_ends_the_friendship_without_churn(wecom_brand):
    _add(wecom_brand)
    event = store_and_apply(wecom_brand, contact_event("del_external_contact"))
    assert event.result["reason"] == "deleted_by_staff"
    friendship = Friendship.objects.get()
    assert friendship.ended_at is not None and friendship.end_reason == "deleted_by_staff"
    assert friendship.ended_by_id == WeComStaff.objects.get().brand_account_id
    assert not ChurnRecord.objects.exists()
    assert not Interaction.objects.filter(type="unfriend").exists()


def test_delete_by_transfer_is_not_churn(wecom_brand):
    _add(wecom_brand)
    event = store_and_apply(
        wecom_brand, contact_event("del_external_contact", Source="DELETE_BY_TRANSFER")
    )
    assert event.result == {**event.result, "reason": "transfer", "churn": False}
    assert not ChurnRecord.objects.exists()
    assert not Interaction.objects.exists()
    assert WeComContact.objects.get().end_reason == ContactEndReason.TRANSFER
    assert Customer.objects.get(external_id="wmEXT001").lifecycle_stage != "churned"


def test_transfer_fail_is_recorded(wecom_brand):
    event = store_and_apply(
        wecom_brand, contact_event("transfer_fail", FailReason="customer_refused")
    )
    assert event.status == CallbackStatus.RECORDED
    assert event.result["fail_reason"] == "customer_refused"


def test_edit_external_contact_refreshes_the_customer(wecom_brand):
    _add(wecom_brand)
    customer = Customer.objects.get(external_id="wmEXT001")
    before = customer.updated_at
    event = store_and_apply(wecom_brand, contact_event("edit_external_contact"))
    customer.refresh_from_db()
    assert event.status == CallbackStatus.APPLIED
    assert customer.updated_at > before
    assert WeComContact.objects.get().last_edited_at is not None


def test_edit_of_a_contact_whose_add_was_lost_restores_it(wecom_brand):
    store_and_apply(wecom_brand, contact_event("edit_external_contact", external="wmLOST"))
    customer = Customer.objects.get(external_id="wmLOST")
    assert Friendship.objects.filter(ended_at__isnull=True).count() == 1
    assert customer.source_channel == "wecom"


@pytest.mark.parametrize(
    ("event_name", "fields"),
    [
        ("change_external_tag", {"Id": "etTAG1", "TagType": "tag", "ChangeType": "create"}),
        ("change_external_tag", {"Id": "etGRP1", "TagType": "tag_group", "ChangeType": "delete"}),
        ("change_external_chat", {"ChatId": "wrCHAT1", "ChangeType": "update",
                                  "UpdateDetail": "add_member"}),
        ("change_external_chat", {"ChatId": "wrCHAT1", "ChangeType": "dismiss"}),
    ],
)  # fmt: skip
def test_tag_and_chat_events_are_stored_and_visible(wecom_brand, event_name, fields):
    event = store_and_apply(
        wecom_brand,
        {
            "ToUserName": CORP_ID,
            "FromUserName": "sys",
            "CreateTime": 1_700_000_000,
            "MsgType": "event",
            "Event": event_name,
            **fields,
        },
    )
    assert event.status == CallbackStatus.RECORDED
    stored = CallbackEvent.objects.get(pk=event.pk)
    assert stored.payload["Event"] == event_name
    assert stored.change_type == fields["ChangeType"]
    assert stored.chat_id == fields.get("ChatId", "")
    assert not Customer.objects.exists()


def test_unknown_change_type_is_recorded(wecom_brand):
    event = store_and_apply(wecom_brand, contact_event("brand_new_change"))
    assert event.status == CallbackStatus.RECORDED
    assert not Customer.objects.exists()


def test_an_event_missing_its_ids_fails_visibly_without_effect(wecom_brand):
    event = store_and_apply(wecom_brand, contact_event("add_external_contact", external=None))
    assert event.status == CallbackStatus.FAILED
    assert "external_user_id" in event.error
    assert not Customer.objects.filter(kind="consumer").exists()


def test_an_external_user_id_naming_a_brand_account_fails(wecom_brand):
    CustomerFactory(brand=wecom_brand, external_id="wmSTAFF", kind=CustomerKind.BRAND_ACCOUNT)
    event = _add(wecom_brand, external="wmSTAFF")
    assert event.status == CallbackStatus.FAILED
    assert not Friendship.objects.exists()


def test_events_of_one_brand_never_touch_another(wecom_brand, other_brand):
    CustomerFactory(brand=other_brand, external_id="wmEXT001")
    _add(wecom_brand)
    store_and_apply(wecom_brand, contact_event("del_follow_user"))
    other = Customer.objects.get(brand=other_brand, external_id="wmEXT001")
    assert other.lifecycle_stage == "lead" and other.friend_count == 0
    assert not ChurnRecord.objects.filter(brand=other_brand).exists()


def test_a_churn_stamped_before_the_add_ends_the_friendship_at_its_start(wecom_brand):
    # WeCom's CreateTime has one-second resolution and events may arrive out of order
    _add(wecom_brand, create_time=int(timezone.now().timestamp()))
    store_and_apply(
        wecom_brand,
        contact_event("del_follow_user", create_time=int(timezone.now().timestamp()) - 60),
    )
    friendship = Friendship.objects.get()
    assert friendship.ended_at == friendship.since
    assert ChurnRecord.objects.get().friends_days == 0


def test_an_add_applied_after_a_later_churn_is_superseded(wecom_brand):
    # workers apply concurrently: the churn of a contact may be applied before its add
    now = int(timezone.now().timestamp())
    store_and_apply(wecom_brand, contact_event("del_follow_user", create_time=now))
    late_add = _add(wecom_brand, create_time=now - 5)
    assert late_add.status == CallbackStatus.RECORDED
    assert "superseded_by_end" in late_add.result
    assert not Friendship.objects.filter(ended_at__isnull=True).exists()
    assert ChurnRecord.objects.count() == 1
    # a real re-add, later than the churn, restores the contact
    _add(wecom_brand, create_time=now + 1)
    assert Friendship.objects.filter(ended_at__isnull=True).count() == 1
    assert WeComContact.objects.filter(ended_at__isnull=True).count() == 1


def test_after_churn_the_brand_accounts_posts_skip_the_customer_who_came_back(wecom_brand):
    # given a customer who deleted the staff account, then added it again
    from campaigns.models import Delivery
    from tests.graph import published_post

    now = int(timezone.now().timestamp())
    _add(wecom_brand, create_time=now - 120)
    store_and_apply(wecom_brand, contact_event("del_follow_user", create_time=now - 60))
    _add(wecom_brand, create_time=now - 30)
    customer = Customer.objects.get(external_id="wmEXT001")
    account = WeComStaff.objects.get().brand_account
    assert _friendship(customer, account).ended_at is None

    # when the brand account publishes
    post = published_post(account, text="Autumn tasting")

    # then the unfriend's cool-down suppresses the pair
    delivery = Delivery.objects.get(post=post, recipient=customer)
    assert (delivery.status, delivery.reason) == ("suppressed", "unfriended")
