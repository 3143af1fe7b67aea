import django_filters

from scrm.api.filters import StrictFilterSet, UtcDateTimeFilter

from .models import AuditAction, AuditEntry


class AuditFilter(StrictFilterSet):
    action = django_filters.ChoiceFilter(choices=AuditAction.choices)
    customer = django_filters.NumberFilter(
        field_name="customer_id", min_value=1, help_text="Entries about this customer id."
    )
    actor_kind = django_filters.ChoiceFilter(
        choices=[(k, k) for k in ("staff", "app", "customer", "system")]
    )
    actor_user = django_filters.NumberFilter(
        field_name="actor_user_id", min_value=1, help_text="Entries by this staff user id."
    )
    since = UtcDateTimeFilter(field_name="at", lookup_expr="gte")
    until = UtcDateTimeFilter(field_name="at", lookup_expr="lt")

    class Meta:
        model = AuditEntry
        fields = ["action", "customer", "actor_kind", "actor_user", "since", "until"]
