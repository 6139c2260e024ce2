"""The custom user model, from the first migration on."""

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A user; custom from day one so fields can be added without a painful migration."""

    # Bumped by accounts.services.user_credentials_revoke (password change, logout of the
    # web UI, deactivation); a JWT carrying an older value is refused. Only that
    # service's UPDATE writes it, so it is kept out of forms.
    token_version = models.PositiveIntegerField(default=0, editable=False)

    def as_frame(self) -> dict[str, int | str]:
        """The protocol's user object: `{"id", "username"}`."""
        return {"id": self.pk, "username": self.username}
