"""How fast does the admin's customer CSV import go? Run against a throwaway database:

    DJANGO_SETTINGS_MODULE=scrm.settings.test .venv/bin/python -m scrm.devservers -- \
        .venv/bin/python bench/customer_import.py [ROWS]

Baseline, measured in the same run: ``Customer.objects.bulk_create`` of the same rows, already
parsed and normalised (the floor any import can reach). Then the import as the admin runs it:
the dry-run preview, the confirmed import (new rows), and the same file again (all updates).
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scrm.settings.local")

import django

django.setup()

import tablib  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402

from customers.models import Customer  # noqa: E402
from customers.resources import CustomerResource  # noqa: E402
from scrm.tenancy.models import Brand  # noqa: E402

HEADERS = ["external_id", "display_name", "kind", "phone", "tags", "lifecycle_stage",
           "source_channel", "marketing_consent"]  # fmt: skip


def rows(n: int) -> list[tuple]:
    return [
        (f"u-{i:07d}", f"Person {i}", "consumer", f"138 {i:04d} {i % 10000:04d}"[:13],
         "vip;tea", "lead", "wecom", "yes")
        for i in range(n)
    ]  # fmt: skip


def timed(label: str, n: int, func, baseline: float | None = None) -> float:
    start = time.perf_counter()
    func()
    seconds = time.perf_counter() - start
    ratio = f"  ({seconds / baseline:.1f}x baseline)" if baseline else ""
    print(f"{label:<34} {seconds:7.2f} s  {n / seconds:9.0f} rows/s{ratio}")
    return seconds


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    call_command("migrate", verbosity=0)
    data = rows(n)
    dataset = tablib.Dataset(*data, headers=HEADERS)
    print(f"customer CSV import, {n} rows")

    base_brand = Brand.objects.create(name=f"bench base {time.time()}", slug=f"bb{time.time_ns()}")

    def baseline():
        with transaction.atomic():
            Customer.objects.bulk_create(
                [
                    Customer(
                        brand=base_brand,
                        external_id=r[0],
                        display_name=r[1],
                        phone="+8613800000000",
                        tags=["vip", "tea"],
                    )
                    for r in data
                ],  # fmt: skip
                batch_size=1000,
            )

    base = timed("baseline bulk_create", n, baseline)

    brand = Brand.objects.create(name=f"bench {time.time()}", slug=f"b{time.time_ns()}")

    def run(dry_run: bool):
        result = CustomerResource(brand=brand).import_data(
            dataset, dry_run=dry_run, use_transactions=True, rollback_on_validation_errors=True
        )
        assert not result.has_errors() and not result.has_validation_errors(), result

    timed("preview (dry run)", n, lambda: run(True), base)
    timed("import, all new", n, lambda: run(False), base)
    timed("same file again, all updates", n, lambda: run(False), base)
    assert Customer.objects.filter(brand=brand).count() == n
    Brand.objects.filter(pk__in=[brand.pk, base_brand.pk]).delete()


if __name__ == "__main__":
    main()
