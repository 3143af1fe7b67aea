"""``manage.py seed_demo``: a realistic private-domain network for one brand.

    manage.py seed_demo --customers 100000 --brand demo --seed 7

Refuses to write into a brand that already has customers unless ``--reset`` (erase that
brand's customers first) or ``--if-empty`` (do nothing, exit 0) is given. With
``settings.SCRM_DEMO_LOGIN`` (local and test settings only) it also ensures the staff login
``demo`` / ``demo`` as owner of the brand. A fresh seed prints a new app key; ``--app-key NAME``
prints a fresh key of that name on every run, revoking the previous keys with that name.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from customers import demo
from customers.models import Advocate, Customer, Friendship
from scrm.tenancy import services as tenancy
from scrm.tenancy.models import AppKey, Brand, Role

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"  # noqa: S105 (local and test settings only)


class Command(BaseCommand):
    help = "Generate a demo private-domain network (customers, friendships, advocates)."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=5000, help="people, default 5000")
        parser.add_argument("--brand", default="demo", help="brand slug (created if missing)")
        parser.add_argument("--seed", type=int, default=0, help="random seed (reproducible)")
        parser.add_argument(
            "--advocates", type=int, default=None, help="default: 4%% of customers, 5..500"
        )
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--if-empty", action="store_true", help="do nothing if the brand has customers"
        )
        mode.add_argument("--reset", action="store_true", help="erase the brand's customers first")
        parser.add_argument(
            "--app-key",
            metavar="NAME",
            help="print a fresh app key of this name on every run (revokes older ones)",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options):
        if options["customers"] < 1:
            raise CommandError("--customers must be at least 1.")
        if options["advocates"] is not None and options["advocates"] < 0:
            raise CommandError("--advocates must not be negative.")
        slug = options["brand"]
        brand = Brand.objects.filter(slug=slug).first()
        if brand is None:
            name = "Demo Tea Co." if slug == "demo" else slug.replace("-", " ").title()
            brand = tenancy.brand_create(name=name, slug=slug)
            self.stdout.write(f"Created brand {brand.name!r} ({slug}).")

        existing = Customer.objects.filter(brand=brand).count()
        if existing and options["if_empty"]:
            self.stdout.write(f"Brand {slug!r} already has {existing} customers; not seeding.")
            self._ensure_login(brand)
            self._fresh_app_key(brand, options["app_key"])
            return
        if existing and not options["reset"]:
            raise CommandError(
                f"Brand {slug!r} already has {existing} customers. Use --reset to replace "
                "them or --if-empty to leave them."
            )
        if existing:
            self._reset(brand)

        total = options["customers"]
        advocates = options["advocates"]
        expected = total * (1 + demo.MEAN_FRIENDS // 2) + (advocates or 0)
        started = time.perf_counter()
        with tqdm(
            total=expected,
            unit="row",
            unit_scale=True,
            desc="seed_demo",
            disable=options["no_progress"] or options["verbosity"] == 0,
        ) as bar:
            result = demo.demo_network_generate(
                brand=brand,
                customers=total,
                advocates=advocates,
                seed=options["seed"],
                progress=bar.update,
            )
            bar.total = bar.n
            bar.refresh()
        elapsed = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded brand {slug!r} in {elapsed:.1f}s: {result.customers} customers "
                f"({result.brand_accounts} brand accounts, {result.communities} communities), "
                f"{result.friendships} friendships ({result.ended_friendships} ended), "
                f"{result.advocates} advocates."
                + (f" Recount fixed {result.recounted} friend counts!" if result.recounted else "")
            )
        )
        if options["verbosity"] >= 2:
            phases = {**result.seconds}
            phases["commit (FK checks)"] = round(elapsed - sum(phases.values()), 2)
            for phase, seconds in phases.items():
                self.stdout.write(f"  {phase:<22} {seconds:6.2f}s")
        self._ensure_login(brand)
        self._fresh_app_key(brand, options["app_key"] or "demo")

    def _reset(self, brand: Brand) -> None:
        with transaction.atomic():
            Advocate.objects.filter(brand=brand).delete()
            Friendship.objects.filter(brand=brand).delete()
            deleted, _ = Customer.objects.filter(brand=brand).delete()
        self.stdout.write(f"Erased the customers of brand {brand.slug!r} ({deleted} rows).")

    def _ensure_login(self, brand: Brand) -> None:
        if not getattr(settings, "SCRM_DEMO_LOGIN", False):
            return
        tenancy.staff_member_create(
            brand=brand, username=DEMO_USERNAME, password=DEMO_PASSWORD, role=Role.OWNER
        )
        self.stdout.write(f"Staff login: {DEMO_USERNAME} / {DEMO_PASSWORD} (owner of {brand.slug})")

    @transaction.atomic
    def _fresh_app_key(self, brand: Brand, name: str | None) -> None:
        if not name:
            return
        for old in AppKey.objects.filter(brand=brand, name=name, revoked_at__isnull=True):
            tenancy.app_key_revoke(app_key=old)
        issued = tenancy.app_key_create(brand=brand, name=name)
        self.stdout.write(f"App key ({name}, shown once): {issued.raw_key}")
