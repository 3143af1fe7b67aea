"""``manage.py create_brand "Acme Tea" --slug acme --time-zone Asia/Shanghai``"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError
from django.db.models.functions import Lower

from scrm.tenancy import services
from scrm.tenancy.models import Brand


class Command(BaseCommand):
    help = "Create a brand (the tenant every row belongs to)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Display name, unique (case-insensitive).")
        parser.add_argument("--slug", help="URL/sign-in name; default: from the name.")
        parser.add_argument(
            "--time-zone",
            default="Asia/Shanghai",
            help="IANA time zone for quiet hours and daily caps (default Asia/Shanghai).",
        )

    def handle(self, *args, name: str, slug: str | None, time_zone: str, **options):
        name = name.strip()
        if not name:
            raise CommandError("The brand name must not be empty.")
        if Brand.objects.annotate(lname=Lower("name")).filter(lname=name.lower()).exists():
            raise CommandError(f"A brand named {name!r} exists already.")
        if slug and Brand.objects.filter(slug=slug).exists():
            raise CommandError(f"A brand with slug {slug!r} exists already.")
        try:
            brand = services.brand_create(name=name, slug=slug, time_zone=time_zone)
        except ValidationError as error:
            raise CommandError("; ".join(sum(error.message_dict.values(), []))) from None
        except IntegrityError:
            raise CommandError(f"A brand named {name!r} (or its slug) exists already.") from None
        if not brand.slug:
            raise CommandError("Could not derive a slug from the name; pass --slug.")
        self.stdout.write(
            self.style.SUCCESS(
                f"Created brand {brand.name} (slug {brand.slug}, {brand.time_zone})."
            )
        )
