from rest_framework.routers import SimpleRouter

from .campaign_apis import CampaignViewSet, ConversionViewSet

router = SimpleRouter()
router.register("campaigns", CampaignViewSet, basename="campaign")
router.register("conversions", ConversionViewSet, basename="conversion")

urlpatterns = router.urls
