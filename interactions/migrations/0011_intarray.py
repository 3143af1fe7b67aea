from django.contrib.postgres.operations import CreateExtension
from django.db import migrations


class Migration(migrations.Migration):
    """intarray: the recompute intersects customers' sorted friend arrays with its ``&``
    (a trusted extension: the database owner may create it)."""

    dependencies = [("interactions", "0010_tie_model")]

    operations = [CreateExtension("intarray")]
