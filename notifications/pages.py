"""Page URLs of the notifications UI (the API is in notifications/urls.py)."""

from django.urls import path

from notifications import views

urlpatterns = [
    path("notifications/", views.notification_list, name="notifications-page"),
]
