"""The chat app's refusals, each with how a socket and a REST client are told of it.

One table, read by both the consumer and the API, so the two cannot drift: a refusal
carries its close code and reason (the socket closes) and its DRF exception and detail
(the response's status and body).
"""

from __future__ import annotations

from typing import ClassVar

from rest_framework.exceptions import APIException, NotFound, PermissionDenied

from realtime.socket.closecodes import CloseCode
from realtime.socket.errors import Forbidden, Refused, SocketError


class ChatError(Exception):
    """Base of the chat app's refusals."""

    close_code: ClassVar[CloseCode]
    close_reason: ClassVar[str]
    api_exception: ClassVar[type[APIException]]
    api_detail: ClassVar[str]

    @classmethod
    def refused(cls) -> Refused:
        """The refusal that closes a socket for this reason."""
        return Refused(cls.close_code, cls.close_reason)

    def socket_error(self) -> SocketError:
        """What a socket that sent a refused frame gets: by default, the close."""
        return self.refused()

    @classmethod
    def api_error(cls) -> APIException:
        """The REST error for this reason."""
        return cls.api_exception(cls.api_detail)


class NotAllowed(ChatError):
    """The user may not post in (or enter) this room."""

    close_code = CloseCode.FORBIDDEN
    close_reason = "not on this room's whitelist"
    api_exception = PermissionDenied
    api_detail = "You are not on this room's whitelist."


class RoomGone(ChatError):
    """There is no such room (any more: it may have been deleted meanwhile)."""

    close_code = CloseCode.NOT_FOUND
    close_reason = "no such room"
    api_exception = NotFound
    api_detail = "No such room."


class RoomArchived(ChatError):
    """The room is archived: read-only, nothing new is posted (or changed) in it.

    A socket is told with a `forbidden` error frame and stays open (it may still read);
    REST answers 403 `permission_denied`.
    """

    close_code = CloseCode.FORBIDDEN
    close_reason = "the room is archived"
    api_exception = PermissionDenied
    api_detail = "This room is archived: it is read-only."

    def socket_error(self) -> SocketError:
        return Forbidden(self.api_detail)
