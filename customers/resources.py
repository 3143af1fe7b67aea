"""CSV import/export of customers (django-import-export), always inside one brand.

Import rules:
- the brand comes from the staff member's choice, never from the file;
- rows are matched by ``external_id`` inside that brand: a known one is updated, a new one is
  created; an ``external_id`` that appears twice in one file is an error on the later row;
- phone and tags go through the same normalisation as the API
  (``services.phone_normalize``, ``services.tags_normalize``), choices are checked against the
  model's choices, and an advocate cannot stop being a consumer;
- any invalid row makes the whole file fail: nothing is written (one transaction).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from import_export import fields, resources, widgets
from import_export.instance_loaders import CachedInstanceLoader

from privacy.audit import Actor
from scrm.tenancy.models import Brand

from . import services
from .models import Advocate, Customer, CustomerKind, LifecycleStage, SourceChannel, mask_phone

MAX_TAGS = 50
TRUE_WORDS = {"1", "true", "yes", "y", "t"}
FALSE_WORDS = {"0", "false", "no", "n", "f"}


def _text(value) -> str:
    return "" if value is None else str(value).strip()


class StrippedWidget(widgets.CharWidget):
    def clean(self, value, row=None, **kwargs):
        return _text(value)


class PhoneWidget(widgets.CharWidget):
    def clean(self, value, row=None, **kwargs):
        try:
            return services.phone_normalize(_text(value))
        except ValidationError as error:
            raise ValueError(error.message_dict["phone"][0]) from None


class TagsWidget(widgets.Widget):
    """Tags in one cell, separated by commas or semicolons."""

    def clean(self, value, row=None, **kwargs):
        raw = _text(value).replace(";", ",")
        tags = services.tags_normalize(raw.split(","))
        if len(tags) > MAX_TAGS:
            raise ValueError(f"At most {MAX_TAGS} tags.")
        return tags

    def render(self, value, obj=None, **kwargs):
        return ",".join(value or [])


class ChoiceWidget(widgets.CharWidget):
    """A choice value (``consumer``) or its label (``Consumer``), case-insensitive."""

    def __init__(self, choices, **kwargs):
        self.by_text = {}
        for value, label in choices:
            self.by_text[str(value).lower()] = value
            self.by_text[str(label).lower()] = value
        self.allowed = ", ".join(str(value) for value, _ in choices)
        super().__init__(**kwargs)

    def clean(self, value, row=None, **kwargs):
        text = _text(value).lower()
        if not text:
            return None  # keep the current value (or the model default for a new row)
        if text not in self.by_text:
            raise ValueError(f"{_text(value)!r} is not one of: {self.allowed}.")
        return self.by_text[text]


class StrictBooleanWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        text = _text(value).lower()
        if not text:
            return None
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
        raise ValueError(f"{_text(value)!r} is not yes/no (true/false, 1/0).")

    def render(self, value, obj=None, **kwargs):
        return "true" if value else "false"


class CustomerResource(resources.ModelResource):
    external_id = fields.Field(
        attribute="external_id", column_name="external_id", widget=StrippedWidget()
    )
    display_name = fields.Field(
        attribute="display_name", column_name="display_name", widget=StrippedWidget()
    )
    kind = fields.Field(
        attribute="kind",
        column_name="kind",
        widget=ChoiceWidget(CustomerKind.choices),
        saves_null_values=False,
    )
    phone = fields.Field(attribute="phone", column_name="phone", widget=PhoneWidget())
    tags = fields.Field(attribute="tags", column_name="tags", widget=TagsWidget())
    lifecycle_stage = fields.Field(
        attribute="lifecycle_stage",
        column_name="lifecycle_stage",
        widget=ChoiceWidget(LifecycleStage.choices),
        saves_null_values=False,
    )
    source_channel = fields.Field(
        attribute="source_channel",
        column_name="source_channel",
        widget=ChoiceWidget(SourceChannel.choices),
        saves_null_values=False,
    )
    marketing_consent = fields.Field(
        attribute="marketing_consent",
        column_name="marketing_consent",
        widget=StrictBooleanWidget(),
        saves_null_values=False,
    )
    friend_count = fields.Field(attribute="friend_count", column_name="friend_count", readonly=True)
    created_at = fields.Field(
        attribute="created_at",
        column_name="created_at",
        readonly=True,
        widget=widgets.DateTimeWidget(format="%Y-%m-%dT%H:%M:%S%z"),
    )

    class Meta:
        model = Customer
        fields = (
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
        )
        import_id_fields = ("external_id",)
        instance_loader_class = CachedInstanceLoader  # one query for all existing rows
        use_transactions = True
        use_bulk = True
        batch_size = 1000
        skip_diff = True
        clean_model_instances = False  # validated field by field below, without queries
        name = "Customers (CSV)"

    def __init__(self, brand: Brand | None = None, mask_phone: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.brand = brand
        self.mask_phone = mask_phone
        self._first_row_of: dict[str, int] = {}
        self._advocate_external_ids: set[str] = set()
        self._consent_changes: dict[str, bool] = {}  # external_id → new marketing_consent

    # --- export -------------------------------------------------------------------------------

    def dehydrate_phone(self, customer: Customer) -> str:
        return mask_phone(customer.phone) if self.mask_phone else customer.phone

    # --- import -------------------------------------------------------------------------------

    def get_queryset(self):
        if self.brand is None:
            return Customer.objects.none()
        return Customer.objects.filter(brand=self.brand)

    def init_instance(self, row=None):
        return Customer(brand=self.brand)

    def before_import(self, dataset, **kwargs):
        if self.brand is None:
            raise ValueError("Choose the brand to import into.")
        limit = settings.SCRM["IMPORT_MAX_ROWS"]
        if len(dataset) > limit:
            raise ValueError(f"The file has {len(dataset)} rows; at most {limit} per import.")
        if "external_id" not in (dataset.headers or []):
            return  # reported by the import_id_fields check
        column = [_text(value) for value in dataset["external_id"]]
        for number, external_id in enumerate(column, 1):
            self._first_row_of.setdefault(external_id, number)
        self._advocate_external_ids = set(
            Advocate.objects.filter(
                brand=self.brand, customer__external_id__in=[v for v in column if v]
            ).values_list("customer__external_id", flat=True)
        )

    def import_instance(self, instance: Customer, row, **kwargs):
        errors: dict[str, list[str]] = {}
        external_id = _text(row.get("external_id"))
        number = kwargs.get("row_number")
        if not external_id:
            errors["external_id"] = ["This field is required."]
        elif len(external_id) > 128:
            errors["external_id"] = ["At most 128 characters."]
        elif self._first_row_of.get(external_id, number) != number:
            errors["external_id"] = [
                f"{external_id!r} already appears on row {self._first_row_of[external_id]}."
            ]
        old_kind, old_consent = instance.kind, instance.marketing_consent
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                errors.setdefault(name, []).extend(messages)
        if len(instance.display_name or "") > 120:
            errors.setdefault("display_name", []).append("At most 120 characters.")
        if instance.pk and instance.kind != old_kind and external_id in self._advocate_external_ids:
            errors.setdefault("kind", []).append("An advocate must stay a consumer.")
        if errors:
            raise ValidationError(errors)
        instance.external_id = external_id
        instance.display_name = instance.display_name or ""
        now = timezone.now()
        if "marketing_consent" in row and (
            instance.pk is None or old_consent != instance.marketing_consent
        ):
            instance.consent_updated_at = now
            self._consent_changes[external_id] = bool(instance.marketing_consent)
        instance.updated_at = now  # bulk_update does not touch auto_now fields

    def get_bulk_update_fields(self):
        return [
            "display_name",
            "kind",
            "phone",
            "tags",
            "lifecycle_stage",
            "source_channel",
            "marketing_consent",
            "consent_updated_at",
            "updated_at",
        ]

    def bulk_update(self, using_transactions, dry_run, raise_errors, batch_size=None, result=None):
        """Write updated rows as one ``INSERT … ON CONFLICT (brand, external_id) DO UPDATE``
        per batch: set-based, unlike ``QuerySet.bulk_update``'s per-row CASE expressions."""
        if not self.update_instances or not (using_transactions or not dry_run):
            return
        try:
            Customer.objects.bulk_create(
                self.update_instances,
                batch_size=batch_size,
                update_conflicts=True,
                unique_fields=["brand", "external_id"],
                update_fields=self.get_bulk_update_fields(),
            )
        except Exception as error:  # reported like import-export's own bulk errors
            self.handle_import_error(result, error, raise_errors)
        finally:
            self.update_instances.clear()

    def after_import(self, dataset, result, **kwargs):
        """No sequence reset (ids are never imported; resetting would race other inserts).

        Each changed ``marketing_consent`` (the commercial-posts purpose) is recorded in the
        consent history and the audit trail, source ``import`` (rolled back with a dry run)."""
        if self._consent_changes and not result.has_errors():
            user = kwargs.get("user")
            services.consents_record_imported(
                brand_id=self.brand.pk,
                changes=self._consent_changes,
                actor=Actor.of_user(user) if user is not None else Actor.system(),
            )
        self._consent_changes = {}
