"""The custom user model, from the first migration on."""

from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """A user; custom from day one so fields can be added without a painful migration."""

    def as_frame(self) -> dict[str, int | str]:
        """The protocol's user object: `{"id", "username"}`."""
        return {"id": self.pk, "username": self.username}
