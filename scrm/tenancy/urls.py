from django.urls import path

from .apis import StaffTokenView

urlpatterns = [path("auth/token/", StaffTokenView.as_view(), name="auth-token")]
