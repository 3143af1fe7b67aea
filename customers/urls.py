from django.urls import path
from rest_framework.routers import SimpleRouter

from .apis import AdvocateViewSet, CustomerTokenView, CustomerViewSet, FriendshipViewSet

router = SimpleRouter()
router.register("customers", CustomerViewSet, basename="customer")
router.register("friendships", FriendshipViewSet, basename="friendship")
router.register("advocates", AdvocateViewSet, basename="advocate")

urlpatterns = [
    path("auth/customer-token/", CustomerTokenView.as_view(), name="auth-customer-token"),
    *router.urls,
]
