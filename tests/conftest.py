"""Fixtures: brands, and an authenticated API client for each caller kind.

The suite runs against the real PostgreSQL and Redis that `make test` starts
(scrm.devservers exports DATABASE_URL and REDIS_URL).
"""

from __future__ import annotations

import pytest
import redis as redis_lib
from django.conf import settings
from rest_framework.test import APIClient

from customers.models import Customer
from scrm.tenancy import services as tenancy
from scrm.tenancy.models import Brand, Role

from .factories import BrandFactory, CustomerFactory, MembershipFactory


@pytest.fixture(autouse=True)
def _clean_redis():
    """Each test starts with an empty Redis (cache, counters, broker queues)."""
    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield
    client.close()


@pytest.fixture
def brand(db) -> Brand:
    return BrandFactory(name="Acme Tea", slug="acme")


@pytest.fixture
def other_brand(db) -> Brand:
    return BrandFactory(name="Rival Coffee", slug="rival")


def staff_client_for(brand: Brand, role: str = Role.MANAGER, username: str | None = None):
    membership = MembershipFactory(
        brand=brand, role=role, **({"user__username": username} if username else {})
    )
    issued = tenancy.staff_token_issue(user=membership.user, brand=brand)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.token}")
    client.user = membership.user
    client.brand = brand
    return client


def app_client_for(brand: Brand):
    issued = tenancy.app_key_create(brand=brand, name="mini-program")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {issued.raw_key}")
    client.brand = brand
    return client


def customer_client_for(customer: Customer):
    issued = tenancy.customer_token_issue(brand_id=customer.brand_id, customer_id=customer.pk)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.token}")
    client.customer = customer
    client.brand = customer.brand
    return client


@pytest.fixture
def staff_client(brand):
    return staff_client_for(brand, Role.MANAGER)


@pytest.fixture
def operator_client(brand):
    return staff_client_for(brand, Role.OPERATOR)


@pytest.fixture
def analyst_client(brand):
    return staff_client_for(brand, Role.ANALYST)


@pytest.fixture
def app_client(brand):
    return app_client_for(brand)


@pytest.fixture
def other_staff_client(other_brand):
    return staff_client_for(other_brand, Role.OWNER)


@pytest.fixture
def customer(brand) -> Customer:
    return CustomerFactory(brand=brand, display_name="Lin Mei")


@pytest.fixture
def customer_client(customer):
    return customer_client_for(customer)


@pytest.fixture
def other_customer_client(brand):
    return customer_client_for(CustomerFactory(brand=brand, display_name="Other Person"))


@pytest.fixture
def anon_client():
    return APIClient()


def admin_client_for(brand: Brand, role: str = Role.OWNER, username: str | None = None):
    """A Django test client signed in to the admin as a non-superuser staff member of brand."""
    from django.test import Client

    membership = MembershipFactory(
        brand=brand, role=role, **({"user__username": username} if username else {})
    )
    client = Client()
    client.force_login(membership.user)
    client.user = membership.user
    client.brand = brand
    return client


@pytest.fixture
def brand_admin_client(brand):
    """Owner of ``brand`` in the admin (not a superuser)."""
    return admin_client_for(brand, Role.OWNER)
