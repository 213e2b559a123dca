from django.urls import path

from conversations import views

app_name = "conversations"

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.conversation_search, name="search"),
    path("sidebar/", views.conversation_sidebar, name="sidebar"),
    path("archived/", views.conversation_archived_list, name="archived"),
    path("leaderboard/", views.leaderboard_page, name="leaderboard"),
    path("c/new/", views.conversation_create, name="create"),
    path("c/<uuid:public_id>/", views.conversation_detail, name="detail"),
    path("c/<uuid:public_id>/rename/", views.conversation_rename, name="rename"),
    path("c/<uuid:public_id>/delete/", views.conversation_delete, name="delete"),
    path("c/<uuid:public_id>/pin/", views.conversation_pin, name="pin"),
    path("c/<uuid:public_id>/archive/", views.conversation_archive, name="archive"),
    path("c/<uuid:public_id>/settings/", views.conversation_settings, name="settings"),
    path("c/<uuid:public_id>/count/", views.conversation_count, name="count"),
    path("c/<uuid:public_id>/share/", views.conversation_share, name="share"),
    path(
        "c/<uuid:public_id>/export.md",
        views.conversation_export_markdown,
        name="export_markdown",
    ),
    path("c/<uuid:public_id>/export.json", views.conversation_export_json, name="export_json"),
    path("export/all.json", views.conversations_export_all, name="export_all"),
    path("import/", views.conversations_import, name="import"),
    path("shares/", views.shared_link_list, name="shared_links"),
    path("shares/<int:pk>/revoke/", views.shared_link_revoke, name="shared_link_revoke"),
    path("s/<str:token>/", views.shared_conversation, name="shared"),
    path("s/<str:token>/continue/", views.shared_conversation_continue, name="shared_continue"),
]
