import factory

from campaigns.models import Post


class PostFactory(factory.django.DjangoModelFactory):
    """A draft; publish it through ``campaigns.services.publish.post_publish``."""

    class Meta:
        model = Post

    author = factory.SubFactory("tests.factories.CustomerFactory")
    brand = factory.SelfAttribute("author.brand")
    text = factory.Faker("sentence")
