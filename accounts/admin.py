from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from rest_framework_simplejwt.token_blacklist.admin import OutstandingTokenAdmin
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.models import User
from accounts.views import AdminLoginForm


@admin.register(User)
class AccountUserAdmin(UserAdmin):
    """The stock user admin; feature apps extend it with their own actions."""


class IssuedTokenAdmin(OutstandingTokenAdmin):
    """simplejwt's list of issued refresh tokens, without the tokens themselves.

    The stock page shows each refresh token in full: anyone allowed to view it could
    sign in as its user until it expires.
    """

    exclude = ["token"]

    def get_readonly_fields(self, *args: Any, **kwargs: Any) -> list[str]:
        return [f.name for f in self.model._meta.fields if f.name != "token"]


admin.site.unregister(OutstandingToken)
admin.site.register(OutstandingToken, IssuedTokenAdmin)

# The admin's sign-in refuses past LOGIN_THROTTLE with a message and a 429, as /login/.
admin.site.login_form = AdminLoginForm
