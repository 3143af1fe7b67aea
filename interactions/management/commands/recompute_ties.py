"""`manage.py recompute_ties --brand SLUG | --all`: rebuild ties from the interaction log."""

from django.core.management.base import BaseCommand, CommandError

from interactions.recompute import ties_recompute
from scrm.tenancy.models import Brand


class Command(BaseCommand):
    help = "Rebuild tie scores of one brand (or all) from the whole interaction log."

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--brand", help="slug of the brand to recompute")
        target.add_argument("--all", action="store_true", help="every brand, one by one")

    def handle(self, *args, **options):
        brand = options.get("brand")
        brands = Brand.objects.order_by("pk")
        if brand:
            brands = brands.filter(slug=brand)
            if not brands.exists():
                raise CommandError(f"No brand with slug {brand!r}.")
        for item in brands:
            self.stdout.write(f"brand {item.slug} (id {item.pk}):")

            def progress(step: str, seconds: float, rows: int) -> None:
                self.stdout.write(f"  {step:<20} {seconds:8.3f} s  {rows:>12,} rows")
                self.stdout.flush()

            report = ties_recompute(brand_id=item.pk, progress=progress)
            self.stdout.write(
                self.style.SUCCESS(
                    f"  done in {report.seconds:.2f} s: {report.pairs:,} pairs kept, "
                    f"{report.deleted:,} rows pruned, κ={report.kappa:.4f} over "
                    f"{report.active_pairs:,} active pairs"
                )
            )
