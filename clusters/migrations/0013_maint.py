from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [
        ("clusters", "0012_adopt14"),
    ]

    operations = [
        migrations.AddField(
            model_name="node",
            name="maintenance_since",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="node",
            name="maintenance_job",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="clusters.job",
            ),
        ),
        migrations.AddField(
            model_name="finding",
            name="expected_in_maintenance",
            field=models.BooleanField(default=False),
        ),
    ]
