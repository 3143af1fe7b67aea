from django.urls import path

from .apis import CallbackEventListView, ChurnListView, WeComCallbackView, WeComConfigView

urlpatterns = [
    path("wecom/config/", WeComConfigView.as_view(), name="wecom-config"),
    path("wecom/callback/<slug:brand_slug>/", WeComCallbackView.as_view(), name="wecom-callback"),
    path("wecom/events/", CallbackEventListView.as_view(), name="wecom-events"),
    path("churn/", ChurnListView.as_view(), name="churn-list"),
]
