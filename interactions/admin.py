"""Admin for the interaction log and the ties (read-only, brand-scoped), and the tie insights
page: strength distribution chart, advocate leaderboard, KOC candidates with "promote", and a
button that queues a full recompute."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from rest_framework.exceptions import APIException

from campaigns.admin import BrandScopedAdmin, ReadOnlyScopedAdmin
from customers import selectors as customer_selectors
from customers.models import Customer
from customers.services import advocate_promote
from scrm.api.pagination import Keyset
from scrm.tenancy.models import ROLE_RANK, Brand, Membership, Role

from . import selectors
from .models import Interaction, Tie, TieModel
from .tasks import recompute_ties

INSIGHTS_ROWS = 50


@admin.register(Interaction)
class InteractionAdmin(BrandScopedAdmin):
    list_display = ["id", "event_id", "type", "actor", "target", "post", "occurred_at"]
    list_filter = ["type"]
    search_fields = ["event_id"]
    raw_id_fields = ["actor", "target", "post"]
    show_full_result_count = False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(TieModel)
class TieModelAdmin(ReadOnlyScopedAdmin):
    """A brand's fitted tie parameters (``manage.py fit_tie_model``; ``--reset`` goes back to
    the settings): type weights, term weights and the held-out AUCs that let them in."""

    list_display = [
        "brand",
        "held_out_auc",
        "default_auc",
        "duration_weight",
        "mutual_weight",
        "pairs",
        "fitted_at",
    ]
    readonly_fields = [
        "brand",
        "weights",
        "duration_weight",
        "mutual_weight",
        "held_out_auc",
        "default_auc",
        "pairs",
        "fitted_at",
    ]


@admin.register(Tie)
class TieAdmin(BrandScopedAdmin):
    list_display = ["id", "source", "target", "strength", "affinity", "flag_list", "updated_at"]
    list_select_related = ["source", "target"]
    raw_id_fields = ["source", "target"]
    ordering = ["-strength", "id"]
    change_role = None  # kept current by the scoring workers
    show_full_result_count = False
    change_list_template = "admin/interactions/tie/change_list.html"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("insights/", view(self.insights_view), name="interactions_tie_insights"),
            path("insights/promote/", view(self.promote_view), name="interactions_tie_promote"),
            path(
                "insights/recompute/", view(self.recompute_view), name="interactions_tie_recompute"
            ),
            *super().get_urls(),
        ]

    # --- brand scoping by the user's memberships ----------------------------------------------

    def _roles(self, request) -> dict[int, str]:
        if request.user.is_superuser:
            return dict.fromkeys(
                Brand.objects.filter(is_active=True).values_list("pk", flat=True), Role.OWNER
            )
        return dict(
            Membership.objects.filter(user=request.user, brand__is_active=True).values_list(
                "brand_id", "role"
            )
        )

    def _brand(self, request, roles: dict[int, str], minimum: str = Role.ANALYST) -> Brand:
        """The brand asked for (``brand``; default the user's first), 404 when it is not
        theirs, 403 when their role there is below ``minimum``."""
        raw = request.POST.get("brand") or request.GET.get("brand")
        if raw is None and roles:
            raw = str(min(roles))
        if raw is None or not raw.isdigit() or int(raw) not in roles:
            raise Http404("No such brand.")
        if ROLE_RANK[Role(roles[int(raw)])] < ROLE_RANK[Role(minimum)]:
            raise PermissionDenied
        return Brand.objects.get(pk=int(raw))

    def _back(self, brand: Brand) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            f"{reverse('admin:interactions_tie_insights')}?brand={brand.pk}"
        )

    # --- views --------------------------------------------------------------------------------

    def insights_view(self, request):
        roles = self._roles(request)
        brand = self._brand(request, roles)
        histogram = selectors.tie_strength_histogram(brand_ids=[brand.pk])
        keyset = Keyset(limit=INSIGHTS_ROWS)
        can_manage = ROLE_RANK[Role(roles[brand.pk])] >= ROLE_RANK[Role.MANAGER]
        context = {
            **self.admin_site.each_context(request),
            "title": f"Tie insights — {brand.name}",
            "opts": self.model._meta,
            "brand": brand,
            "brands": Brand.objects.filter(pk__in=roles).order_by("name"),
            "chart": strength_chart_svg(histogram),
            "pairs": sum(histogram),
            "leaderboard": customer_selectors.advocate_leaderboard(
                brand_id=brand.pk, keyset=keyset
            )[:INSIGHTS_ROWS],
            "candidates": customer_selectors.advocate_candidates(brand_id=brand.pk, keyset=keyset)[
                :INSIGHTS_ROWS
            ],
            "can_manage": can_manage,
        }
        return TemplateResponse(request, "admin/interactions/tie/insights.html", context)

    def promote_view(self, request):
        """Promote the checked candidates (manager role in the brand)."""
        if request.method != "POST":
            raise Http404
        brand = self._brand(request, self._roles(request), Role.MANAGER)
        ids = [int(raw) for raw in request.POST.getlist("customer") if raw.isdigit()]
        promoted = 0
        for customer_id in ids:
            try:
                advocate_promote(brand_id=brand.pk, customer_id=customer_id)
                promoted += 1
            except (ValidationError, APIException) as error:
                detail = getattr(error, "detail", None) or getattr(error, "message_dict", error)
                self.message_user(request, f"Customer {customer_id}: {detail}", messages.ERROR)
        if promoted:
            self.message_user(request, f"Promoted {promoted} customer(s).", messages.SUCCESS)
        return self._back(brand)

    def recompute_view(self, request):
        """Queue a full recompute of the brand's ties (manager role in the brand)."""
        if request.method != "POST":
            raise Http404
        brand = self._brand(request, self._roles(request), Role.MANAGER)
        recompute_ties.delay(brand_id=brand.pk)
        self.message_user(
            request,
            f"Recompute of {brand.name}'s ties queued; strengths update when it finishes.",
            messages.SUCCESS,
        )
        return self._back(brand)

    @admin.display(description="Flags")
    def flag_list(self, obj) -> str:
        return ", ".join(obj.flags) or "-"

    def has_change_permission(self, request, obj=None) -> bool:
        return False


def strength_chart_svg(counts: list[int], width: int = 600, height: int = 220) -> str:
    """Bar chart of tie counts per strength bin as inline SVG (no scripts, no CDN)."""
    bins = len(counts)
    top = max(counts, default=0) or 1
    left, bottom, plot_h = 40, 30, height - 50
    bar_w = (width - left - 10) / max(bins, 1)
    bars = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" fill="#417690">'
        "<title>{}–{}: {} ties</title></rect>",
        (
            (
                f"{left + i * bar_w + 1:.1f}",
                f"{height - bottom - plot_h * count / top:.1f}",
                f"{bar_w - 2:.1f}",
                f"{plot_h * count / top:.1f}",
                f"{i / bins:.2f}",
                f"{(i + 1) / bins:.2f}",
                count,
            )
            for i, count in enumerate(counts)
        ),
    )
    ticks = format_html_join(
        "",
        '<text x="{}" y="{}" font-size="11" text-anchor="middle">{}</text>',
        (
            (f"{left + (width - left - 10) * t / 4:.1f}", height - bottom + 15, f"{t / 4:.2f}")
            for t in range(5)
        ),
    )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" '
        'aria-label="Tie strength distribution">'
        '<line x1="{l}" y1="{base}" x2="{w}" y2="{base}" stroke="#666"/>'
        '<text x="4" y="20" font-size="11">{top}</text>{bars}{ticks}'
        '<text x="{mid}" y="{h}" font-size="11" text-anchor="middle">strength</text></svg>',
        w=width,
        h=height,
        l=left,
        base=height - bottom,
        top=top,
        bars=bars,
        ticks=ticks,
        mid=f"{left + (width - left) / 2:.1f}",
    )


class CustomerTiesPanelMixin:
    """Adds a read-only "Strongest ties" panel (with the parts of each strength) to a customer
    ``ModelAdmin``'s change page. Three queries whatever the number of ties shown."""

    ties_panel_size = 10

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and "strongest_ties" not in fields:
            fields.append("strongest_ties")
        return fields

    @admin.display(description="Strongest ties")
    def strongest_ties(self, customer: Customer) -> str:
        if customer is None or customer.pk is None:
            return "-"
        partners = selectors.tie_partners_page(
            customer=customer, keyset=Keyset(limit=self.ties_panel_size)
        )
        if not partners:
            return "No ties yet."
        rows = selectors.ties_explain(customer=customer, partners=partners)
        head = mark_safe(
            "<tr><th>customer</th><th>strength</th><th>intensity term</th><th>duration term"
            "</th><th>mutual term</th><th>affinity out / in</th><th>by type</th><th>flags"
            "</th></tr>"
        )
        body = format_html_join(
            "",
            "<tr><td>{} (#{})</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            "<td>{} / {}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    row["display_name"] or "-",
                    row["customer"],
                    f"{row['strength']:.3f}",
                    f"{row['components']['intensity_term']:.3f}",
                    f"{row['components']['duration_term']:.3f}",
                    f"{row['components']['mutual_term']:.3f}",
                    f"{row['components']['affinity_out']:.2f}",
                    f"{row['components']['affinity_in']:.2f}",
                    ", ".join(
                        f"{name} {value:.2f}"
                        for name, value in row["components"]["by_type"].items()
                        if value
                    )
                    or "-",
                    ", ".join(row["flags"]) or "-",
                )
                for row in rows
            ),
        )
        return format_html("<table>{}{}</table>", head, body)
