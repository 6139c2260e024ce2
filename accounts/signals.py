"""Credentials taken back stay taken back: sockets close, JWTs die, failures count.

Logging out of the web UI, a changed password hash (set_password + save, from the admin,
`changepassword` or a password-change form alike) and deactivation of the user revoke
every JWT of that user and close every socket of that user, chat and notify, on every
process, with 4401 (after commit). Deleting the user closes the sockets; its tokens then
name nobody and are refused. Writes through `QuerySet.update()` send no signals and are
not seen here. A failed sign-in on any path counts towards LOGIN_THROTTLE.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out, user_login_failed
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from accounts.models import User
from accounts.services import user_credentials_revoke, user_sockets_close
from accounts.throttling import login_failure_record

_FLAG = "_sockets_close_after_save"
_WATCHED = frozenset({"password", "is_active"})


@receiver(user_logged_out, dispatch_uid="accounts.sockets_close_on_logout")
def sockets_close_on_logout(
    sender: Any, request: Any, user: Any, **kwargs: Any
) -> None:
    """Logging out of the web UI ends every socket and every JWT of the user."""
    if user is not None and getattr(user, "pk", None) is not None:
        user_credentials_revoke(user_id=user.pk)


@receiver(pre_save, sender=User, dispatch_uid="accounts.sockets_note_credentials")
def sockets_note_credentials(
    sender: type[User],
    instance: User,
    raw: bool = False,
    update_fields: Any = None,
    **kwargs: Any,
) -> None:
    """Before a save, note whether it changes the password hash or deactivates the user."""
    setattr(instance, _FLAG, False)
    if raw or instance._state.adding or instance.pk is None:
        return
    if update_fields is not None and not (_WATCHED & set(update_fields)):
        return  # e.g. last_login on every login: no query
    # Compare with the stored row, not a snapshot taken at load: robust to stale instances.
    old = sender._default_manager.filter(pk=instance.pk).values_list(
        "password", "is_active"
    )
    stored = old.first()
    if stored is None:
        return
    old_password, was_active = stored
    deferred = instance.get_deferred_fields()
    password_changed = "password" not in deferred and instance.password != old_password
    deactivated = "is_active" not in deferred and was_active and not instance.is_active
    setattr(instance, _FLAG, password_changed or deactivated)


@receiver(post_save, sender=User, dispatch_uid="accounts.sockets_close_on_credentials")
def sockets_close_on_credentials(
    sender: type[User], instance: User, **kwargs: Any
) -> None:
    """A new password or a deactivation ends every socket and every JWT of the user."""
    if getattr(instance, _FLAG, False):
        setattr(instance, _FLAG, False)
        user_credentials_revoke(user_id=instance.pk, user=instance)


@receiver(post_delete, sender=User, dispatch_uid="accounts.sockets_close_on_delete")
def sockets_close_on_delete(sender: type[User], instance: User, **kwargs: Any) -> None:
    """A deleted user's sockets end too (their registry rows went with the user)."""
    user_sockets_close(user_id=instance.pk)


@receiver(user_login_failed, dispatch_uid="accounts.login_failure_count")
def login_failure_count(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    """A failed sign-in, on any path, counts against the client and the username."""
    username = credentials.get(get_user_model().USERNAME_FIELD)
    login_failure_record(request, username if isinstance(username, str) else None)
