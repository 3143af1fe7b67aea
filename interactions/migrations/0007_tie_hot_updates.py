from django.db import migrations, models


class Migration(migrations.Migration):
    """Tie rows updated by the scoring worker can be HOT: the (brand, source, -strength) index
    becomes (brand, source) — no query reads strength in index order — and the table leaves
    20% of each page free for the new row versions."""

    dependencies = [
        ("interactions", "0006_tie_lean_indexes"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="tie",
            name="ix_tie_strongest",
        ),
        migrations.AddIndex(
            model_name="tie",
            index=models.Index(fields=["brand", "source"], name="ix_tie_brand_source"),
        ),
        migrations.RunSQL(
            sql="ALTER TABLE interactions_tie SET (fillfactor = 80)",
            reverse_sql="ALTER TABLE interactions_tie RESET (fillfactor)",
        ),
    ]
