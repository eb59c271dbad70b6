from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('webmail', '0005_pop3_store'),
    ]

    operations = [
        migrations.AddField(
            model_name='renderedbody',
            name='page',
            field=models.JSONField(blank=True, null=True, verbose_name='page data'),
        ),
    ]
