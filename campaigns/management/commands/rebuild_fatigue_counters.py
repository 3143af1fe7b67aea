"""`manage.py rebuild_fatigue_counters [--brand ID ...]`: restore Redis from PostgreSQL.

Replaces each brand's fatigue windows (sender posts, recipient exposures) with the durable
ledger of the last window. Publishes of a brand see its state as cold (and wait or defer,
never over-publish) while its rebuild runs. The publish path also rebuilds automatically
when it finds Redis empty; this command is for a deliberate reset.
"""

from django.core.management.base import BaseCommand, CommandError

from campaigns.services.fatigue_live import counters_rebuild
from scrm.tenancy.models import Brand


class Command(BaseCommand):
    help = "Rebuild the Redis fatigue counters of every brand (or --brand) from PostgreSQL."

    def add_arguments(self, parser):
        parser.add_argument("--brand", type=int, action="append", help="brand id (repeatable)")

    def handle(self, *args, brand=None, **options):
        brands = Brand.objects.order_by("pk")
        if brand:
            brands = brands.filter(pk__in=brand)
            missing = set(brand) - set(brands.values_list("pk", flat=True))
            if missing:
                raise CommandError(f"No brand {', '.join(map(str, sorted(missing)))}.")
        for item in brands:
            stats = counters_rebuild(brand_id=item.pk)
            if stats is None:
                self.stdout.write(f"brand {item.pk}: a rebuild is already running, skipped")
            else:
                self.stdout.write(
                    f"brand {item.pk}: {stats.sender_posts} sender posts, "
                    f"{stats.exposures} exposures, {stats.keys} keys"
                )
