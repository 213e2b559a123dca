from django.urls import path

from conversations import views

app_name = "conversations"

urlpatterns = [
    path("", views.home, name="home"),
    path("c/new/", views.conversation_create, name="create"),
    path("c/<uuid:public_id>/", views.conversation_detail, name="detail"),
    path("c/<uuid:public_id>/rename/", views.conversation_rename, name="rename"),
    path("c/<uuid:public_id>/delete/", views.conversation_delete, name="delete"),
    path("c/<uuid:public_id>/settings/", views.conversation_settings, name="settings"),
    path("c/<uuid:public_id>/count/", views.conversation_count, name="count"),
]
