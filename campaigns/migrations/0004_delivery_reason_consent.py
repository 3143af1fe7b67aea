from django.db import migrations

# The per-recipient reason of a withdrawn consent to commercial posts is `consent` (it was
# `no_marketing_consent` before consent was split per purpose): stored rows follow.


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0003_fatigue_policy")]

    operations = [
        migrations.RunSQL(
            sql="UPDATE campaigns_delivery SET reason = 'consent'"
            " WHERE reason = 'no_marketing_consent'",
            reverse_sql="UPDATE campaigns_delivery SET reason = 'no_marketing_consent'"
            " WHERE reason = 'consent'",
        ),
    ]
