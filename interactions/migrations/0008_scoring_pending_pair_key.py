from django.db import migrations, models


class Migration(migrations.Migration):
    """The scoring outbox row carries its event's pair (actor id + target id): a brand's
    scoring batches are split by pair, so that two of them can run at the same time.
    Pending rows get it from the log; a row whose interaction is gone (nothing to score,
    the next claim would have deleted it) is deleted."""

    dependencies = [
        ("interactions", "0007_tie_hot_updates"),
    ]

    operations = [
        migrations.AddField(
            model_name="scoringpending",
            name="pair_key",
            field=models.BigIntegerField(null=True),
        ),
        migrations.RunSQL(
            sql="""
                UPDATE interactions_scoring_pending p SET pair_key = i.actor_id + i.target_id
                  FROM interactions_interaction i WHERE i.id = p.interaction_id;
                DELETE FROM interactions_scoring_pending WHERE pair_key IS NULL;
            """,
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name="scoringpending",
            name="pair_key",
            field=models.BigIntegerField(),
        ),
    ]
