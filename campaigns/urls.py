from django.urls import path
from rest_framework.routers import SimpleRouter

from .apis import FeedView, PostViewSet

router = SimpleRouter()
router.register("posts", PostViewSet, basename="post")

urlpatterns = [path("feed/", FeedView.as_view(), name="feed"), *router.urls]
