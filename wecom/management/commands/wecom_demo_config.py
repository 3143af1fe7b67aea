"""``manage.py wecom_demo_config [--brand demo]``: a WeCom configuration for the demo brand.

Local and test settings only (``SCRM_DEMO_LOGIN``): fixed, public demo credentials, so
``manage.py wecom_simulate`` can send callbacks at once. Idempotent: an existing configuration
is left as it is. Maps the brand's first brand accounts to the UserIDs ``demo-staff-1`` … and
adds a contact-me channel code ``demo-store-qr`` (credited to the active campaign, if any).
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from campaigns.models import Campaign
from customers.models import Customer, CustomerKind
from scrm.tenancy.models import Brand
from wecom.models import ContactChannel, WeComConfig, WeComStaff
from wecom.services.config import wecom_config_update

DEMO_CORP_ID = "wwdemo00000000001"
DEMO_TOKEN = "scrmDemoToken"  # noqa: S105 (local and test settings only)
DEMO_AES_KEY = "c2NybURlbW9FbmNvZGluZ0FFU0tleUZvckxvY2FsVXM"
DEMO_STAFF = 3


class Command(BaseCommand):
    help = "Configure WeCom for the demo brand (local settings only)."

    def add_arguments(self, parser):
        parser.add_argument("--brand", default="demo", help="brand slug")

    def handle(self, *args, **options):
        if not getattr(settings, "SCRM_DEMO_LOGIN", False):
            raise CommandError("Demo credentials are for local settings only.")
        brand = Brand.objects.filter(slug=options["brand"]).first()
        if brand is None:
            raise CommandError(f"No brand {options['brand']!r}; run seed_demo first.")
        if not WeComConfig.objects.filter(brand=brand).exists():
            accounts = list(
                Customer.objects.filter(brand=brand, kind=CustomerKind.BRAND_ACCOUNT)
                .order_by("pk")
                .values_list("pk", flat=True)[:DEMO_STAFF]
            )
            wecom_config_update(
                brand_id=brand.pk,
                corp_id=DEMO_CORP_ID,
                token=DEMO_TOKEN,
                encoding_aes_key=DEMO_AES_KEY,
                staff=[
                    {"user_id": f"demo-staff-{n}", "brand_account": pk}
                    for n, pk in enumerate(accounts, start=1)
                ],
            )
            campaign = Campaign.objects.filter(brand=brand, status="active").first()
            ContactChannel.objects.get_or_create(
                brand=brand,
                state="demo-store-qr",
                defaults={"name": "Store counter QR (demo)", "campaign": campaign},
            )
        staff = ", ".join(
            WeComStaff.objects.filter(brand=brand)
            .order_by("user_id")
            .values_list("user_id", flat=True)
        )
        self.stdout.write(
            f"WeCom (demo): corp {DEMO_CORP_ID}, staff {staff or '-'}, "
            f"callback /api/v1/wecom/callback/{brand.slug}/"
        )
