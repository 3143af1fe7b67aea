"""``manage.py wecom_simulate``: send correctly encrypted WeCom callbacks to a running server.

    manage.py wecom_simulate --url http://127.0.0.1:8000 --brand demo --scenario mix --count 20

Reads the brand's WeCom configuration (corp id, token, EncodingAESKey) and staff from the
database, or takes them from ``--corp-id``/``--token``/``--aes-key`` (``--demo``: those of
``make run``'s demo brand), then needs no database at all. Scenarios: ``adds`` (new customers
add staff accounts, half of them through a contact-me channel or referral code), ``churn``
(customers delete staff accounts — a burst), ``deletions`` (staff delete customers; every third
is a transfer), ``mix`` (adds, edits, a failed transfer, tag, chat and unknown events, churn and
deletions). ``--retries N`` sends each event N more times, as WeCom does when it gets no answer.
"""

from __future__ import annotations

import random
import statistics

from django.core.management.base import BaseCommand, CommandError

from wecom import selectors
from wecom.management.commands.wecom_demo_config import (
    DEMO_AES_KEY,
    DEMO_CORP_ID,
    DEMO_STAFF,
    DEMO_TOKEN,
)
from wecom.models import ContactChannel, WeComContact, WeComStaff
from wecom.secrets import SecretUnreadable
from wecom.services.config import callback_keys
from wecom.simulator import Simulator, contacts_over_api, scenario_events


class Command(BaseCommand):
    help = "Send encrypted, signed WeCom callbacks to a running server (demos and tests)."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="server base URL")
        parser.add_argument("--brand", default="demo", help="brand slug")
        parser.add_argument(
            "--scenario", default="mix", choices=["adds", "churn", "deletions", "mix"]
        )
        parser.add_argument("--count", type=int, default=10, help="events of the main kind")
        parser.add_argument("--retries", type=int, default=0, help="resend each event N times")
        parser.add_argument("--user-id", action="append", default=[], help="staff UserID(s)")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--verify-url", action="store_true", help="GET the URL check first")
        parser.add_argument(
            "--demo",
            action="store_true",
            help="use make run's demo credentials and staff (no database access needed)",
        )
        parser.add_argument("--corp-id", default="")
        parser.add_argument("--token", default="")
        parser.add_argument("--aes-key", default="")

    def handle(self, *args, **options):
        slug = options["brand"]
        staff = options["user_id"]
        if options["demo"]:
            options.update(corp_id=DEMO_CORP_ID, token=DEMO_TOKEN, aes_key=DEMO_AES_KEY)
            staff = staff or [f"demo-staff-{n}" for n in range(1, DEMO_STAFF + 1)]
        config = None
        if options["corp_id"] and options["token"] and options["aes_key"]:
            # Credentials given: the server's database is not needed (nor read).
            corp_id, token, key = options["corp_id"], options["token"], options["aes_key"]
        elif (config := selectors.wecom_config_for_callback(brand_slug=slug)) is None:
            raise CommandError(f"Brand {slug!r} has no active WeCom configuration.")
        else:
            try:
                keys = callback_keys(config)
            except SecretUnreadable as exc:
                raise CommandError(str(exc)) from None
            corp_id, token, key = keys.corp_id, keys.token, keys.encoding_aes_key
        contacts: list[tuple[str, str]] = []
        states: list[str] = []
        if config is not None:
            brand_id = config.brand_id
            staff = staff or list(
                WeComStaff.objects.filter(brand_id=brand_id)
                .order_by("user_id")
                .values_list("user_id", flat=True)
            )
            contacts = list(
                WeComContact.objects.filter(brand_id=brand_id, ended_at__isnull=True)
                .filter(**({"user_id__in": staff} if staff else {}))
                .values_list("user_id", "customer__external_id")[:10_000]
            )
            states = list(
                ContactChannel.objects.filter(brand_id=brand_id, is_active=True).values_list(
                    "state", flat=True
                )
            )
        if options["demo"] and options["scenario"] in ("churn", "deletions"):
            # Act on the demo's own customers (friends of the mapped staff accounts, with
            # posts delivered to them), read through the API with make run's demo login.
            try:
                staff, contacts = contacts_over_api(
                    options["url"],
                    username="demo",
                    password="demo",  # noqa: S106
                )
            except (OSError, ValueError, KeyError) as exc:
                self.stderr.write(f"Could not read the demo's contacts ({exc}); adding new ones.")
        staff = staff or ["sim-staff"]
        sim = Simulator(
            base_url=options["url"],
            brand_slug=slug,
            corp_id=corp_id,
            token=token,
            encoding_aes_key=key,
        )
        if options["verify_url"]:
            sent = sim.verify_url()
            self.stdout.write(f"URL check: {'ok' if sent.status == 200 else sent.status}")
        rng = random.Random(options["seed"])  # noqa: S311 (simulation, not secrets)
        events = scenario_events(
            sim,
            scenario=options["scenario"],
            count=max(1, options["count"]),
            staff=staff,
            contacts=contacts,
            states=states,
            rng=rng,
        )
        failed = 0
        for fields in events:
            for _ in range(1 + max(0, options["retries"])):
                sent = sim.send(fields)
                if sent.status != 200:
                    failed += 1
                    self.stderr.write(f"{fields.get('ChangeType') or fields['Event']}: "
                                      f"{sent.status} {sent.body[:200]!r}")  # fmt: skip
        kinds: dict[str, int] = {}
        for fields in events:
            kind = fields.get("ChangeType") or fields["Event"]
            kinds[kind] = kinds.get(kind, 0) + 1
        median = statistics.median(sim.latencies) * 1000 if sim.latencies else 0.0
        self.stdout.write(
            f"Sent {len(events)} events ({sum(sim.statuses.values())} requests) to {sim.url}: "
            + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
        )
        self.stdout.write(
            "Answers: "
            + ", ".join(f"{status}: {n}" for status, n in sorted(sim.statuses.items()))
            + f"; median {median:.1f} ms"
        )
        if failed:
            raise CommandError(f"{failed} request(s) were refused.")
