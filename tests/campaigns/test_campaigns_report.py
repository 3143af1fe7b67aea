"""The campaign report on a hand-built campaign: every number below is worked out by hand.

Campaign C (CNY). Advocate A enrolled as nano (fee 100, one sample 30), advocate B as micro
(fee 200, samples 50 + 20), brand account BA posts without enrollment.
Deliveries (delivered): PA1 by A → r1 r2 r3 (and suppressed for r4); PA2 by A → r1 r4;
PB1 by B → r4 r5; PBA by BA → r6; a non-campaign post of A → r5 (ignored).
  reach: A {r1..r4} = 4, B {r4 r5} = 2, BA 1, campaign {r1..r6} = 6 (r4 counted once).
  delivered: A 5, B 2, BA 1 → 8.
Interactions: PA1 like r1, unlike r1, like r2, comment r3, view r2 (in-feed), click r1,
view by an outsider through a forward (depth 1); PA2 forward r4, reply r1; PB1 like r5;
PBA comment r6; the non-campaign post like r5 (ignored).
  engagements: A 2 − 1 + 1 + 1 + 1 = 4, B 1, BA 1 → 6; forwarded views: A 1.
  impressions: A 5 + 1 = 6, B 2, BA 1 → 9.
Conversions of C: c1 A 100.00 CNY (strength 0.1, day 1); c2 A 250.00 CNY discount 10
(0.5, day 1); c3 B 80.00 CNY discount 5 (0.85, day 2); c4 BA's post, no enrollment,
40.00 CNY (unknown strength, day 2); c5 A 20.00 USD discount 2 (0.3, day 2).
Not in C: an uncredited self-referral and another campaign's order.
  conversions 5; revenue 100 + 250 + 80 + 40 = 470.00 (USD 20.00 listed apart);
  cost: fees 300 + samples 100 + CNY discounts 15 = 415.00; ROI 55 / 415 = 0.1325.
"""

import csv
import io
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from campaigns.campaign_admin import chart_fonts, chart_label
from campaigns.models import Conversion, Delivery, SampleShipment
from interactions.models import Interaction
from tests.campaigns.factories import CampaignFactory, EnrollmentFactory, hand_published
from tests.factories import AdvocateFactory, CustomerFactory, MembershipFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY1 = (timezone.now().astimezone(SHANGHAI) - timedelta(days=2)).date()
DAY2 = DAY1 + timedelta(days=1)


def noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=SHANGHAI)


class Built:
    def __init__(self, brand):
        self.brand = brand
        self.campaign = c = CampaignFactory(brand=brand, name="Spring tea")
        self.a = EnrollmentFactory(
            campaign=c,
            advocate=AdvocateFactory(customer=CustomerFactory(brand=brand, display_name="Ann")),
            fee=Decimal("100"),
            tier="nano",
        )
        self.b = EnrollmentFactory(
            campaign=c,
            advocate=AdvocateFactory(customer=CustomerFactory(brand=brand, display_name="Bo")),
            fee=Decimal("200"),
            tier="micro",
        )
        for enrollment, cost in ((self.a, "30"), (self.b, "50"), (self.b, "20")):
            SampleShipment.objects.create(
                brand=brand, enrollment=enrollment, product="TEA", cost=Decimal(cost)
            )
        ann, bo = self.a.advocate.customer, self.b.advocate.customer
        ba = CustomerFactory(brand=brand, kind="brand_account", display_name="Acme")
        r = [None, *CustomerFactory.create_batch(6, brand=brand)]
        outsider = CustomerFactory(brand=brand)
        pa1 = hand_published(ann, [r[1], r[2], r[3]], campaign=c)
        Delivery.objects.create(
            brand=brand, post=pa1, recipient=r[4], status="suppressed", reason="fatigue"
        )
        pa2 = hand_published(ann, [r[1], r[4]], campaign=c)
        pb1 = hand_published(bo, [r[4], r[5]], campaign=c)
        pba = hand_published(ba, [r[6]], campaign=c)
        plain = hand_published(ann, [r[5]])
        events = [
            (pa1, r[1], "like", 0),
            (pa1, r[1], "unlike", 0),
            (pa1, r[2], "like", 0),
            (pa1, r[3], "comment", 0),
            (pa1, r[2], "view", 0),
            (pa1, r[1], "click", 0),
            (pa1, outsider, "view", 1),
            (pa2, r[4], "forward", 0),
            (pa2, r[1], "reply", 0),
            (pb1, r[5], "like", 0),
            (pba, r[6], "comment", 0),
            (plain, r[5], "like", 0),
        ]
        now = timezone.now()
        Interaction.objects.bulk_create(
            Interaction(
                brand=brand,
                event_id=f"e{n}",
                type=kind,
                actor=actor,
                target=post.author,
                post=post,
                chain_depth=depth,
                occurred_at=now,
                received_at=now,
            )
            for n, (post, actor, kind, depth) in enumerate(events)
        )
        other = CampaignFactory(brand=brand)
        rows = [
            ("c1", self.a, c, "100.00", "CNY", "0", 0.1, DAY1, ""),
            ("c2", self.a, c, "250.00", "CNY", "10", 0.5, DAY1, ""),
            ("c3", self.b, c, "80.00", "CNY", "5", 0.85, DAY2, ""),
            ("c4", None, c, "40.00", "CNY", "0", None, DAY2, ""),
            ("c5", self.a, c, "20.00", "USD", "2", 0.3, DAY2, ""),
            ("self", None, None, "999.00", "CNY", "0", None, DAY2, "self_referral"),
            ("elsewhere", None, other, "500.00", "CNY", "0", 0.9, DAY2, ""),
        ]
        Conversion.objects.bulk_create(
            Conversion(
                brand=brand,
                order_id=order_id,
                enrollment=enrollment,
                advocate=enrollment.advocate if enrollment else None,
                campaign=campaign,
                post=pba if order_id == "c4" else None,
                amount=Decimal(amount),
                currency=currency,
                discount=Decimal(discount),
                tie_strength_at_purchase=strength,
                occurred_at=noon(day),
                source="referral_code",
                uncredited_reason=reason,
            )
            for order_id, enrollment, campaign, amount, currency, discount, strength, day, reason
            in rows
        )  # fmt: skip


@pytest.fixture
def built(brand):
    return Built(brand)


def report_of(client, campaign_id, **params):
    response = client.get(f"/api/v1/campaigns/{campaign_id}/report/", params)
    assert response.status_code == 200, response.content
    return response


def test_totals_are_the_hand_computed_numbers(analyst_client, built):
    body = report_of(analyst_client, built.campaign.pk).json()

    assert body["currency"] == "CNY"
    assert body["totals"] == {
        "reach": 6,
        "impressions": 9,
        "engagements": 6,
        "engagement_rate": 0.6667,
        "conversions": 5,
        "conversion_rate": 0.8333,
        "revenue": "470.00",
        "cost": "415.00",
        "roi": 0.1325,
    }
    assert body["revenue_by_currency"] == {"CNY": "470.00", "USD": "20.00"}
    assert body["conversions_over_time"] == [
        {"day": DAY1.isoformat(), "conversions": 2, "revenue": "350.00"},
        {"day": DAY2.isoformat(), "conversions": 3, "revenue": "120.00"},
    ]


def test_by_advocate_rows(analyst_client, built):
    rows = {row["code"]: row for row in report_of(analyst_client, built.campaign.pk).json()[
        "by_advocate"]}  # fmt: skip
    ann, bo = rows[built.a.code], rows[built.b.code]

    assert {k: ann[k] for k in ann if k not in ("enrollment", "advocate", "code")} == {
        "name": "Ann",
        "tier": "nano",
        "fee": "100.00",
        "samples": {"shipped": 1, "received": 0, "reviewed": 0},
        "reach": 4,
        "impressions": 6,
        "engagements": 4,
        "engagement_rate": 0.6667,
        "conversions": 3,
        "conversion_rate": 0.75,
        "revenue": "350.00",
        "cost": "140.00",
        "roi": 1.5,
    }
    assert (bo["reach"], bo["impressions"], bo["engagements"], bo["engagement_rate"]) == (
        2,
        2,
        1,
        0.5,
    )
    assert (bo["conversions"], bo["conversion_rate"], bo["revenue"], bo["cost"], bo["roi"]) == (
        1,
        0.5,
        "80.00",
        "275.00",
        -0.7091,
    )
    assert bo["samples"]["shipped"] == 2
    order = [row["code"] for row in report_of(analyst_client, built.campaign.pk).json()[
        "by_advocate"]]  # fmt: skip
    assert order == [built.a.code, built.b.code]  # by revenue


def test_by_tier_uses_tier_at_enrollment_and_keeps_unenrolled_apart(analyst_client, built):
    built.a.advocate.tier = "macro"  # the advocate grew since; the report keeps "nano"
    built.a.advocate.save()

    tiers = {row["tier"]: row for row in report_of(analyst_client, built.campaign.pk).json()[
        "by_tier"]}  # fmt: skip

    assert list(tiers) == ["nano", "micro", "macro", "unenrolled"]
    assert (tiers["nano"]["advocates"], tiers["nano"]["reach"], tiers["nano"]["roi"]) == (
        1,
        4,
        1.5,
    )
    assert (tiers["micro"]["conversions"], tiers["micro"]["cost"]) == (1, "275.00")
    assert tiers["macro"] == {
        "tier": "macro",
        "advocates": 0,
        "reach": 0,
        "impressions": 0,
        "engagements": 0,
        "engagement_rate": 0.0,
        "conversions": 0,
        "conversion_rate": 0.0,
        "revenue": "0.00",
        "cost": "0.00",
        "roi": None,
    }
    unenrolled = tiers["unenrolled"]
    assert (unenrolled["reach"], unenrolled["impressions"], unenrolled["engagements"]) == (1, 1, 1)
    assert (unenrolled["conversions"], unenrolled["conversion_rate"]) == (1, 1.0)
    assert (unenrolled["revenue"], unenrolled["cost"], unenrolled["roi"]) == ("40.00", "0.00", None)


def test_tie_bands_of_the_buyer(analyst_client, built):
    bands = report_of(analyst_client, built.campaign.pk).json()["by_tie_band"]

    assert bands == [
        {"band": "0.0–0.2", "conversions": 1, "share": 0.2, "revenue": "100.00"},
        {"band": "0.2–0.4", "conversions": 1, "share": 0.2, "revenue": "0.00"},  # USD
        {"band": "0.4–0.6", "conversions": 1, "share": 0.2, "revenue": "250.00"},
        {"band": "0.6–0.8", "conversions": 0, "share": 0.0, "revenue": "0.00"},
        {"band": "0.8–1.0", "conversions": 1, "share": 0.2, "revenue": "80.00"},
        {"band": "unknown", "conversions": 1, "share": 0.2, "revenue": "40.00"},
    ]


def test_tie_band_edges_come_from_settings(analyst_client, built, settings):
    settings.SCRM = {**settings.SCRM, "REPORT_TIE_BAND_EDGES": [0.5]}

    bands = report_of(analyst_client, built.campaign.pk).json()["by_tie_band"]

    assert [(b["band"], b["conversions"]) for b in bands] == [
        ("0.0–0.5", 2),  # 0.1 and 0.3
        ("0.5–1.0", 2),  # 0.5 (a band's lower edge belongs to it) and 0.85
        ("unknown", 1),
    ]


def test_empty_campaign_reports_zeros_not_errors(analyst_client, brand):
    campaign = CampaignFactory(brand=brand)

    body = report_of(analyst_client, campaign.pk).json()

    assert body["totals"]["reach"] == 0
    assert body["totals"]["roi"] is None
    assert body["by_advocate"] == []
    assert [row["tier"] for row in body["by_tier"]] == ["nano", "micro", "macro"]


def _csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_csv_export_by_query_or_accept_header(analyst_client, built):
    by_query = report_of(analyst_client, built.campaign.pk, format="csv")
    by_header = analyst_client.get(
        f"/api/v1/campaigns/{built.campaign.pk}/report/", HTTP_ACCEPT="text/csv"
    )

    assert by_query["Content-Type"].startswith("text/csv")
    assert "attachment" in by_query["Content-Disposition"]
    assert by_header.status_code == 200
    assert by_header.content == by_query.content
    rows = _csv_rows(by_query)
    total = rows[0]
    assert total["section"] == "total"
    assert (total["reach"], total["impressions"], total["engagements"]) == ("6", "9", "6")
    assert (total["engagement_rate"], total["conversions"], total["conversion_rate"]) == (
        "0.6667",
        "5",
        "0.8333",
    )
    assert (total["revenue"], total["cost"], total["roi"]) == ("470.00", "415.00", "0.1325")
    sections = [row["section"] for row in rows]
    assert sections == ["total"] + ["advocate"] * 2 + ["tier"] * 4 + ["tie_band"] * 6
    ann = next(row for row in rows if row["section"] == "advocate" and row["label"] == "Ann")
    assert (ann["tier"], ann["revenue"], ann["cost"], ann["roi"]) == ("nano", "350.00", "140.00",
                                                                      "1.5")  # fmt: skip
    macro = next(row for row in rows if row["section"] == "tier" and row["key"] == "macro")
    assert macro["roi"] == ""


def test_report_query_count_does_not_grow_with_the_campaign(
    analyst_client, built, django_assert_max_num_queries
):
    with django_assert_max_num_queries(8):
        report_of(analyst_client, built.campaign.pk)
    for _ in range(15):
        enrollment = EnrollmentFactory(
            campaign=built.campaign,
            advocate=AdvocateFactory(customer=CustomerFactory(brand=built.brand)),
        )
        recipients = CustomerFactory.create_batch(3, brand=built.brand)
        hand_published(enrollment.advocate.customer, recipients, campaign=built.campaign)
        SampleShipment.objects.create(brand=built.brand, enrollment=enrollment, product="T")
    with django_assert_max_num_queries(8):
        body = report_of(analyst_client, built.campaign.pk).json()
    assert body["totals"]["reach"] == 6 + 45
    assert len(body["by_advocate"]) == 17


# --- admin dashboard ---------------------------------------------------------------


def admin_client_for(client, brand, role="analyst"):
    membership = MembershipFactory(brand=brand, role=role)
    client.force_login(membership.user)
    return client


def test_admin_dashboard_shows_numbers_and_server_rendered_charts(client, built):
    admin_client_for(client, built.brand)

    response = client.get(f"/admin/campaigns/campaign/{built.campaign.pk}/dashboard/")

    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('src="data:image/png;base64,') == 4
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing loaded from afar
    assert "470.00" in html and "415.00" in html and "0.1325" in html
    assert "Ann" in html and "unenrolled" in html


def test_admin_csv_export_and_brand_scoping(client, built, other_brand):
    admin_client_for(client, built.brand)
    csv_response = client.get(f"/admin/campaigns/campaign/{built.campaign.pk}/report.csv")
    assert _csv_rows(csv_response)[0]["revenue"] == "470.00"

    client.logout()
    admin_client_for(client, other_brand, role="owner")
    assert (
        client.get(f"/admin/campaigns/campaign/{built.campaign.pk}/dashboard/").status_code == 404
    )
    assert (
        client.get(f"/admin/campaigns/campaign/{built.campaign.pk}/report.csv").status_code == 404
    )
    changelist = client.get("/admin/campaigns/campaign/")
    assert changelist.status_code == 200
    assert "Spring tea" not in changelist.content.decode()


def test_admin_changelists_of_enrollments_and_conversions_are_scoped(client, built, other_brand):
    admin_client_for(client, other_brand, role="owner")

    enrollments = client.get("/admin/campaigns/enrollment/")
    conversions = client.get("/admin/campaigns/conversion/")

    assert enrollments.status_code == 200 and built.a.code not in enrollments.content.decode()
    assert conversions.status_code == 200 and ">c1<" not in conversions.content.decode()
    client.logout()
    admin_client_for(client, built.brand)
    assert built.a.code in client.get("/admin/campaigns/enrollment/").content.decode()
    assert ">c1<" in client.get("/admin/campaigns/conversion/").content.decode()


def test_chart_labels_keep_drawable_names_and_fall_back_to_the_code():
    # a name every chart font can draw stays; a character no font has (private use area)
    # would come out as an empty box, so the advocate's code labels the bar instead
    families, points = chart_fonts()

    assert families and ord("A") in points
    assert chart_label("Ann Lee", "CODE1") == "Ann Lee"
    assert chart_label("Ann \ue000", "CODE1") == "CODE1"
    assert chart_label("", "CODE1") == "CODE1"
