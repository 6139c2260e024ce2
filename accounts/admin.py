from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import User
from notifications.admin import send_notification_to_users


@admin.register(User)
class AccountUserAdmin(UserAdmin):
    """The stock user admin, with the notify app's "send notification" action."""

    actions = [send_notification_to_users]
