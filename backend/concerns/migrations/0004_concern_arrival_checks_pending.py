from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("concerns", "0003_inboundsms_payload"),
    ]

    operations = [
        # Concerns raised before this existed had their arrival checks at intake: false for them,
        # true for every concern raised from now on.
        migrations.AddField(
            model_name="concern",
            name="arrival_checks_pending",
            field=models.BooleanField(default=False),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="concern",
            name="arrival_checks_pending",
            field=models.BooleanField(default=True),
        ),
        migrations.AddIndex(
            model_name="concern",
            index=models.Index(
                condition=models.Q(("arrival_checks_pending", True)),
                fields=["id"],
                name="concern_arrival_pending",
            ),
        ),
    ]
