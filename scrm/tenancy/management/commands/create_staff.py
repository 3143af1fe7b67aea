"""``manage.py create_staff acme lin --role manager [--password ...]``"""

import getpass
import os

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from scrm.tenancy import services
from scrm.tenancy.models import Brand, Role

PASSWORD_ENV = "SCRM_STAFF_PASSWORD"  # noqa: S105 (the variable's name, not a password)


class Command(BaseCommand):
    help = (
        "Create a staff user (or reuse an existing one) and give them a role in a brand. "
        f"The password comes from --password, else ${PASSWORD_ENV}, else a prompt."
    )

    def add_arguments(self, parser):
        parser.add_argument("brand", help="Brand slug.")
        parser.add_argument("username")
        parser.add_argument("--role", default=Role.OPERATOR, choices=list(Role.values))
        parser.add_argument("--email", default="")
        parser.add_argument("--password", help=f"Default: ${PASSWORD_ENV}, else a prompt.")
        parser.add_argument(
            "--no-password",
            action="store_true",
            help="Keep an existing user's password (or give a new one an unusable password).",
        )

    def handle(self, *args, brand: str, username: str, role: str, **options):
        found = Brand.objects.filter(slug=brand).first()
        if found is None:
            known = ", ".join(Brand.objects.order_by("slug").values_list("slug", flat=True)[:20])
            raise CommandError(f"No brand with slug {brand!r}. Known: {known or 'none'}.")
        username = username.strip()
        if not username:
            raise CommandError("The username must not be empty.")
        password = None
        if not options["no_password"]:
            password = options["password"] or os.environ.get(PASSWORD_ENV)
            if password is None:
                password = self._prompt()
            try:
                validate_password(password)
            except ValidationError as error:
                raise CommandError("Password rejected: " + " ".join(error.messages)) from None
        membership = services.staff_member_create(
            brand=found, username=username, password=password, role=role, email=options["email"]
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"{membership.user.username} is {membership.role} of {found.slug}; "
                "they can sign in to the admin and call auth/token/."
            )
        )

    def _prompt(self) -> str:
        if not os.isatty(0):
            raise CommandError(f"No password: pass --password, set ${PASSWORD_ENV} or use a tty.")
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password (again): "):
            raise CommandError("The passwords do not match.")
        if not first:
            raise CommandError("The password must not be empty.")
        return first
