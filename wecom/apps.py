from django.apps import AppConfig


class WeComConfigApp(AppConfig):
    name = "wecom"
    verbose_name = "WeCom connector"
    default_auto_field = "django.db.models.BigAutoField"
