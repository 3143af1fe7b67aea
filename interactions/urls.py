from django.urls import path
from rest_framework.routers import SimpleRouter

from .apis import InteractionBatchView, InteractionViewSet

router = SimpleRouter()
router.register("interactions", InteractionViewSet, basename="interaction")

urlpatterns = [
    path("interactions/batch/", InteractionBatchView.as_view(), name="interaction-batch"),
    *router.urls,
]
