from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus, Conversion
from campaigns.services.conversions import conversion_record, share_link_issue, tie_strength
from interactions.models import Interaction, Tie
from scrm.tenancy.services import Caller, CallerKind
from tests.campaigns.factories import (
    CampaignFactory,
    EnrollmentFactory,
    PostFactory,
    hand_published,
)
from tests.conftest import app_client_for, customer_client_for
from tests.factories import AdvocateFactory, CustomerFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/conversions/"


class Shop:
    """An advocate enrolled in an active campaign, with a campaign post delivered to a buyer."""

    def __init__(self, brand, tag: str = ""):
        self.brand = brand
        self.kol = CustomerFactory(brand=brand, display_name="KOL", phone="+8613999990001")
        self.advocate = AdvocateFactory(customer=self.kol, referral_code=f"ADVCODE234{tag}")
        self.campaign = CampaignFactory(brand=brand)
        self.enrollment = EnrollmentFactory(
            campaign=self.campaign, advocate=self.advocate, code=f"ENRCODE23456{tag}"
        )
        self.buyer = CustomerFactory(brand=brand, display_name="Buyer")
        self.stranger = CustomerFactory(brand=brand, display_name="Not a recipient")
        self.post = hand_published(self.kol, [self.buyer], campaign=self.campaign)


@pytest.fixture
def shop(brand):
    return Shop(brand)


def order(n: int = 1, **fields) -> dict:
    return {"order_id": f"SO-{n}", "amount": "99.50", "currency": "CNY", **fields}


def staff_link(shop) -> str:
    caller = Caller(kind=CallerKind.STAFF, brand_id=shop.brand.pk, role="manager")
    return share_link_issue(caller=caller, post=shop.post).token


# --- attribution paths ---------------------------------------------------------------


def test_advocate_code_credits_advocate_and_their_running_campaign(app_client, shop):
    response = app_client.post(
        URL, order(referral_code="advcode234", buyer=shop.buyer.pk), format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "created"
    conv = body["conversion"]
    assert conv["source"] == "referral_code"
    assert conv["code"] == "ADVCODE234"
    assert conv["credited"] is True
    assert conv["advocate"] == shop.advocate.pk
    assert conv["campaign"] == shop.campaign.pk
    assert conv["enrollment"] == shop.enrollment.pk
    assert conv["post"] is None
    assert conv["tie_strength_at_purchase"] == 0.0
    assert conv["amount"] == "99.50"
    event = Interaction.objects.get(event_id="order:SO-1")
    assert (event.type, event.actor_id, event.target_id, event.post_id) == (
        "purchase",
        shop.buyer.pk,
        shop.kol.pk,
        None,
    )
    assert event.payload["order_id"] == "SO-1"
    assert conv["interaction_event_id"] == "order:SO-1"


def test_advocate_code_outside_any_running_campaign_credits_only_the_advocate(app_client, shop):
    Campaign.objects.filter(pk=shop.campaign.pk).update(status=CampaignStatus.ENDED)

    response = app_client.post(URL, order(referral_code="ADVCODE234"), format="json")

    conv = response.json()["conversion"]
    assert conv["advocate"] == shop.advocate.pk
    assert conv["campaign"] is None
    assert conv["tie_strength_at_purchase"] is None  # no known buyer


def test_enrollment_code_credits_that_campaign(app_client, shop):
    other_campaign = CampaignFactory(brand=shop.brand)
    other = EnrollmentFactory(campaign=other_campaign, advocate=shop.advocate, code="OTHERCODE234")

    response = app_client.post(
        URL, order(referral_code=other.code, buyer_external_id=shop.buyer.external_id),
        format="json",
    )  # fmt: skip

    conv = response.json()["conversion"]
    assert conv["campaign"] == other_campaign.pk
    assert conv["enrollment"] == other.pk
    assert conv["buyer"] == shop.buyer.pk  # resolved from the external id


def test_share_link_credits_post_campaign_and_author(staff_client, app_client, shop):
    link = staff_client.post(f"/api/v1/posts/{shop.post.pk}/share-link/")
    assert link.status_code == 201, link.json()
    assert link.json()["sharer"] == shop.kol.pk

    response = app_client.post(
        URL, order(share_token=link.json()["token"], buyer=shop.buyer.pk), format="json"
    )

    conv = response.json()["conversion"]
    assert conv["source"] == "share_link"
    assert conv["post"] == shop.post.pk
    assert conv["campaign"] == shop.campaign.pk
    assert conv["advocate"] == shop.advocate.pk
    assert conv["enrollment"] == shop.enrollment.pk
    assert conv["sharer"] == shop.kol.pk
    event = Interaction.objects.get(event_id="order:SO-1")
    assert event.post_id == shop.post.pk  # the buyer was shown the post


def test_share_link_buyer_not_shown_the_post_logs_the_purchase_without_it(app_client, shop):
    response = app_client.post(
        URL, order(share_token=staff_link(shop), buyer=shop.stranger.pk), format="json"
    )

    assert response.json()["conversion"]["post"] == shop.post.pk
    event = Interaction.objects.get(event_id="order:SO-1")
    assert event.post_id is None
    assert event.payload["shared_post"] == shop.post.pk


def test_store_coupon_is_its_own_source(app_client, shop):
    response = app_client.post(
        URL, order(coupon_code=shop.enrollment.code, discount="10.00"), format="json"
    )

    conv = response.json()["conversion"]
    assert conv["source"] == "store_coupon"
    assert conv["campaign"] == shop.campaign.pk
    assert conv["discount"] == "10.00"


def test_order_without_code_is_unattributed(app_client, shop):
    response = app_client.post(URL, order(buyer=shop.buyer.pk), format="json")

    conv = response.json()["conversion"]
    assert conv["source"] == "none"
    assert conv["credited"] is False
    assert conv["advocate"] is conv["campaign"] is conv["post"] is None
    assert not Interaction.objects.filter(type="purchase").exists()


def test_tie_strength_at_purchase_is_read_from_the_tie(app_client, shop):
    assert tie_strength(a=shop.buyer.pk, b=shop.kol.pk) == 0.0  # no row: 0
    Tie.objects.create(brand=shop.brand, source=shop.buyer, target=shop.kol, strength=0.73)

    response = app_client.post(
        URL, order(referral_code="ADVCODE234", buyer=shop.buyer.pk), format="json"
    )

    assert response.json()["conversion"]["tie_strength_at_purchase"] == pytest.approx(0.73)


# --- idempotency ---------------------------------------------------------------


def test_repeated_order_id_is_a_duplicate_and_changes_nothing(app_client, staff_client, shop):
    first = app_client.post(
        URL, order(referral_code="ADVCODE234", buyer=shop.buyer.pk), format="json"
    )
    again = app_client.post(URL, order(amount="1.00", currency="USD"), format="json")
    by_staff = staff_client.post(URL, order(), format="json")

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert again.json()["conversion"] == first.json()["conversion"]
    assert by_staff.json()["status"] == "duplicate"
    assert Conversion.objects.count() == 1
    assert Conversion.objects.get().amount == Decimal("99.50")
    assert Interaction.objects.filter(type="purchase").count() == 1


def test_same_order_id_in_another_brand_is_another_order(app_client, other_brand, shop):
    app_client.post(URL, order(), format="json")
    response = app_client_for(other_brand).post(URL, order(), format="json")

    assert response.status_code == 201
    assert Conversion.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_repeats_record_the_order_once(brand):
    shop = Shop(brand)
    caller = Caller(kind=CallerKind.APP, brand_id=brand.pk)

    def record(_):
        try:
            result = conversion_record(
                caller=caller,
                order_id="SO-RACE",
                amount=Decimal("20"),
                currency="CNY",
                buyer_id=shop.buyer.pk,
                referral_code="ADVCODE234",
            )
            return result.status, result.conversion.pk
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(record, range(8)))

    statuses = sorted(status for status, _ in outcomes)
    assert statuses == ["created"] + ["duplicate"] * 7
    assert len({pk for _, pk in outcomes}) == 1
    assert Conversion.objects.count() == 1
    assert Interaction.objects.filter(type="purchase").count() == 1


# --- fraud basics ---------------------------------------------------------------


def test_self_referral_is_stored_without_credit(app_client, shop):
    response = app_client.post(
        URL, order(referral_code="ADVCODE234", buyer=shop.kol.pk), format="json"
    )

    assert response.status_code == 201
    conv = response.json()["conversion"]
    assert conv["credited"] is False
    assert conv["uncredited_reason"] == "self_referral"
    assert conv["source"] == "referral_code"
    assert conv["advocate"] is conv["campaign"] is conv["enrollment"] is None
    assert not Interaction.objects.filter(type="purchase").exists()


def test_self_referral_through_own_share_link_or_external_id(app_client, shop):
    by_link = app_client.post(
        URL, order(1, share_token=staff_link(shop), buyer=shop.kol.pk), format="json"
    )
    by_external = app_client.post(
        URL,
        order(2, referral_code=shop.enrollment.code, buyer_external_id=shop.kol.external_id),
        format="json",
    )

    assert by_link.json()["conversion"]["uncredited_reason"] == "self_referral"
    assert by_link.json()["conversion"]["post"] is None
    assert by_external.json()["conversion"]["uncredited_reason"] == "self_referral"


def test_order_from_the_advocates_other_account_is_not_credited(app_client, shop):
    second_account = CustomerFactory(brand=shop.brand, phone=shop.kol.phone)

    response = app_client.post(
        URL, order(referral_code="ADVCODE234", buyer=second_account.pk), format="json"
    )

    conv = response.json()["conversion"]
    assert conv["uncredited_reason"] == "advocate_own_account"
    assert conv["advocate"] is None


def test_burst_of_orders_from_one_buyer_is_flagged(app_client, shop, settings):
    settings.SCRM = {**settings.SCRM, "CONVERSION_BURST_COUNT": 3, "CONVERSION_BURST_MINUTES": 10}
    start = timezone.now() - timedelta(hours=2)

    def place(n, minutes):
        at = (start + timedelta(minutes=minutes)).isoformat()
        body = order(n, buyer=shop.buyer.pk, referral_code="ADVCODE234", occurred_at=at)
        return app_client.post(URL, body, format="json").json()["conversion"]

    first, second, third = place(1, 0), place(2, 4), place(3, 9)
    later = place(4, 60)

    assert [first["flagged_for_review"], second["flagged_for_review"]] == [False, False]
    assert third["flagged_for_review"] is True
    assert "3 orders" in third["flag_reason"]
    assert third["credited"] is True  # flagged for a human, not refused
    assert later["flagged_for_review"] is False


# --- bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"currency": "RMBX"}, "currency"),
        ({"currency": "12"}, "currency"),
        ({"currency": 156}, "currency"),
        ({"amount": "0"}, "amount"),
        ({"amount": "-5.00"}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({"amount": "1.234"}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"order_id": ""}, "order_id"),
        ({"order_id": "x" * 65}, "order_id"),
        ({"referral_code": "NOSUCHCODE2"}, "referral_code"),
        ({"coupon_code": "NOSUCHCODE2"}, "coupon_code"),
        ({"share_token": "forged"}, "share_token"),
        ({"referral_code": "ADVCODE234", "coupon_code": "ADVCODE234"}, "coupon_code"),
        ({"buyer": 999_999_999}, "buyer"),
        ({"discount": "-1"}, "discount"),
        ({"occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at"),
        ({"occurred_at": "0001-01-01T00:00:00Z", "buyer_external_id": "b1"}, "occurred_at"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(app_client, shop, fields, field):
    body = {**order(), **fields}

    response = app_client.post(URL, body, format="json")

    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["details"]
    assert not Conversion.objects.exists()


def test_codes_and_links_of_another_brand_are_unknown(app_client, other_brand, shop):
    rival = Shop(other_brand, tag="R")
    rival_link = share_link_issue(
        caller=Caller(kind=CallerKind.STAFF, brand_id=other_brand.pk, role="manager"),
        post=rival.post,
    ).token
    rival_buyer = rival.buyer.pk

    by_code = app_client.post(URL, order(1, referral_code="ADVCODE234"), format="json")
    assert by_code.status_code == 201  # sanity: our own code
    foreign_code = app_client.post(
        URL, order(2, referral_code=rival.advocate.referral_code), format="json"
    )
    foreign_link = app_client.post(URL, order(3, share_token=rival_link), format="json")
    foreign_buyer = app_client.post(URL, order(4, buyer=rival_buyer), format="json")

    assert foreign_code.status_code == 400
    assert foreign_link.status_code == 400
    assert foreign_buyer.status_code == 400
    assert Conversion.objects.filter(brand=shop.brand).count() == 1


# --- permissions ---------------------------------------------------------------


def test_customers_cannot_touch_conversions(customer_client, shop):
    assert customer_client.get(URL).status_code == 403
    assert customer_client.post(URL, order(), format="json").status_code == 403
    assert not Conversion.objects.exists()


def test_app_keys_record_but_do_not_read(app_client, shop):
    created = app_client.post(URL, order(), format="json")

    assert created.status_code == 201
    assert app_client.get(URL).status_code == 403
    assert app_client.get(f"{URL}{created.json()['conversion']['id']}/").status_code == 403


def test_analysts_read_operators_write(analyst_client, operator_client, shop):
    assert analyst_client.post(URL, order(1), format="json").status_code == 403
    assert operator_client.post(URL, order(2), format="json").status_code == 201
    listed = analyst_client.get(URL)
    assert listed.status_code == 200
    assert [c["order_id"] for c in listed.json()["results"]] == ["SO-2"]


def test_other_brand_staff_see_none_of_our_conversions(app_client, other_staff_client, shop):
    conv = app_client.post(URL, order(), format="json").json()["conversion"]

    assert other_staff_client.get(URL).json()["results"] == []
    assert other_staff_client.get(f"{URL}{conv['id']}/").status_code == 404


def test_conversion_list_filters_and_constant_queries(
    staff_client, app_client, shop, django_assert_max_num_queries
):
    for n in range(5):
        app_client.post(URL, order(n, referral_code="ADVCODE234"), format="json")
    app_client.post(URL, order(9), format="json")

    with django_assert_max_num_queries(6):
        response = staff_client.get(URL, {"campaign": shop.campaign.pk})
    unattributed = staff_client.get(URL, {"source": "none"})

    assert len(response.json()["results"]) == 5
    assert [c["order_id"] for c in unattributed.json()["results"]] == ["SO-9"]


# --- share links ---------------------------------------------------------------


def test_share_link_permissions(shop, brand, other_staff_client, app_client):
    author = customer_client_for(shop.kol)
    someone_else = customer_client_for(shop.buyer)
    link_url = f"/api/v1/posts/{shop.post.pk}/share-link/"
    draft = PostFactory(author=shop.kol, brand=brand)

    assert author.post(link_url).status_code == 201
    assert someone_else.post(link_url).status_code == 404
    assert app_client.post(link_url).status_code == 403
    assert other_staff_client.post(link_url).status_code == 404
    assert author.post(f"/api/v1/posts/{draft.pk}/share-link/").status_code == 409


def test_unknown_buyer_external_id_is_kept_for_the_burst_check(app_client, shop, settings):
    settings.SCRM = {**settings.SCRM, "CONVERSION_BURST_COUNT": 2, "CONVERSION_BURST_MINUTES": 10}

    first = app_client.post(
        URL, order(1, buyer_external_id="walk-in-42", coupon_code="ADVCODE234"), format="json"
    ).json()["conversion"]
    second = app_client.post(URL, order(2, buyer_external_id="walk-in-42"), format="json").json()[
        "conversion"
    ]

    assert (first["buyer"], first["buyer_external_id"]) == (None, "walk-in-42")
    assert first["credited"] is True
    assert first["tie_strength_at_purchase"] is None
    assert not Interaction.objects.filter(type="purchase").exists()  # no known actor
    assert second["flagged_for_review"] is True
