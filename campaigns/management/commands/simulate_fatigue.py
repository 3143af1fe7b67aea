"""``manage.py simulate_fatigue``: weeks of posting on a synthetic brand, fatigue rules on vs off.

    manage.py simulate_fatigue --brand demo                  # a brand made by seed_demo
    manage.py simulate_fatigue --customers 5000 --seed 0     # generated in memory, no database
    manage.py simulate_fatigue --brand demo --policy recipient_weekly_cap=2 --policy \\
        'enabled_rules=["cooldown","sender_daily_cap"]'

Prints reach, engagements, conversions, mutes, blocks and unfriends for both arms and the
averted / lost shares, and writes a PNG of the weekly curves (``--out``). The policy is the
brand's defaults from settings (``SCRM_FATIGUE``) with ``--policy key=value`` overrides (the
value is JSON when it parses as JSON, else a string). The model is described in
`campaigns.fatigue.simulator` and docs/fatigue_simulator.md.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from campaigns.fatigue import simulator
from campaigns.fatigue.rules import FatiguePolicy, PolicyError
from scrm.tenancy.models import Brand

DEFAULT_OUT = "docs/fatigue_simulation.png"


def parse_overrides(items: list[str]) -> dict:
    overrides: dict = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise CommandError(f"--policy takes key=value, not {item!r}.")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        overrides[key.strip()] = value
    return overrides


class Command(BaseCommand):
    help = "Simulate weeks of posting on a synthetic brand with the fatigue rules on and off."

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--brand", help="slug of a brand in the database (seed_demo)")
        source.add_argument(
            "--customers",
            type=int,
            help="generate a demo-shaped network of this size in memory (default 5000)",
        )
        parser.add_argument("--weeks", type=int, default=12, help="weeks to simulate (12)")
        parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
        parser.add_argument(
            "--policy",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="policy override for the 'on' arm (repeatable), e.g. recipient_weekly_cap=2",
        )
        parser.add_argument("--out", default=DEFAULT_OUT, help=f"PNG path ({DEFAULT_OUT})")
        parser.add_argument("--no-chart", action="store_true", help="do not write the PNG")

    def handle(self, *args, **options):
        weeks = options["weeks"]
        if not 1 <= weeks <= 104:
            raise CommandError("--weeks must be between 1 and 104.")
        base = FatiguePolicy.from_settings()
        overrides = parse_overrides(options["policy"])
        try:
            policy = FatiguePolicy.from_dict(overrides, base=base) if overrides else base
        except PolicyError as error:
            raise CommandError(f"Invalid --policy: {error}") from error

        if options["brand"]:
            from campaigns.fatigue.simnet import network_from_brand

            brand = Brand.objects.filter(slug=options["brand"]).first()
            if brand is None:
                raise CommandError(f"No brand {options['brand']!r} (run seed_demo first).")
            from interactions.selectors import tie_params_for_brand

            network = network_from_brand(brand)
            tie_params = tie_params_for_brand(brand_id=brand.pk)  # its fitted model, if any
            source = f"brand {brand.slug!r}"
        else:
            from campaigns.fatigue.simnet import network_generated

            customers = options["customers"] if options["customers"] is not None else 5000
            if customers < 10:
                raise CommandError("--customers must be at least 10.")
            network = network_generated(customers, seed=options["seed"])
            tie_params = None
            source = f"{customers} generated customers"
        if network.advocates.size + int(network.brand_account.sum()) == 0:
            raise CommandError(f"{source} has no advocates and no brand accounts: no senders.")

        comparison = simulator.compare(
            network, policy, weeks=weeks, seed=options["seed"], tie_params=tie_params
        )
        changed = {k: v for k, v in policy.as_dict().items() if base.as_dict().get(k) != v}
        title = (
            f"{source}: {network.n} people, {comparison.senders} senders, {weeks} weeks, "
            f"seed {options['seed']}"
        )
        self.stdout.write(title)
        self.stdout.write(
            "policy: defaults" + (f" with {json.dumps(changed)}" if changed else "") + "\n"
        )
        self.stdout.write(simulator.report(comparison))
        self.stdout.write(f"\nsimulated both arms in {comparison.seconds:.1f}s")
        if not options["no_chart"]:
            out = Path(options["out"])
            out.parent.mkdir(parents=True, exist_ok=True)
            label = title + (f"\npolicy overrides: {json.dumps(changed)}" if changed else "")
            simulator.plot(comparison, str(out), title=label)
            self.stdout.write(f"chart: {out}")
