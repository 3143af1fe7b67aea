"""``manage.py create_app_key acme "mini-program"`` — prints the raw key once."""

from django.core.management.base import BaseCommand, CommandError

from scrm.tenancy import services
from scrm.tenancy.models import Brand


class Command(BaseCommand):
    help = "Create a brand app key and print it once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("brand", help="Brand slug.")
        parser.add_argument("name", help="What the key is for, e.g. mini-program.")
        parser.add_argument(
            "--quiet-key",
            action="store_true",
            help="Print only the key (for scripts: KEY=$(manage.py create_app_key ...)).",
        )

    def handle(self, *args, brand: str, name: str, quiet_key: bool, **options):
        found = Brand.objects.filter(slug=brand).first()
        if found is None:
            raise CommandError(f"No brand with slug {brand!r}.")
        if not found.is_active:
            raise CommandError(f"Brand {brand!r} is inactive.")
        name = name.strip()
        if not name or len(name) > 80:
            raise CommandError("The key name must be 1 to 80 characters.")
        issued = services.app_key_create(brand=found, name=name)
        if quiet_key:
            self.stdout.write(issued.raw_key)
            return
        self.stdout.write(f"App key {name!r} for {found.slug} (prefix {issued.app_key.prefix}):")
        self.stdout.write(issued.raw_key)
        self.stdout.write(self.style.WARNING("Copy it now: it is stored only as a hash."))
