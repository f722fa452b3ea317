from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("clusters", "0008_alerts")]

    operations = [
        migrations.AddField(
            model_name="finding",
            name="last_known_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="drbdresource",
            name="options",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
