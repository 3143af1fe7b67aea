"""Admin for campaigns (with a per-campaign dashboard and CSV export), enrollments with
their free samples, and conversions; every page scoped to the staff user's brands."""

from __future__ import annotations

import base64
import functools
import io

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from rest_framework.exceptions import APIException

from scrm.tenancy.models import ROLE_RANK, Membership, Role

from .admin import BrandScopedAdmin
from .models import Campaign, CampaignStatus, Conversion, Enrollment, SampleShipment
from .services.campaigns import campaign_update
from .services.reports import campaign_report, report_csv

# Fonts that draw Chinese names, tried in this order when the system has one of them.
CJK_FONT_HINTS = (
    "Noto Sans CJK",
    "Noto Sans SC",
    "Source Han Sans",
    "WenQuanYi",
    "Droid Sans Fallback",
    "AR PL",
    "Microsoft YaHei",
    "SimHei",
    "PingFang",
)


@functools.cache
def chart_fonts() -> tuple[tuple[str, ...], frozenset[int]]:
    """Font families for chart text (the default sans-serif, then a CJK font when the system
    has one) and the code points they can draw between them."""
    from matplotlib import font_manager, ft2font

    default = font_manager.findfont(font_manager.FontProperties(family=["sans-serif"]))
    fonts = [(font_manager.FontProperties(fname=default).get_name(), default)]
    for hint in CJK_FONT_HINTS:
        entry = next((f for f in font_manager.fontManager.ttflist if hint in f.name), None)
        if entry is not None:
            fonts.append((entry.name, entry.fname))
            break
    points: set[int] = set()
    for _, font_file in fonts:
        points.update(ft2font.FT2Font(font_file).get_charmap())
    return tuple(name for name, _ in fonts), frozenset(points)


def chart_label(name: str, fallback: str) -> str:
    """``name`` when the chart fonts can draw every character of it, else ``fallback`` (a
    Chinese name on a machine without a CJK font would come out as empty boxes)."""
    _, points = chart_fonts()
    if name and all(ord(character) in points for character in name):
        return name
    return fallback


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def report_charts(report: dict) -> dict[str, str]:
    """Server-rendered PNG charts (data URIs; no browser library, no CDN)."""
    from matplotlib import rc_context

    families, _ = chart_fonts()
    with rc_context({"font.family": list(families)}):
        return _draw_charts(report)


def _draw_charts(report: dict) -> dict[str, str]:
    from matplotlib.figure import Figure  # heavy import: only when a dashboard is drawn

    charts = {}
    tiers = report["by_tier"]
    figure = Figure(figsize=(6, 3))
    axes = figure.subplots()
    xs = range(len(tiers))
    width = 0.4
    axes.bar([x - width / 2 for x in xs], [t["engagement_rate"] for t in tiers], width,
             label="engagement rate")  # fmt: skip
    axes.bar([x + width / 2 for x in xs], [t["conversion_rate"] for t in tiers], width,
             label="conversion rate")  # fmt: skip
    axes.set_xticks(list(xs), [t["tier"] for t in tiers])
    axes.set_title("Engagement and conversion by tier")
    axes.legend()
    charts["by_tier"] = _png(figure)

    days = report["conversions_over_time"]
    figure = Figure(figsize=(6, 3))
    axes = figure.subplots()
    axes.bar([str(d["day"]) for d in days], [d["conversions"] for d in days])
    axes.set_title("Conversions per day")
    axes.tick_params(axis="x", labelrotation=45)
    charts["over_time"] = _png(figure)

    top = report["by_advocate"][:10]
    figure = Figure(figsize=(6, 3))
    axes = figure.subplots()
    axes.barh([chart_label(a["name"], a["code"]) for a in reversed(top)],
              [float(a["revenue"]) for a in reversed(top)])  # fmt: skip
    axes.set_title(f"Top advocates by revenue ({report['currency']})")
    charts["top_advocates"] = _png(figure)

    bands = report["by_tie_band"]
    figure = Figure(figsize=(6, 3))
    axes = figure.subplots()
    axes.bar([b["band"] for b in bands], [b["conversions"] for b in bands])
    axes.set_title("Conversions by buyer–advocate tie strength")
    charts["tie_bands"] = _png(figure)
    return charts


class MemberScopedAdmin(BrandScopedAdmin):
    """Brand members see their brands' rows whatever their Django model permissions (the
    role decides what they may do); superusers see all. Rows are changed through services."""

    def _roles(self, request) -> dict[int, str]:
        if not request.user.is_authenticated:
            return {}
        if not hasattr(request, "_campaign_admin_roles"):
            request._campaign_admin_roles = dict(
                Membership.objects.filter(user=request.user, brand__is_active=True).values_list(
                    "brand_id", "role"
                )
            )
        return request._campaign_admin_roles

    def has_role(self, request, brand_id: int, minimum: str) -> bool:
        if request.user.is_superuser:
            return True
        role = self._roles(request).get(brand_id)
        return role is not None and ROLE_RANK[Role(role)] >= ROLE_RANK[Role(minimum)]

    def has_module_permission(self, request) -> bool:
        return request.user.is_superuser or bool(self._roles(request))

    def has_view_permission(self, request, obj=None) -> bool:
        if request.user.is_superuser:
            return True
        if obj is None:
            return bool(self._roles(request))
        return obj.brand_id in self._roles(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class SampleInline(admin.TabularInline):
    model = SampleShipment
    extra = 0
    fields = ["product", "cost", "shipped_at", "received_at", "reviewed_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return True  # shown inside an enrollment the user may already view


@admin.register(Campaign)
class CampaignAdmin(MemberScopedAdmin):
    list_display = ["name", "brand", "status", "starts_at", "ends_at", "budget", "currency",
                    "dashboard_link"]  # fmt: skip
    list_filter = ["status"]
    search_fields = ["name", "goal"]
    list_select_related = ["brand"]
    actions = ["activate", "end"]

    @admin.display(description="Dashboard")
    def dashboard_link(self, obj) -> str:
        url = reverse("admin:campaigns_campaign_dashboard", args=[obj.pk])
        return format_html('<a href="{}">report</a>', url)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<int:object_id>/dashboard/",
                view(self.dashboard_view),
                name="campaigns_campaign_dashboard",
            ),  # fmt: skip
            path(
                "<int:object_id>/report.csv",
                view(self.csv_view),
                name="campaigns_campaign_report_csv",
            ),  # fmt: skip
            *super().get_urls(),
        ]

    def _campaign(self, request, object_id: int) -> Campaign:
        if not self.has_view_permission(request):
            raise PermissionDenied
        # get_queryset scopes to the user's brands: another brand's campaign is a 404.
        campaign = self.get_queryset(request).select_related("brand").filter(pk=object_id).first()
        if campaign is None:
            raise Http404("No such campaign.")
        return campaign

    def dashboard_view(self, request, object_id: int):
        campaign = self._campaign(request, object_id)
        report = campaign_report(campaign=campaign)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Campaign report: {campaign.name}",
            "opts": self.model._meta,
            "campaign": campaign,
            "report": report,
            "charts": report_charts(report),
            "csv_url": reverse("admin:campaigns_campaign_report_csv", args=[campaign.pk]),
        }
        return TemplateResponse(request, "admin/campaigns/campaign/dashboard.html", context)

    def csv_view(self, request, object_id: int):
        campaign = self._campaign(request, object_id)
        response = HttpResponse(
            report_csv(campaign_report(campaign=campaign)), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}.csv"'
        return response

    def _move(self, request, queryset, status: str) -> None:
        done = 0
        for campaign in queryset:
            if not self.has_role(request, campaign.brand_id, Role.MANAGER):
                self.message_user(request, f"{campaign}: needs the manager role.", messages.ERROR)
                continue
            try:
                campaign_update(campaign=campaign, status=status)
                done += 1
            except (APIException, ValidationError) as exc:
                self.message_user(request, f"{campaign}: {exc}", messages.WARNING)
        self.message_user(request, f"{done} campaign(s) now {status}.")

    @admin.action(description="Activate selected campaigns")
    def activate(self, request, queryset):
        self._move(request, queryset, CampaignStatus.ACTIVE)

    @admin.action(description="End selected campaigns")
    def end(self, request, queryset):
        self._move(request, queryset, CampaignStatus.ENDED)


@admin.register(Enrollment)
class EnrollmentAdmin(MemberScopedAdmin):
    list_display = ["code", "campaign", "advocate", "tier", "fee", "enrolled_at"]
    list_filter = ["tier"]
    search_fields = ["code", "advocate__customer__display_name"]
    list_select_related = ["campaign", "advocate"]
    readonly_fields = ["brand", "campaign", "advocate", "code", "tier", "fee", "enrolled_at"]
    inlines = [SampleInline]


@admin.register(Conversion)
class ConversionAdmin(MemberScopedAdmin):
    list_display = ["order_id", "amount", "currency", "source", "advocate", "campaign",
                    "uncredited_reason", "flagged_for_review", "occurred_at"]  # fmt: skip
    list_filter = ["source", "flagged_for_review", "currency"]
    search_fields = ["order_id", "code", "buyer_external_id"]
    list_select_related = ["advocate", "campaign"]
    raw_id_fields = ["buyer", "sharer", "advocate", "campaign", "enrollment", "post"]
