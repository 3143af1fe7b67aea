"""Admin brand scoping for every registered ModelAdmin, as a non-superuser owner of brand A.

For each admin: the changelist holds none of brand B's rows; B's change, history and delete
pages are not reachable and a forged change posts nothing; autocomplete and raw-id lookups
offer none of B's rows and a form refuses B's ids; admin actions ignore B's ids. Admins of
models without a brand are closed to non-superusers.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import NoReverseMatch, reverse

from campaigns.models import Post
from customers.models import Customer
from scrm.tenancy import services as tenancy
from scrm.tenancy.models import Brand, Role
from tests.campaigns.factories import CampaignFactory, PostFactory
from tests.conftest import admin_client_for
from tests.factories import BrandFactory, MembershipFactory
from tests.test_admin_pages import populate
from tests.ties_helpers import tie_pair

pytestmark = pytest.mark.django_db


def brand_lookup(model) -> str | None:
    """The lookup from ``model`` to its brand id, or None for models without a brand."""
    if model is Brand:
        return "pk"
    if any(f.name == "brand" for f in model._meta.get_fields()):
        return "brand_id"
    return None


def rows_of(model, brand) -> list:
    return list(model._default_manager.filter(**{brand_lookup(model): brand.pk}).order_by("pk"))


def snapshot(brand) -> dict:
    """Every row of ``brand`` in every registered brand-scoped model."""
    return {
        model.__name__: list(
            model._default_manager.filter(**{brand_lookup(model): brand.pk}).order_by("pk").values()
        )
        for model in SCOPED
    }


REGISTRY = admin.site._registry
SCOPED = [model for model in REGISTRY if brand_lookup(model)]
UNSCOPED = [model for model in REGISTRY if not brand_lookup(model)]


def label(model) -> str:
    return f"{model._meta.app_label}.{model._meta.model_name}"


def url(model, view: str, *args) -> str:
    meta = model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)


@pytest.fixture
def two_brands():
    a = BrandFactory(name="Acme Tea", slug="acme")
    b = BrandFactory(name="Rival Coffee", slug="rival")
    for brand in (a, b):
        populate(brand)
        member = MembershipFactory(brand=brand, role=Role.OPERATOR)
        tenancy.staff_token_issue(user=member.user, brand=brand)
        tenancy.app_key_create(brand=brand, name="mini-program")
        first, second = Customer.objects.filter(brand=brand).order_by("pk")[:2]
        tie_pair(first, second, 0.5)
    return a, b


@pytest.fixture
def owner(two_brands):
    a, _ = two_brands
    return admin_client_for(a, Role.OWNER)


@pytest.mark.parametrize("model", SCOPED, ids=label)
def test_every_scoped_model_has_rows_in_both_brands(two_brands, model):
    a, b = two_brands
    assert rows_of(model, a) and rows_of(model, b), "populate() should make rows of each"


@pytest.mark.parametrize("model", SCOPED, ids=label)
def test_changelist_holds_none_of_the_other_brands_rows(two_brands, owner, model):
    a, b = two_brands
    response = owner.get(url(model, "changelist"))
    if response.status_code == 403:
        return  # not visible to this user at all
    assert response.status_code == 200
    shown = {obj.pk for obj in response.context["cl"].queryset}
    assert shown.isdisjoint(obj.pk for obj in rows_of(model, b))
    assert shown == {obj.pk for obj in rows_of(model, a)}  # and all of the user's own


@pytest.mark.parametrize("model", SCOPED, ids=label)
@pytest.mark.parametrize("view", ["change", "history", "delete"])
def test_other_brands_object_pages_are_not_reachable(two_brands, owner, model, view):
    _, b = two_brands
    for obj in rows_of(model, b)[:3]:
        response = owner.get(url(model, view, obj.pk))
        assert response.status_code in (302, 403, 404), (view, obj.pk)
        if response.status_code == 302:
            assert response["Location"].startswith("/admin/")
            assert str(obj) not in response.content.decode()


@pytest.mark.parametrize("model", SCOPED, ids=label)
def test_posting_to_another_brands_change_page_changes_nothing(two_brands, owner, model):
    _, b = two_brands
    before = snapshot(b)
    obj = rows_of(model, b)[0]
    data = {f.name: "" for f in model._meta.concrete_fields if f.editable and not f.primary_key}
    owner.post(url(model, "change", obj.pk), data)
    owner.post(url(model, "delete", obj.pk), {"post": "yes"})
    assert snapshot(b) == before


def _related_fields(model_admin) -> list[str]:
    return [*model_admin.autocomplete_fields, *model_admin.raw_id_fields]


LOOKUPS = [
    (model, name)
    for model, model_admin in REGISTRY.items()
    if brand_lookup(model)
    for name in _related_fields(model_admin)
]


@pytest.mark.parametrize(
    ("model", "field_name"), LOOKUPS, ids=[f"{label(m)}.{f}" for m, f in LOOKUPS]
)
def test_related_lookups_offer_none_of_the_other_brands_rows(two_brands, owner, model, field_name):
    a, b = two_brands
    related = model._meta.get_field(field_name).related_model
    theirs = {obj.pk for obj in rows_of(related, b)}
    ours = {obj.pk for obj in rows_of(related, a)}

    # the autocomplete endpoint (autocomplete fields), whatever the search term
    if field_name in REGISTRY[model].autocomplete_fields:
        response = owner.get(
            "/admin/autocomplete/",
            {
                "app_label": model._meta.app_label,
                "model_name": model._meta.model_name,
                "field_name": field_name,
                "term": "",
            },
        )
        if response.status_code == 200:
            offered = {int(item["id"]) for item in response.json()["results"]}
            assert offered.isdisjoint(theirs)
            assert offered <= ours
        else:
            assert response.status_code == 403

    # the raw-id popup: the related model's changelist
    if related in REGISTRY:
        try:
            popup = url(related, "changelist") + "?_to_field=id&_popup=1"
        except NoReverseMatch:
            popup = None
        if popup:
            response = owner.get(popup)
            if response.status_code == 200:
                shown = {obj.pk for obj in response.context["cl"].queryset}
                assert shown.isdisjoint(theirs)
            else:
                assert response.status_code in (400, 403)


@pytest.mark.parametrize(
    ("model", "field_name"), LOOKUPS, ids=[f"{label(m)}.{f}" for m, f in LOOKUPS]
)
def test_forms_refuse_another_brands_id_in_a_lookup_field(two_brands, owner, model, field_name):
    _, b = two_brands
    model_admin = REGISTRY[model]
    request = RequestFactory().get("/admin/")
    request.user = owner.user
    form_class = model_admin.get_form(request, obj=None)
    if field_name not in form_class.base_fields:
        return  # read-only here: nothing to submit
    related = model._meta.get_field(field_name).related_model
    foreign = rows_of(related, b)[0]
    form = form_class(data={field_name: foreign.pk})
    assert not form.is_valid()
    assert field_name in form.errors


ACTIONS = [
    (model, name)
    for model, model_admin in REGISTRY.items()
    if brand_lookup(model)
    for name in ["delete_selected", *(model_admin.actions or [])]
]


@pytest.mark.parametrize(("model", "action"), ACTIONS, ids=[f"{label(m)}.{a}" for m, a in ACTIONS])
def test_admin_actions_ignore_other_brands_ids(two_brands, owner, model, action):
    _, b = two_brands
    before = snapshot(b)
    ids = [str(obj.pk) for obj in rows_of(model, b)]
    owner.post(url(model, "changelist"), {"action": action, "_selected_action": ids, "post": "yes"})
    assert snapshot(b) == before


@pytest.mark.parametrize("model", UNSCOPED, ids=label)
def test_admins_of_models_without_a_brand_are_closed_to_brand_staff(two_brands, owner, model):
    response = owner.get(url(model, "changelist"))
    assert response.status_code == 403


def test_the_other_brand_is_not_among_the_brand_choices(two_brands, owner):
    a, b = two_brands
    response = owner.get(url(Brand, "changelist"))
    assert response.status_code == 200
    assert "Rival Coffee" not in response.content.decode()


def test_the_admin_index_names_no_unscoped_model(owner):
    response = owner.get("/admin/")
    assert response.status_code == 200
    html = response.content.decode()
    for model in UNSCOPED:
        assert url(model, "changelist") not in html


def test_a_draft_cannot_be_linked_to_another_brands_campaign(two_brands, owner):
    # given a draft of brand A and a campaign of brand B
    a, b = two_brands
    draft = PostFactory(author=Customer.objects.filter(brand=a).first(), text="draft")
    foreign = CampaignFactory(brand=b)

    # when A's owner posts the change form with B's campaign id
    response = owner.post(
        url(Post, "change", draft.pk), {"text": "draft", "media": "[]", "campaign": foreign.pk}
    )

    # then the form refuses it and the draft keeps no campaign
    assert response.status_code == 200
    assert "campaign" in response.context["adminform"].form.errors
    draft.refresh_from_db()
    assert draft.campaign_id is None


def test_an_analyst_cannot_change_drafts(two_brands):
    a, _ = two_brands
    analyst = admin_client_for(a, Role.ANALYST)
    draft = PostFactory(author=Customer.objects.filter(brand=a).first(), text="draft")
    response = analyst.post(url(Post, "change", draft.pk), {"text": "edited", "media": "[]"})
    assert response.status_code == 403
    draft.refresh_from_db()
    assert draft.text == "draft"
