"""Page URLs of the chat UI (the API is in chat/urls.py)."""

from django.urls import path

from chat import views

urlpatterns = [
    path("", views.room_list, name="rooms-page"),
    path("rooms/<slug:slug>/", views.room_detail, name="room-page"),
]
