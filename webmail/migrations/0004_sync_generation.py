import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_mail_account_sync_state'),
        ('webmail', '0003_body_cache'),
    ]

    operations = [
        migrations.AddField(
            model_name='indexedfolder',
            name='flags_scan_from',
            field=models.PositiveBigIntegerField(default=0, verbose_name='flag scan resumes at UID'),
        ),
        migrations.AddField(
            model_name='indexedfolder',
            name='flags_scanned_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='all flags read'),
        ),
        migrations.AddField(
            model_name='indexedfolder',
            name='generation',
            field=models.PositiveIntegerField(default=0, verbose_name='generation'),
        ),
        migrations.AddField(
            model_name='indexedfolder',
            name='uidvalidity_changes',
            field=models.PositiveIntegerField(default=0, verbose_name='UIDVALIDITY changes'),
        ),
        migrations.AddField(
            model_name='indexedfolder',
            name='uidvalidity_changes_since',
            field=models.DateTimeField(blank=True, null=True, verbose_name='UIDVALIDITY changes counted since'),
        ),
        migrations.CreateModel(
            name='VanishedMessage',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('folder_name', models.CharField(max_length=1000, verbose_name='folder')),
                ('generation', models.PositiveIntegerField(default=0, verbose_name='generation')),
                ('uid', models.PositiveBigIntegerField(verbose_name='UID')),
                ('message_id', models.CharField(blank=True, max_length=255, verbose_name='Message-ID')),
                ('internal_date', models.DateTimeField(blank=True, null=True, verbose_name='received')),
                ('size', models.PositiveBigIntegerField(default=0, verbose_name='size')),
                ('has_attachments', models.BooleanField(default=False, verbose_name='has attachments')),
                ('preview', models.CharField(blank=True, max_length=200, verbose_name='preview')),
                ('search_text', models.TextField(blank=True, verbose_name='search text')),
                ('vanished_at', models.DateTimeField(verbose_name='vanished')),
                ('account', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.mailaccount')),
            ],
            options={
                'verbose_name': 'vanished message',
                'verbose_name_plural': 'vanished messages',
                'indexes': [models.Index(fields=['account', 'message_id'], name='vanished_message_key'), models.Index(fields=['account', 'vanished_at'], name='vanished_message_age')],
            },
        ),
    ]
