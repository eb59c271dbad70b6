from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from accounts import two_factor
from webmail.views import (
    account_page,
    actions,
    compose,
    contacts,
    folders,
    identities,
    image_proxy,
    inboxes,
    live,
    mailbox,
    message,
    pop3_migration,
    retention,
    search,
    settings,
    sync,
)

_message = "mail/<int:account_id>/<int:uidvalidity>/<int:uid>/"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="mail_home", permanent=False)),
    path("mail/", mailbox.mail_home, name="mail_home"),
    path("mail/image-proxy/", image_proxy.image_proxy, name="image_proxy"),
    path("mail/search/", search.search_view, name="mail_search"),
    path("mail/counts/", live.unread_counts_view, name="unread_counts"),
    path("mail/all/", inboxes.all_inboxes_view, name="all_inboxes"),
    path("mail/inline/<str:token>/", message.inline_part_view, name="inline_part"),
    path("mail/<int:account_id>/", mailbox.folder_view, name="folder"),
    path("mail/<int:account_id>/messages/", actions.messages_action, name="messages_action"),
    path("mail/<int:account_id>/sync/", sync.account_refresh_view, name="account_refresh"),
    path("mail/<int:account_id>/compose/", compose.compose_view, name="compose"),
    path(
        "mail/<int:account_id>/compose/save/",
        compose.compose_autosave_view,
        name="compose_autosave",
    ),
    path("mail/<int:account_id>/folders/", folders.folder_list, name="folder_list"),
    path(
        "mail/<int:account_id>/folders/create/", folders.folder_create_view, name="folder_create"
    ),
    path(
        "mail/<int:account_id>/folders/rename/", folders.folder_rename_view, name="folder_rename"
    ),
    path(
        "mail/<int:account_id>/folders/delete/", folders.folder_delete_view, name="folder_delete"
    ),
    path(
        "mail/<int:account_id>/folders/subscribe/",
        folders.folder_subscribe_view,
        name="folder_subscribe",
    ),
    path("mail/<int:account_id>/folders/empty/", actions.folder_empty_view, name="folder_empty"),
    path(_message, message.message_view, name="message"),
    path(_message + "body/", message.message_body_view, name="message_body"),
    path(_message + "part/<str:part_id>/", message.message_part_view, name="message_part"),
    path(_message + "source/", message.message_source_view, name="message_source"),
    path(_message + "original/", message.message_original_view, name="message_original"),
    path("settings/", settings.preferences, name="preferences"),
    path(
        "settings/sign-out-everywhere/",
        settings.sign_out_everywhere,
        name="sign_out_everywhere",
    ),
    path("settings/two-step/", two_factor.two_factor_settings, name="two_factor_settings"),
    path("settings/two-step/start/", two_factor.two_factor_start, name="two_factor_start"),
    path("settings/two-step/setup/", two_factor.two_factor_setup, name="two_factor_setup"),
    path(
        "settings/two-step/backup-codes/",
        two_factor.two_factor_backup_codes,
        name="two_factor_backup_codes",
    ),
    path("settings/two-step/off/", two_factor.two_factor_off, name="two_factor_off"),
    path("settings/accounts/", settings.account_list, name="account_list"),
    path("settings/accounts/add/", settings.account_add, name="account_add"),
    path(
        "settings/accounts/<int:account_id>/",
        account_page.account_detail,
        name="account_detail",
    ),
    path(
        "settings/accounts/<int:account_id>/policy/",
        account_page.account_policy,
        name="account_policy",
    ),
    path(
        "settings/accounts/<int:account_id>/check/",
        account_page.account_check,
        name="account_check",
    ),
    path(
        "settings/accounts/<int:account_id>/cleanup/",
        account_page.account_cleanup,
        name="account_cleanup",
    ),
    path(
        "settings/accounts/<int:account_id>/cleanup/start/",
        account_page.account_cleanup_start,
        name="account_cleanup_start",
    ),
    path(
        "settings/accounts/<int:account_id>/move-to-imap/",
        pop3_migration.pop3_migration_page,
        name="pop3_migration_page",
    ),
    path(
        "settings/accounts/<int:account_id>/move-to-imap/pause/",
        pop3_migration.pop3_migration_pause_view,
        name="pop3_migration_pause",
    ),
    path(
        "settings/accounts/<int:account_id>/move-to-imap/resume/",
        pop3_migration.pop3_migration_resume_view,
        name="pop3_migration_resume",
    ),
    path(
        "settings/accounts/<int:account_id>/move-to-imap/remove-local/",
        pop3_migration.pop3_migration_local_remove_view,
        name="pop3_migration_local_remove",
    ),
    path(
        "settings/accounts/<int:account_id>/retention/",
        retention.retention_page,
        name="retention_page",
    ),
    path(
        "settings/accounts/<int:account_id>/retention/add/",
        retention.retention_rule_add,
        name="retention_rule_add",
    ),
    path(
        "settings/accounts/<int:account_id>/retention/defaults/",
        retention.retention_defaults_add,
        name="retention_defaults_add",
    ),
    path(
        "settings/accounts/<int:account_id>/retention/<int:rule_id>/",
        retention.retention_rule_edit,
        name="retention_rule_edit",
    ),
    path(
        "settings/accounts/<int:account_id>/retention/<int:rule_id>/delete/",
        retention.retention_rule_delete,
        name="retention_rule_delete",
    ),
    path(
        "settings/accounts/<int:account_id>/retention/preview/",
        retention.retention_preview,
        name="retention_preview",
    ),
    path(
        "settings/accounts/<int:account_id>/retention/start/",
        retention.retention_start,
        name="retention_start",
    ),
    path(
        "settings/accounts/<int:account_id>/delete/",
        settings.account_delete,
        name="account_delete",
    ),
    path(
        "settings/accounts/<int:account_id>/identities/",
        identities.identities_view,
        name="identity_list",
    ),
    path(
        "settings/accounts/<int:account_id>/identities/add/",
        identities.identity_form_view,
        name="identity_add",
    ),
    path(
        "settings/accounts/<int:account_id>/identities/<int:identity_id>/",
        identities.identity_form_view,
        name="identity_edit",
    ),
    path(
        "settings/accounts/<int:account_id>/identities/<int:identity_id>/delete/",
        identities.identity_delete_view,
        name="identity_delete",
    ),
    path("settings/contacts/", contacts.contacts_view, name="contact_list"),
    path("settings/contacts/add/", contacts.contact_form_view, name="contact_add"),
    path("settings/contacts/<int:contact_id>/", contacts.contact_form_view, name="contact_edit"),
    path(
        "settings/contacts/<int:contact_id>/delete/",
        contacts.contact_delete_view,
        name="contact_delete",
    ),
    path("contacts/suggest/", contacts.contacts_suggest_view, name="contact_suggest"),
    path("accounts/two-step/", two_factor.two_factor_verify, name="two_factor_verify"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]
