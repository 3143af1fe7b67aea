from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "scrm.tenancy"
    label = "tenancy"
    verbose_name = "Brands and access"
