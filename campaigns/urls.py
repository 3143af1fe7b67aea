from django.urls import path
from rest_framework.routers import SimpleRouter

from .apis import FatiguePolicyView, FeedView, PostViewSet

router = SimpleRouter()
router.register("posts", PostViewSet, basename="post")

urlpatterns = [
    path("feed/", FeedView.as_view(), name="feed"),
    path("fatigue/policy/", FatiguePolicyView.as_view(), name="fatigue-policy"),
    *router.urls,
]
