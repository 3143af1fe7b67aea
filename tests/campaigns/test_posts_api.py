import pytest

from campaigns.models import Post, PostStatus
from customers.models import AdvocateStatus
from tests.campaigns.factories import EnrollmentFactory, PostFactory
from tests.factories import AdvocateFactory, CustomerFactory
from tests.graph import published_post

pytestmark = pytest.mark.django_db

URL = "/api/v1/posts/"


def test_customer_creates_own_draft_author_defaults_to_self(customer_client, customer):
    response = customer_client.post(URL, {"text": "new tea!"}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["author"] == customer.pk
    assert body["status"] == "draft"
    assert Post.objects.get(pk=body["id"]).brand_id == customer.brand_id


def test_customer_cannot_author_as_someone_else(customer_client, brand):
    other = CustomerFactory(brand=brand)

    response = customer_client.post(URL, {"author": other.pk, "text": "hi"}, format="json")

    assert response.status_code == 403
    assert not Post.objects.exists()


def test_staff_author_for_brand_account_and_advocate_not_plain_consumer(staff_client, brand):
    account = CustomerFactory(brand=brand, kind="brand_account")
    advocate = AdvocateFactory(customer=CustomerFactory(brand=brand))
    consumer = CustomerFactory(brand=brand)

    ok_account = staff_client.post(URL, {"author": account.pk, "text": "x"}, format="json")
    ok_advocate = staff_client.post(
        URL, {"author": advocate.customer_id, "text": "x"}, format="json"
    )
    refused = staff_client.post(URL, {"author": consumer.pk, "text": "x"}, format="json")

    assert ok_account.status_code == 201
    assert ok_advocate.status_code == 201
    assert refused.status_code == 400
    assert "author" in refused.json()["error"]["details"]


def test_app_key_cannot_write_posts(app_client, brand):
    account = CustomerFactory(brand=brand, kind="brand_account")
    response = app_client.post(URL, {"author": account.pk, "text": "x"}, format="json")
    assert response.status_code == 403
    assert not Post.objects.exists()


def test_commercial_post_gets_the_brand_disclosure_label(customer_client, customer, brand):
    campaign = EnrollmentFactory(campaign__brand=brand, advocate__customer=customer).campaign
    response = customer_client.post(URL, {"text": "Buy this", "commercial": True}, format="json")
    in_campaign = customer_client.post(
        URL, {"text": "x #ad", "campaign": campaign.pk}, format="json"
    )

    assert response.json()["text"] == f"Buy this {brand.disclosure_label}"
    assert in_campaign.json()["commercial"] is True
    assert in_campaign.json()["text"] == "x #ad"  # already carried: not added twice


def image(n=0):
    return {"type": "image", "url": f"https://cdn.example.com/{n}.jpg"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "x" * 2001}, "text"),
        ({"text": "x" * 2000, "commercial": True}, "text"),  # no room for the label
        ({"text": ""}, "text"),
        ({"text": 5}, "text"),
        ({"text": "x", "media": [image(i) for i in range(10)]}, "media"),
        (
            {"text": "x", "media": [image(), {"type": "video", "url": "https://v.example/1"}]},
            "media",
        ),
        (
            {
                "text": "x",
                "media": [
                    {"type": "video", "url": "https://v.example/1"},
                    {"type": "video", "url": "https://v.example/2"},
                ],
            },
            "media",
        ),
        ({"text": "x", "media": [{"type": "link", "url": "ftp://x"}]}, "media"),
        ({"text": "x", "media": [{"type": "gif", "url": "https://x/y"}]}, "media"),
        ({"text": "x", "media": [{"type": "image", "url": "https://x/y", "evil": 1}]}, "media"),
        ({"text": "x", "media": {"type": "image"}}, "media"),
        ({"text": "x", "author": 999999}, "author"),
        ({"text": "x", "commercial": "maybe"}, "commercial"),
        ({"text": "x", "campaign": "abc"}, "campaign"),
    ],
)
def test_validation_rules_answer_400_naming_the_field(staff_client, brand, body, field):
    account = CustomerFactory(brand=brand, kind="brand_account")
    body = {"author": account.pk, **body}

    response = staff_client.post(URL, body, format="json")

    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["details"]
    assert not Post.objects.exists()


def test_up_to_nine_images_or_one_video_or_one_link_are_fine(customer_client):
    for media in (
        [image(i) for i in range(9)],
        [{"type": "video", "url": "https://v.example/1.mp4"}],
        [{"type": "link", "url": "https://shop.example/p/1", "title": "Tea"}],
    ):
        assert customer_client.post(URL, {"media": media}, format="json").status_code == 201


def test_author_from_another_brand_is_400(staff_client, other_brand):
    foreign = CustomerFactory(brand=other_brand, kind="brand_account")
    response = staff_client.post(URL, {"author": foreign.pk, "text": "x"}, format="json")
    assert response.status_code == 400
    assert "author" in response.json()["error"]["details"]


def test_malformed_json_is_400(customer_client):
    response = customer_client.generic("POST", URL, "{nope", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


@pytest.mark.parametrize("who", ["other_staff_client", "other_customer_client"])
def test_other_brand_staff_and_other_customer_see_and_change_nothing(request, brand, who):
    client = request.getfixturevalue(who)
    author = CustomerFactory(brand=brand)
    post = PostFactory(author=author, text="secret draft")
    detail = f"{URL}{post.pk}/"

    assert client.get(detail).status_code == 404
    assert client.get(URL).json()["results"] == []
    assert client.patch(detail, {"text": "hacked"}, format="json").status_code == 404
    assert client.post(f"{detail}publish/").status_code == 404
    assert client.post(f"{detail}publish-preview/").status_code == 404
    assert client.post(f"{detail}withdraw/").status_code == 404
    assert client.delete(detail).status_code == 404
    post.refresh_from_db()
    assert post.text == "secret draft"
    assert post.status == PostStatus.DRAFT


def test_analyst_cannot_publish(analyst_client, brand):
    post = PostFactory(author=CustomerFactory(brand=brand, kind="brand_account"))
    assert analyst_client.post(f"{URL}{post.pk}/publish/").status_code == 403
    post.refresh_from_db()
    assert post.status == PostStatus.DRAFT


def test_status_transitions_are_enforced(customer_client, customer):
    created = customer_client.post(URL, {"text": "hello"}, format="json").json()
    detail = f"{URL}{created['id']}/"

    assert customer_client.post(f"{detail}withdraw/").status_code == 409  # a draft
    assert customer_client.post(f"{detail}publish/").json()["decision"] == "published"
    assert customer_client.post(f"{detail}publish/").status_code == 409  # twice
    assert customer_client.patch(detail, {"text": "edit"}, format="json").status_code == 409
    assert customer_client.delete(detail).status_code == 409
    assert customer_client.post(f"{detail}withdraw/").json()["status"] == "withdrawn"
    assert customer_client.post(f"{detail}publish/").status_code == 409
    assert customer_client.post(f"{detail}publish-preview/").status_code == 409
    post = Post.objects.get(pk=created["id"])
    assert post.status == PostStatus.WITHDRAWN
    assert post.withdrawn_at is not None


def test_draft_can_be_edited_and_deleted(customer_client):
    created = customer_client.post(URL, {"text": "hello"}, format="json").json()
    detail = f"{URL}{created['id']}/"

    edited = customer_client.patch(
        detail, {"text": "hello again", "commercial": True}, format="json"
    )

    assert edited.status_code == 200
    assert edited.json()["text"].endswith("#ad")
    assert customer_client.delete(detail).status_code == 204
    assert not Post.objects.exists()


def test_rejected_post_of_paused_advocate_can_be_edited_back_to_draft(staff_client, brand):
    advocate = AdvocateFactory(customer=CustomerFactory(brand=brand), status="active")
    created = staff_client.post(
        URL, {"author": advocate.customer_id, "text": "promo", "commercial": True}, format="json"
    ).json()
    advocate.status = AdvocateStatus.PAUSED
    advocate.save()

    answer = staff_client.post(f"{URL}{created['id']}/publish/").json()
    edited = staff_client.patch(f"{URL}{created['id']}/", {"text": "fixed"}, format="json")

    assert answer == {
        "decision": "rejected",
        "reasons": [
            {"code": "advocate_paused", "message": "the author is a paused advocate", "data": {}}
        ],
        "delivered": 0,
        "suppressed": {},
        "deferred_until": None,
    }
    assert edited.json()["status"] == "draft"
    assert edited.json()["rejection_reasons"] == []


def test_detail_includes_stats(staff_client, brand):
    author = CustomerFactory(brand=brand)
    friends = CustomerFactory.create_batch(3, brand=brand)
    from tests.graph import befriend

    befriend(author, friends)
    post = published_post(author)

    stats = staff_client.get(f"{URL}{post.pk}/").json()["stats"]

    assert stats["deliveries"] == 3
    assert stats["delivered"] == 3
    assert stats["suppressed"] == {}
    assert stats["likes"] == 0
    assert stats["engagement_rate"] == 0.0


def test_list_has_constant_queries(staff_client, brand, django_assert_max_num_queries):
    for _ in range(20):
        PostFactory(author=CustomerFactory(brand=brand))
    with django_assert_max_num_queries(4):
        response = staff_client.get(URL)
    assert len(response.json()["results"]) == 20
