"""``manage.py seed_demo_activity``: weeks of posts, engagement, a campaign and its orders.

    manage.py seed_demo --customers 5000 && manage.py seed_demo_activity --weeks 4

Runs on a brand seeded by ``seed_demo`` (see ``campaigns.demo_activity``). Refuses a brand that
already has posts unless ``--if-empty`` (then it does nothing and exits 0), so it never mixes
generated activity into a brand's real history.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from campaigns.demo_activity import demo_activity_seed
from campaigns.models import Post
from customers.models import Customer
from scrm.tenancy.models import Brand


class Command(BaseCommand):
    help = "Generate demo activity (posts, interactions, a campaign, orders, ties) for a brand."

    def add_arguments(self, parser):
        parser.add_argument("--brand", default="demo", help="brand slug (default demo)")
        parser.add_argument("--weeks", type=int, default=4, help="weeks of history, default 4")
        parser.add_argument("--seed", type=int, default=0, help="random seed (reproducible)")
        parser.add_argument(
            "--advocates", type=int, default=60, help="most connected advocates who post"
        )
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing if the brand has posts"
        )

    def handle(self, *args, **options):
        if not 1 <= options["weeks"] <= 26:
            raise CommandError("--weeks must be between 1 and 26.")
        if options["advocates"] < 0:
            raise CommandError("--advocates must not be negative.")
        brand = Brand.objects.filter(slug=options["brand"]).first()
        if brand is None or not Customer.objects.filter(brand=brand).exists():
            raise CommandError(f"No seeded brand {options['brand']!r}: run seed_demo first.")
        if Post.objects.filter(brand=brand).exists():
            if options["if_empty"]:
                self.stdout.write(f"Brand {brand.slug!r} already has posts; nothing to do.")
                return
            raise CommandError(f"Brand {brand.slug!r} already has posts (use --if-empty).")
        verbose = options["verbosity"] >= 2
        result = demo_activity_seed(
            brand=brand,
            weeks=options["weeks"],
            seed=options["seed"],
            max_advocates=options["advocates"],
            progress=self.stdout.write if verbose else None,
        )
        self.stdout.write(
            f"Demo activity for {brand.slug!r} in {result.seconds:.1f}s: {result.published} of "
            f"{result.posts} posts published ({result.deferred_or_rejected} deferred or "
            f"rejected by the fatigue rules), {result.deliveries} deliveries, {result.events} "
            f"events, {result.conversions} orders, {result.ties} ties."
        )
