"""factory_boy factories shared by every test package."""

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from customers.models import Advocate, Customer, Friendship
from scrm.tenancy.models import Brand, Membership, Role


class BrandFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Brand

    name = factory.Sequence(lambda n: f"Brand {n}")
    slug = factory.Sequence(lambda n: f"brand-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True
    password = factory.django.Password("pw-for-tests")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    brand = factory.SubFactory(BrandFactory)
    role = Role.MANAGER


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    brand = factory.SubFactory(BrandFactory)
    external_id = factory.Sequence(lambda n: f"union-{n:06d}")
    display_name = factory.Faker("name")
    phone = factory.Sequence(lambda n: f"+86138{n:08d}")


class FriendshipFactory(factory.django.DjangoModelFactory):
    """Use ``customers.services.friendship_create`` when counts matter."""

    class Meta:
        model = Friendship

    brand = factory.SelfAttribute("customer_low.brand")
    customer_low = factory.SubFactory(CustomerFactory)
    customer_high = factory.SubFactory(CustomerFactory, brand=factory.SelfAttribute("..brand"))
    since = factory.LazyFunction(timezone.now)


class AdvocateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Advocate

    customer = factory.SubFactory(CustomerFactory)
    brand = factory.SelfAttribute("customer.brand")
    referral_code = factory.Sequence(lambda n: f"REF{n:07d}")
