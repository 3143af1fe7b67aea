"""Admin for customers, friendships and advocates: brand-scoped, writes through the services."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.postgres.forms import SimpleArrayField
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef
from django.http import HttpResponseRedirect
from django.urls import reverse
from import_export.admin import ImportExportModelAdmin
from import_export.formats.base_formats import CSV
from import_export.forms import ConfirmImportForm, ImportForm
from rest_framework.exceptions import APIException

from interactions.admin import CustomerTiesPanelMixin
from privacy.audit import Actor, AuditAction, audit_record
from scrm.tenancy.admin import copy_into
from scrm.tenancy.admin_scoping import BrandScopedAdminMixin, ScopedBrandFilter
from scrm.tenancy.models import Brand, Role

from . import services
from .models import (
    Advocate,
    AdvocateStatus,
    ConsentRecord,
    ConsentSource,
    Customer,
    CustomerKind,
    Friendship,
    FriendshipSource,
)
from .resources import MAX_TAGS, CustomerResource


def _messages_of(error: Exception) -> str:
    if isinstance(error, ValidationError):
        if hasattr(error, "error_dict"):
            return "; ".join(
                f"{field}: {' '.join(msgs)}" for field, msgs in error.message_dict.items()
            )
        return " ".join(error.messages)
    if isinstance(error, APIException):
        return str(error.detail)
    return str(error)


# --- Customers ------------------------------------------------------------------------------


class IsAdvocateFilter(admin.SimpleListFilter):
    title = "advocate"
    parameter_name = "is_advocate"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(is_advocate=True)
        if self.value() == "no":
            return queryset.filter(is_advocate=False)
        return queryset


class CustomerForm(forms.ModelForm):
    tags = SimpleArrayField(
        forms.CharField(max_length=40),
        required=False,
        help_text="Comma-separated; trimmed and de-duplicated.",
    )

    class Meta:
        model = Customer
        fields = [
            "brand",
            "external_id",
            "display_name",
            "kind",
            "phone",
            "tags",
            "lifecycle_stage",
            "source_channel",
            "marketing_consent",
        ]

    def clean_phone(self):
        try:
            return services.phone_normalize(self.cleaned_data.get("phone", ""))
        except ValidationError as error:
            raise ValidationError(error.message_dict["phone"]) from None

    def clean_tags(self):
        tags = services.tags_normalize(self.cleaned_data.get("tags") or [])
        if len(tags) > MAX_TAGS:
            raise ValidationError(f"At most {MAX_TAGS} tags.")
        return tags

    def clean(self):
        data = super().clean()
        instance = self.instance
        brand = data.get("brand") or (instance.brand if instance.pk else None)
        external_id = data.get("external_id")
        if instance.pk and brand is not None and external_id:
            # (on add, the model's unique constraint is checked by the form itself)
            clash = Customer.objects.filter(brand=brand, external_id=external_id)
            if clash.exclude(pk=instance.pk).exists():
                self.add_error(
                    "external_id", f"A customer with external_id {external_id!r} exists already."
                )
        if (
            instance.pk
            and data.get("kind")
            and data["kind"] != CustomerKind.CONSUMER
            and Advocate.objects.filter(customer_id=instance.pk).exists()
        ):
            self.add_error("kind", "An advocate must stay a consumer.")
        return data


class CustomerImportForm(ImportForm):
    brand = forms.ModelChoiceField(
        queryset=Brand.objects.none(),
        help_text="Rows are imported into this brand; a brand column in the file is ignored.",
    )
    field_order = ["brand", "resource", "import_file", "format"]


class CustomerConfirmImportForm(ConfirmImportForm):
    brand = forms.ModelChoiceField(queryset=Brand.objects.none(), widget=forms.HiddenInput)


class ConsentHistoryInline(admin.TabularInline):
    """Consent per purpose, newest first: read only (changes go through the API or the
    customer's form, each recorded with source and text version)."""

    model = ConsentRecord
    extra = 0
    can_delete = False
    ordering = ["-recorded_at", "-pk"]
    fields = ["purpose", "granted", "source", "text_version", "recorded_at", "recorded_by_label"]
    readonly_fields = fields
    verbose_name_plural = "consent history"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Customer)
class CustomerAdmin(CustomerTiesPanelMixin, BrandScopedAdminMixin, ImportExportModelAdmin):
    view_role = Role.ANALYST
    add_role = Role.OPERATOR
    change_role = Role.OPERATOR
    delete_role = Role.MANAGER

    form = CustomerForm
    inlines = [ConsentHistoryInline]
    list_display = [
        "display_name",
        "external_id",
        "brand",
        "kind",
        "masked_phone",
        "lifecycle_stage",
        "source_channel",
        "friend_count",
        "marketing_consent",
        "advocate_flag",
        "created_at",
    ]
    list_filter = [
        "kind",
        "lifecycle_stage",
        "source_channel",
        "marketing_consent",
        IsAdvocateFilter,
        ScopedBrandFilter,
    ]
    list_select_related = ["brand"]
    search_fields = ["display_name", "external_id", "=phone"]
    search_help_text = "Display name or external id contains; or a full phone number."
    readonly_fields = [
        "consent_mass_messages",
        "consent_profiling",
        "friend_count",
        "consent_updated_at",
        "erased_at",
        "created_at",
        "updated_at",
    ]
    actions = ["promote_to_advocate"]
    show_full_result_count = False
    ordering = ["-pk"]

    resource_classes = [CustomerResource]
    import_form_class = CustomerImportForm
    confirm_form_class = CustomerConfirmImportForm
    formats = [CSV]
    import_error_display = ("message",)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(is_advocate=Exists(Advocate.objects.filter(customer_id=OuterRef("pk"))))
        )

    def get_search_results(self, request, queryset, search_term):
        """Also find a phone typed the way people type it (``138 1234 5678``)."""
        results, distinct = super().get_search_results(request, queryset, search_term)
        digits = "".join(ch for ch in search_term if ch.isdigit())
        if len(digits) >= 7:
            try:
                phone = services.phone_normalize(search_term)
            except ValidationError:
                phone = ""
            if phone:
                results |= queryset.filter(phone=phone)
        return results, distinct

    @admin.display(description="phone")
    def masked_phone(self, customer: Customer) -> str:
        return customer.masked_phone

    @admin.display(description="advocate", boolean=True, ordering="is_advocate")
    def advocate_flag(self, customer: Customer) -> bool:
        return customer.is_advocate

    # --- writes go through the services ---------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The change form shows the phone unmasked: a GET of it is audited."""
        response = super().change_view(request, object_id, form_url, extra_context)
        if request.method == "GET" and response.status_code == 200:
            customer = self.get_queryset(request).filter(pk=object_id).first()
            if customer is not None and customer.phone:
                audit_record(
                    brand_id=customer.brand_id,
                    action=AuditAction.PHONE_READ,
                    customer_id=customer.pk,
                    actor=Actor.of_user(request.user),
                    details={"via": "admin"},
                )
        return response

    def save_model(self, request, obj, form, change):
        fields = {
            name: form.cleaned_data[name]
            for name in services.CUSTOMER_FIELDS
            if name in form.cleaned_data and (not change or name in form.changed_data)
        }
        if change:
            current = Customer.objects.get(pk=obj.pk)
            saved = services.customer_update(
                customer=current,
                actor=Actor.of_user(request.user),
                consent_source=ConsentSource.STAFF,
                **fields,
            )
        else:
            saved = services.customer_create(
                brand_id=form.cleaned_data["brand"].pk,
                actor=Actor.of_user(request.user),
                consent_source=ConsentSource.STAFF,
                **fields,
            )
        copy_into(obj, saved)

    def get_deleted_objects(self, objs, request):
        """Erasing a customer takes their friendships and advocate record with it (that is
        what ``customer_delete`` does); those rows need no delete permission of their own."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        cascaded = {Friendship._meta.verbose_name, Advocate._meta.verbose_name}
        return deleted, counts, perms_needed - cascaded, protected

    def delete_model(self, request, obj):
        services.customer_delete(customer=obj)

    def delete_queryset(self, request, queryset):
        for customer in self.scope_queryset(request, queryset, self.delete_role):
            services.customer_delete(customer=customer)

    def has_promote_permission(self, request) -> bool:
        return request.user.is_superuser or bool(self.brand_ids(request, AdvocateAdmin.add_role))

    @admin.action(description="Promote selected consumers to advocates", permissions=["promote"])
    def promote_to_advocate(self, request, queryset):
        promoted, failed = 0, []
        for customer in self.scope_queryset(request, queryset, AdvocateAdmin.add_role):
            try:
                services.advocate_promote(brand_id=customer.brand_id, customer_id=customer.pk)
                promoted += 1
            except (ValidationError, APIException) as error:
                failed.append(f"{customer}: {_messages_of(error)}")
        if promoted:
            self.message_user(request, f"Promoted {promoted} customer(s).", messages.SUCCESS)
        for line in failed:
            self.message_user(request, line, messages.ERROR)

    # --- CSV import / export --------------------------------------------------------------------

    def has_import_permission(self, request) -> bool:
        return self.has_add_permission(request) and self.has_change_permission(request)

    def has_export_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def _import_brands(self, request):
        if request.user.is_superuser:
            return Brand.objects.filter(is_active=True)
        return Brand.objects.filter(pk__in=self.brand_ids(request, self.add_role))

    def create_import_form(self, request):
        form = super().create_import_form(request)
        brands = self._import_brands(request)
        form.fields["brand"].queryset = brands
        if brands.count() == 1:
            form.fields["brand"].initial = brands.get().pk
        return form

    def create_confirm_form(self, request, import_form=None):
        form = super().create_confirm_form(request, import_form)
        form.fields["brand"].queryset = self._import_brands(request)
        return form

    def get_confirm_form_initial(self, request, import_form):
        initial = super().get_confirm_form_initial(request, import_form)
        if import_form is not None:
            initial["brand"] = import_form.cleaned_data["brand"].pk
        return initial

    def get_import_resource_kwargs(self, request, **kwargs):
        form = kwargs.get("form")
        brand = None
        if form is not None and getattr(form, "cleaned_data", None):
            brand = form.cleaned_data.get("brand")
        return {"brand": brand}

    def get_import_data_kwargs(self, **kwargs):
        kwargs = super().get_import_data_kwargs(**kwargs)
        # Any invalid row rolls the whole file back, in the dry run and in the real import.
        kwargs["use_transactions"] = True
        kwargs["rollback_on_validation_errors"] = True
        return kwargs

    def process_result(self, result, request):
        if result.has_errors() or result.has_validation_errors():
            # The file changed meaning between preview and confirm (a concurrent edit): the
            # transaction was rolled back, so nothing was written.
            for number, errors in result.row_errors():
                for error in errors:
                    self.message_user(request, f"Row {number}: {error.error}", messages.ERROR)
            for row in result.invalid_rows:
                details = "; ".join(
                    f"{field}: {' '.join(str(m) for m in msgs)}"
                    for field, msgs in row.error_dict.items()
                )
                self.message_user(request, f"Row {row.number}: {details}", messages.ERROR)
            for error in result.base_errors:
                self.message_user(request, str(error.error), messages.ERROR)
            self.message_user(request, "Nothing was imported.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:customers_customer_import"))
        return super().process_result(result, request)

    def get_export_resource_kwargs(self, request, **kwargs):
        # Operators and above see full phones anywhere in the admin; read-only analysts export
        # masked phones (bulk personal data leaves the system only with a write role).
        mask = not request.user.is_superuser and not self.has_change_permission(request)
        return {"mask_phone": mask}

    def get_export_queryset(self, request):
        return super().get_export_queryset(request).order_by("pk")


# --- Friendships ----------------------------------------------------------------------------


class CurrentFriendshipFilter(admin.SimpleListFilter):
    title = "current"
    parameter_name = "current"

    def lookups(self, request, model_admin):
        return [("yes", "Current"), ("no", "Ended")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(ended_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(ended_at__isnull=False)
        return queryset


class FriendshipAddForm(forms.ModelForm):
    since = forms.DateTimeField(required=False, help_text="Empty: now.")

    class Meta:
        model = Friendship
        fields = ["customer_low", "customer_high", "since", "source"]
        labels = {"customer_low": "Customer", "customer_high": "Friend"}

    def clean(self):
        data = super().clean()
        a, b = data.get("customer_low"), data.get("customer_high")
        if a and b:
            if a.pk == b.pk:
                self.add_error("customer_high", "A customer cannot befriend themselves.")
            elif a.brand_id != b.brand_id:
                self.add_error("customer_high", "Both customers must belong to the same brand.")
            elif a.pk > b.pk:
                data["customer_low"], data["customer_high"] = b, a  # stored once, low < high
        return data


@admin.register(Friendship)
class FriendshipAdmin(BrandScopedAdminMixin, admin.ModelAdmin):
    view_role = Role.ANALYST
    add_role = Role.OPERATOR
    change_role = Role.OPERATOR
    delete_role = None  # ending a friendship is recorded, never erased

    list_display = [
        "id",
        "customer_low",
        "customer_high",
        "brand",
        "since",
        "source",
        "ended_at",
        "end_reason",
    ]
    list_filter = [CurrentFriendshipFilter, "source", ScopedBrandFilter]
    list_select_related = ["customer_low", "customer_high", "brand"]
    search_fields = [
        "customer_low__external_id",
        "customer_high__external_id",
        "customer_low__display_name",
        "customer_high__display_name",
    ]
    autocomplete_fields = ["customer_low", "customer_high"]
    actions = ["end_friendships"]
    show_full_result_count = False
    ordering = ["-pk"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = FriendshipAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["customer_low", "customer_high", "since", "source"]
        return [
            "brand",
            "customer_low",
            "customer_high",
            "since",
            "source",
            "ended_at",
            "ended_by",
            "end_reason",
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return self.get_fields(request, obj)  # edges change only through the end action

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data
        friendship, created = services.friendship_create(
            brand_id=data["customer_low"].brand_id,
            customer_id=data["customer_low"].pk,
            friend_id=data["customer_high"].pk,
            since=data.get("since"),
            source=data.get("source") or FriendshipSource.API,
        )
        if not created:
            self.message_user(
                request, "They were already friends; nothing changed.", messages.WARNING
            )
        copy_into(obj, friendship)

    @admin.action(description="End selected friendships (recorded as unfriend)")
    def end_friendships(self, request, queryset):
        ended = 0
        rows = self.scope_queryset(request, queryset, self.change_role).filter(
            ended_at__isnull=True
        )
        for friendship in rows.order_by("pk"):
            services.friendship_end(friendship=friendship, reason="staff")
            ended += 1
        self.message_user(request, f"Ended {ended} friendship(s).", messages.SUCCESS)

    end_friendships.allowed_permissions = ("change",)


# --- Advocates ------------------------------------------------------------------------------


class AdvocateAddForm(forms.ModelForm):
    class Meta:
        model = Advocate
        fields = ["customer", "notes"]

    def clean_customer(self):
        customer = self.cleaned_data["customer"]
        if customer.kind != CustomerKind.CONSUMER:
            raise ValidationError("Only consumers can become advocates.")
        if Advocate.objects.filter(customer=customer).exists():
            raise ValidationError("This customer is already an advocate.")
        return customer


class AdvocateChangeForm(forms.ModelForm):
    class Meta:
        model = Advocate
        fields = ["status", "status_reason", "notes"]

    def clean_status(self):
        status = self.cleaned_data["status"]
        current = Advocate.objects.filter(pk=self.instance.pk).values_list("status", flat=True)
        current = current.first()
        if status != current and status not in services.ADVOCATE_TRANSITIONS.get(current, set()):
            raise ValidationError(f"An advocate cannot go from {current} to {status}.")
        return status


@admin.register(Advocate)
class AdvocateAdmin(BrandScopedAdminMixin, admin.ModelAdmin):
    view_role = Role.ANALYST
    add_role = Role.MANAGER
    change_role = Role.MANAGER
    delete_role = None  # retire instead

    list_display = [
        "referral_code",
        "customer",
        "brand",
        "status",
        "tier",
        "friend_count",
        "influence_score",
        "promoted_at",
        "status_changed_at",
    ]
    list_filter = ["status", "tier", ScopedBrandFilter]
    list_select_related = ["customer", "brand"]
    search_fields = ["referral_code", "customer__external_id", "customer__display_name"]
    autocomplete_fields = ["customer"]
    actions = ["pause", "resume", "retire"]
    show_full_result_count = False
    ordering = ["-pk"]

    @admin.display(description="friends", ordering="customer__friend_count")
    def friend_count(self, advocate: Advocate) -> int:
        return advocate.customer.friend_count

    def get_form(self, request, obj=None, **kwargs):
        kwargs["form"] = AdvocateAddForm if obj is None else AdvocateChangeForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["customer", "notes"]
        return [
            "brand",
            "customer",
            "status",
            "status_reason",
            "tier",
            "referral_code",
            "influence_score",
            "promoted_at",
            "status_changed_at",
            "notes",
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        editable = {"status", "status_reason", "notes"}
        if not self.has_change_permission(request, obj):
            editable = set()
        return [name for name in self.get_fields(request, obj) if name not in editable]

    def limit_related_queryset(self, db_field, request, queryset):
        if db_field.name == "customer":
            return queryset.filter(kind=CustomerKind.CONSUMER)
        return queryset

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            customer = data["customer"]
            advocate = services.advocate_promote(
                brand_id=customer.brand_id, customer_id=customer.pk, notes=data.get("notes", "")
            )
            copy_into(obj, advocate)
            return
        advocate = Advocate.objects.get(pk=obj.pk)
        if "status" in form.changed_data:
            advocate = services.advocate_set_status(
                advocate=advocate, status=data["status"], reason=data.get("status_reason", "")
            )
        elif "status_reason" in form.changed_data:
            advocate.status_reason = data["status_reason"]
            advocate.save(update_fields=["status_reason"])
        if "notes" in form.changed_data:
            advocate = services.advocate_update_notes(advocate=advocate, notes=data["notes"])
        copy_into(obj, advocate)

    def _set_status(self, request, queryset, status: str, verb: str) -> None:
        changed, failed = 0, []
        for advocate in self.scope_queryset(request, queryset, self.change_role).order_by("pk"):
            if advocate.status == status:
                continue
            try:
                services.advocate_set_status(
                    advocate=advocate, status=status, reason=f"{verb} by {request.user}"
                )
                changed += 1
            except ValidationError as error:
                failed.append(f"{advocate}: {_messages_of(error)}")
        self.message_user(request, f"{verb.capitalize()} {changed} advocate(s).", messages.SUCCESS)
        for line in failed:
            self.message_user(request, line, messages.ERROR)

    @admin.action(description="Pause selected advocates", permissions=["change"])
    def pause(self, request, queryset):
        self._set_status(request, queryset, AdvocateStatus.PAUSED, "paused")

    @admin.action(description="Resume (activate) selected advocates", permissions=["change"])
    def resume(self, request, queryset):
        self._set_status(request, queryset, AdvocateStatus.ACTIVE, "resumed")

    @admin.action(description="Retire selected advocates", permissions=["change"])
    def retire(self, request, queryset):
        self._set_status(request, queryset, AdvocateStatus.RETIRED, "retired")
