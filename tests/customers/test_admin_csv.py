"""Customer CSV import and export in the admin, for a non-superuser staff member."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from customers import services
from customers.models import ConsentRecord, Customer
from privacy.models import AuditEntry
from scrm.tenancy.models import Role
from tests.conftest import admin_client_for
from tests.factories import CustomerFactory, MembershipFactory

pytestmark = pytest.mark.django_db

IMPORT = "/admin/customers/customer/import/"
PROCESS = "/admin/customers/customer/process_import/"
EXPORT = "/admin/customers/customer/export/"

HEADER = "external_id,display_name,kind,phone,tags,lifecycle_stage,source_channel,marketing_consent"


def upload(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("customers.csv", text.encode(), content_type="text/csv")


def preview(client, brand, text: str):
    """Step 1: upload; the admin answers with a dry-run preview (and a confirm form)."""
    return client.post(
        IMPORT, {"brand": brand.pk, "format": "0", "resource": "0", "import_file": upload(text)}
    )


def confirm(client, response, **overrides):
    """Step 2: post the confirm form the preview rendered."""
    form = response.context["confirm_form"]
    data = {name: form[name].value() for name in form.fields}
    data.update(overrides)
    return client.post(PROCESS, data)


def error_rows(response) -> dict[int, dict[str, list[str]]]:
    result = response.context["result"]
    rows = {row.number: dict(row.field_specific_errors) for row in result.invalid_rows}
    for number, errors in result.row_errors():
        rows.setdefault(number, {})["__all__"] = [str(e.error) for e in errors]
    return rows


def test_good_rows_are_all_written_normalised(brand_admin_client, brand):
    text = "\n".join(
        [
            HEADER,
            "u-1,Wang Fang,consumer,138 1234 5678,vip;tea;vip,prospect,wecom,yes",
            "u-2,Li Lei,Brand account,+86 139-0000-1111,,customer,store,no",
            "u-3,Zhao,,,,,,",
        ]
    )

    response = preview(brand_admin_client, brand, text)
    assert response.status_code == 200
    assert response.context["result"].has_validation_errors() is False
    assert Customer.objects.count() == 0  # the preview is a dry run
    done = confirm(brand_admin_client, response)

    assert done.status_code == 302
    rows = {c.external_id: c for c in Customer.objects.filter(brand=brand)}
    assert set(rows) == {"u-1", "u-2", "u-3"}
    assert rows["u-1"].phone == "+8613812345678"
    assert rows["u-1"].tags == ["vip", "tea"]
    assert rows["u-1"].lifecycle_stage == "prospect" and rows["u-1"].source_channel == "wecom"
    assert rows["u-2"].kind == "brand_account" and rows["u-2"].phone == "+8613900001111"
    assert rows["u-2"].marketing_consent is False and rows["u-2"].consent_updated_at
    assert rows["u-3"].kind == "consumer" and rows["u-3"].lifecycle_stage == "lead"


def test_one_bad_row_writes_nothing_and_names_row_and_field(brand_admin_client, brand):
    text = "\n".join(
        [
            HEADER,
            "u-1,Good,consumer,13812345678,,lead,wecom,yes",
            "u-2,Bad phone,consumer,not a phone,,lead,wecom,yes",
            "u-3,Bad stage,consumer,,,sleeping,wecom,maybe",
        ]
    )

    response = preview(brand_admin_client, brand, text)

    assert "confirm_form" not in response.context
    errors = error_rows(response)
    assert set(errors) == {2, 3}
    assert "phone" in errors[2] and "not a phone" in errors[2]["phone"][0]
    assert "lifecycle_stage" in errors[3] and "marketing_consent" in errors[3]
    assert "sleeping" in response.content.decode()
    assert Customer.objects.count() == 0


def test_brand_is_never_taken_from_the_file(brand_admin_client, brand, other_brand):
    text = "external_id,display_name,brand\nu-9,Someone," + str(other_brand.pk)

    confirm(brand_admin_client, preview(brand_admin_client, brand, text))

    assert Customer.objects.get(external_id="u-9").brand == brand


def test_existing_external_id_is_updated_in_the_same_brand_only(
    brand_admin_client, brand, other_brand
):
    mine = CustomerFactory(brand=brand, external_id="known", display_name="Old", tags=["x"])
    theirs = CustomerFactory(brand=other_brand, external_id="known", display_name="Theirs")
    text = HEADER + "\nknown,New name,consumer,,a,repeat,wecom,\nfresh,Fresh,,,,,,"

    confirm(brand_admin_client, preview(brand_admin_client, brand, text))

    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.display_name, mine.tags, mine.lifecycle_stage) == ("New name", ["a"], "repeat")
    assert theirs.display_name == "Theirs"
    assert Customer.objects.filter(brand=brand).count() == 2


def test_duplicate_external_id_inside_the_file_is_an_error(brand_admin_client, brand):
    text = HEADER + "\ndup,First,,,,,,\nother,Other,,,,,,\ndup,Second,,,,,,"

    response = preview(brand_admin_client, brand, text)

    errors = error_rows(response)
    assert list(errors) == [3]
    assert "row 1" in errors[3]["external_id"][0]
    assert Customer.objects.count() == 0


def test_advocate_cannot_be_turned_into_a_brand_account(brand_admin_client, brand):
    customer = CustomerFactory(brand=brand, external_id="koc")
    services.advocate_promote(brand_id=brand.pk, customer_id=customer.pk)

    response = preview(brand_admin_client, brand, HEADER + "\nkoc,KOC,brand_account,,,,,")

    assert "kind" in error_rows(response)[1]


def test_missing_external_id_column_is_reported(brand_admin_client, brand):
    response = preview(brand_admin_client, brand, "display_name\nNobody")

    result = response.context["result"]
    assert result.has_errors()
    assert "external_id" in str(result.base_errors[0].error)
    assert Customer.objects.count() == 0


def test_import_into_another_brand_is_refused(brand_admin_client, brand, other_brand):
    text = HEADER + "\nu-1,X,,,,,,"

    forged = preview(brand_admin_client, other_brand, text)
    good_preview = preview(brand_admin_client, brand, text)
    forged_confirm = confirm(brand_admin_client, good_preview, brand=str(other_brand.pk))

    assert "brand" in forged.context["form"].errors
    assert forged_confirm.status_code == 200  # confirm form invalid, redisplayed
    assert not Customer.objects.filter(brand=other_brand).exists()
    assert not Customer.objects.exists()


def test_staff_of_several_brands_picks_one(brand, other_brand):
    client = admin_client_for(brand, Role.OWNER)
    MembershipFactory(user=client.user, brand=other_brand, role=Role.OPERATOR)

    form = client.get(IMPORT).context["form"]
    confirm(client, preview(client, other_brand, HEADER + "\nu-1,X,,,,,,"))

    assert set(form.fields["brand"].queryset) == {brand, other_brand}
    assert form.fields["brand"].initial is None
    assert Customer.objects.get(external_id="u-1").brand == other_brand


def test_analyst_cannot_import(brand):
    client = admin_client_for(brand, Role.ANALYST)

    assert client.get(IMPORT).status_code == 403
    response = client.post(
        IMPORT, {"brand": brand.pk, "format": "0", "import_file": upload(HEADER + "\na,,,,,,,")}
    )
    assert response.status_code == 403
    assert not Customer.objects.exists()


def export_rows(client) -> list[dict[str, str]]:
    fields = [
        "external_id",
        "display_name",
        "kind",
        "phone",
        "tags",
        "lifecycle_stage",
        "source_channel",
        "marketing_consent",
        "friend_count",
        "created_at",
    ]
    data = {"format": "0", "resource": "0"}
    data.update({f"customerresource_{name}": "on" for name in fields})
    response = client.post(EXPORT, data)
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_export_is_scoped_and_shows_full_data(brand_admin_client, brand, other_brand):
    CustomerFactory(brand=brand, external_id="a-1", phone="+8613812345678", tags=["vip", "tea"])
    CustomerFactory(brand=other_brand, external_id="b-1")

    rows = export_rows(brand_admin_client)

    assert [row["external_id"] for row in rows] == ["a-1"]
    assert rows[0]["phone"] == "+8613812345678"
    assert rows[0]["tags"] == "vip,tea"
    assert rows[0]["marketing_consent"] == "true"
    assert rows[0]["friend_count"] == "0"


def test_analyst_export_masks_phones(brand):
    CustomerFactory(brand=brand, external_id="a-1", phone="+8613812345678")

    rows = export_rows(admin_client_for(brand, Role.ANALYST))

    assert rows[0]["phone"] == "+86138****5678"


def test_export_round_trips_through_import(brand_admin_client, brand):
    CustomerFactory(brand=brand, external_id="a-1", phone="+8613812345678", tags=["vip"])
    exported = export_rows(brand_admin_client)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(exported[0]))
    writer.writeheader()
    writer.writerows(exported)

    response = preview(brand_admin_client, brand, buffer.getvalue())
    confirm(brand_admin_client, response)

    customer = Customer.objects.get(external_id="a-1")
    assert customer.phone == "+8613812345678" and customer.tags == ["vip"]
    assert Customer.objects.count() == 1


def test_row_invalid_at_confirm_time_rolls_back_the_whole_file(brand_admin_client, brand):
    customer = CustomerFactory(brand=brand, external_id="koc")
    text = HEADER + "\nnew-1,New,,,,,,\nkoc,KOC,brand_account,,,,,"
    response = preview(brand_admin_client, brand, text)
    assert "confirm_form" in response.context
    # Between preview and confirm, the customer becomes an advocate (who must stay a consumer).
    services.advocate_promote(brand_id=brand.pk, customer_id=customer.pk)

    done = confirm(brand_admin_client, response)

    assert done.status_code == 302 and done.url == IMPORT
    messages = [str(m) for m in done.wsgi_request._messages]
    assert any("Row 2" in m and "kind" in m for m in messages)
    assert any("Nothing was imported" in m for m in messages)
    assert not Customer.objects.filter(external_id="new-1").exists()
    customer.refresh_from_db()
    assert customer.kind == "consumer"


def test_imported_consent_is_recorded_in_the_history_and_the_audit_trail(brand_admin_client, brand):
    # given an existing customer who consents, and a file that withdraws it and adds another
    existing = CustomerFactory(brand=brand, external_id="u-1", marketing_consent=True)
    text = "\n".join([HEADER, "u-1,Wang Fang,consumer,,,,,no", "u-2,Li Lei,consumer,,,,,yes"])

    # when the file is previewed (dry run) and imported
    response = preview(brand_admin_client, brand, text)
    assert not ConsentRecord.objects.exists()
    confirm(brand_admin_client, response)

    # then one record per changed consent, source import, by the admin user
    records = {r.customer.external_id: r for r in ConsentRecord.objects.select_related("customer")}
    assert set(records) == {"u-1", "u-2"}
    assert (records["u-1"].granted, records["u-1"].source) == (False, "import")
    assert records["u-1"].recorded_by_id == brand_admin_client.user.pk
    assert records["u-2"].granted is True
    assert AuditEntry.objects.filter(action="consent_change", customer_id=existing.pk).exists()
