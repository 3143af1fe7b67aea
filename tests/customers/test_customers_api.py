import pytest

from customers.models import Customer
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/customers/"


def test_create_customer_normalises_phone_and_tags(staff_client, brand):
    response = staff_client.post(
        URL,
        {
            "external_id": "u-1",
            "display_name": "Wang Fang",
            "phone": "138 1234 5678",
            "tags": ["vip", " vip ", "tea"],
            "lifecycle_stage": "prospect",
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["phone"] == "+8613812345678"
    assert body["tags"] == ["vip", "tea"]
    assert Customer.objects.get(pk=body["id"]).brand == brand


def test_list_masks_phone_detail_shows_it(staff_client, brand):
    customer = CustomerFactory(brand=brand, phone="+8613812345678")

    listed = staff_client.get(URL).json()["results"][0]
    detail = staff_client.get(f"{URL}{customer.pk}/").json()

    assert listed["phone"] == "+86138****5678"
    assert detail["phone"] == "+8613812345678"


def test_duplicate_external_id_is_409(staff_client, brand):
    CustomerFactory(brand=brand, external_id="dup")

    response = staff_client.post(URL, {"external_id": "dup"}, format="json")

    assert response.status_code == 409
    assert "dup" in response.json()["error"]["message"]


def test_same_external_id_in_two_brands_is_fine(staff_client, other_brand):
    CustomerFactory(brand=other_brand, external_id="shared")
    assert staff_client.post(URL, {"external_id": "shared"}, format="json").status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "external_id"),
        ({"external_id": "x", "kind": "robot"}, "kind"),
        ({"external_id": "x", "phone": "not a phone"}, "phone"),
        ({"external_id": "x", "tags": "vip"}, "tags"),
        ({"external_id": "x", "marketing_consent": "maybe"}, "marketing_consent"),
        ({"external_id": ["x"]}, "external_id"),
    ],
)
def test_bad_customer_input_names_the_field(staff_client, body, field):
    response = staff_client.post(URL, body, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]
    assert field in error["message"]


def test_malformed_json_is_400(staff_client):
    response = staff_client.generic("POST", URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_filters_and_search(staff_client, brand):
    CustomerFactory(brand=brand, display_name="Zhang Wei", tags=["vip"], lifecycle_stage="repeat")
    CustomerFactory(brand=brand, display_name="Li Na", tags=["tea"], kind="brand_account")

    def names(query):
        return {row["display_name"] for row in staff_client.get(URL + query).json()["results"]}

    assert names("?tag=vip") == {"Zhang Wei"}
    assert names("?lifecycle_stage=repeat") == {"Zhang Wei"}
    assert names("?kind=brand_account") == {"Li Na"}
    assert names("?search=zhang") == {"Zhang Wei"}
    assert staff_client.get(URL + "?kind=robot").status_code == 400


def test_cursor_pagination_and_page_size_cap(staff_client, brand, settings):
    CustomerFactory.create_batch(5, brand=brand)

    first = staff_client.get(URL + "?page_size=2").json()
    second = staff_client.get(first["next"]).json()
    too_big = staff_client.get(URL + "?page_size=100000")

    assert len(first["results"]) == 2 and len(second["results"]) == 2
    assert {r["id"] for r in first["results"]}.isdisjoint(r["id"] for r in second["results"])
    assert too_big.status_code == 400
    assert "page_size" in too_big.json()["error"]["details"]


def test_next_link_keeps_a_search_sent_as_raw_utf8(staff_client, brand):
    # given three customers named 王… and a search sent with raw UTF-8 in the query string
    # (as curl sends it), not percent-encoded
    for name in ("王伟", "王芳", "王磊"):
        CustomerFactory(brand=brand, display_name=name)
    CustomerFactory(brand=brand, display_name="Li Na")

    # when the pages are followed by their next links
    first = staff_client.get(URL + "?search=王&page_size=2").json()
    second = staff_client.get(first["next"]).json()

    # then the link carries the search percent-encoded as UTF-8, and the next page finds the
    # third 王 (not an empty page for a garbled term)
    assert "search=%E7%8E%8B" in first["next"]
    assert len(first["results"]) == 2
    assert [row["display_name"][0] for row in second["results"]] == ["王"]
    assert second["previous"] and "search=%E7%8E%8B" in second["previous"]


def test_other_brand_cannot_read_or_change(other_staff_client, brand):
    customer = CustomerFactory(brand=brand, display_name="Mine")
    url = f"{URL}{customer.pk}/"

    assert other_staff_client.get(url).status_code == 404
    assert other_staff_client.patch(url, {"display_name": "x"}, format="json").status_code == 404
    assert other_staff_client.delete(url).status_code == 404
    assert other_staff_client.get(URL).json()["results"] == []
    customer.refresh_from_db()
    assert customer.display_name == "Mine"


def test_customer_token_sees_only_itself_and_cannot_write(customer_client, customer, brand):
    other = CustomerFactory(brand=brand)

    listed = customer_client.get(URL).json()["results"]

    assert [row["id"] for row in listed] == [customer.pk]
    assert customer_client.get(f"{URL}{other.pk}/").status_code == 404
    assert customer_client.post(URL, {"external_id": "n"}, format="json").status_code == 403
    assert (
        customer_client.patch(f"{URL}{customer.pk}/", {"tags": []}, format="json").status_code
        == 403
    )


def test_analyst_reads_but_cannot_write(analyst_client, brand):
    customer = CustomerFactory(brand=brand)
    assert analyst_client.get(f"{URL}{customer.pk}/").status_code == 200
    response = analyst_client.post(URL, {"external_id": "n"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_operator_cannot_delete_manager_can(operator_client, staff_client, brand):
    customer = CustomerFactory(brand=brand)
    assert operator_client.delete(f"{URL}{customer.pk}/").status_code == 403
    assert staff_client.delete(f"{URL}{customer.pk}/").status_code == 204
    assert not Customer.objects.filter(pk=customer.pk).exists()
