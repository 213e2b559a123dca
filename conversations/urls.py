from django.urls import path

from conversations.views import chat, exports, leaderboard, organize, search, settings, sharing

app_name = "conversations"

urlpatterns = [
    path("", chat.home, name="home"),
    path("search/", search.conversation_search, name="search"),
    path("sidebar/", organize.conversation_sidebar, name="sidebar"),
    path("archived/", organize.conversation_archived_list, name="archived"),
    path("leaderboard/", leaderboard.leaderboard_page, name="leaderboard"),
    path("c/new/", chat.conversation_create, name="create"),
    path("c/<uuid:public_id>/", chat.conversation_detail, name="detail"),
    path("c/<uuid:public_id>/rename/", settings.conversation_rename, name="rename"),
    path("c/<uuid:public_id>/delete/", organize.conversation_delete, name="delete"),
    path("c/<uuid:public_id>/pin/", organize.conversation_pin, name="pin"),
    path("c/<uuid:public_id>/archive/", organize.conversation_archive, name="archive"),
    path("c/<uuid:public_id>/settings/", settings.conversation_settings, name="settings"),
    path("c/<uuid:public_id>/count/", chat.conversation_count, name="count"),
    path("c/<uuid:public_id>/summary/", settings.conversation_summary, name="summary"),
    path("c/<uuid:public_id>/share/", sharing.conversation_share, name="share"),
    path(
        "c/<uuid:public_id>/export.md",
        exports.conversation_export_markdown,
        name="export_markdown",
    ),
    path("c/<uuid:public_id>/export.json", exports.conversation_export_json, name="export_json"),
    path(
        "c/<uuid:public_id>/m/<int:message_id>.md",
        exports.message_markdown,
        name="message_markdown",
    ),
    path("export/all.json", exports.conversations_export_all, name="export_all"),
    path("import/", exports.conversations_import, name="import"),
    path("shares/", sharing.shared_link_list, name="shared_links"),
    path("shares/<int:pk>/revoke/", sharing.shared_link_revoke, name="shared_link_revoke"),
    path("s/<str:token>/", sharing.shared_conversation, name="shared"),
    path("s/<str:token>/continue/", sharing.shared_conversation_continue, name="shared_continue"),
]
