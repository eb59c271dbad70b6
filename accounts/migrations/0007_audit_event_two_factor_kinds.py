# Two-step sign-in (accounts.two_factor) adds four kinds of audit event.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_mail_account_sync_enabled"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("sign_in", "signed in"),
                    ("sign_in_failed", "sign-in failed"),
                    ("locked_out", "locked out"),
                    ("sign_out", "signed out"),
                    ("sign_out_everywhere", "signed out everywhere"),
                    ("account_added", "mail account added"),
                    ("account_removed", "mail account removed"),
                    ("admin_action", "admin action"),
                    ("two_factor_on", "two-step sign-in turned on"),
                    ("two_factor_off", "two-step sign-in turned off"),
                    ("two_factor_passed", "sign-in code accepted"),
                    ("two_factor_failed", "wrong sign-in code"),
                ],
                max_length=32,
                verbose_name="what",
            ),
        ),
    ]
