"""The chat app's refusals, each with how a socket and a REST client are told of it.

One table, read by both the consumer and the API, so the two cannot drift: a refusal
carries its close code and reason (the socket closes) and its DRF exception and detail
(the response's status and body).
"""

from __future__ import annotations

from typing import ClassVar

from rest_framework.exceptions import (
    APIException,
    NotFound,
    PermissionDenied,
    ValidationError,
)

from realtime.socket.closecodes import CloseCode
from realtime.socket.errors import Declined, Refused, SocketError


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


class MessageRefusal(ChatError):
    """A frame or request naming a message was refused: on a socket an error frame (the
    socket stays open: Declined), on REST its status; never a close."""

    #: the error frame's `code`
    frame_code: ClassVar[str]
    #: the field at fault, when there is one (then REST answers field errors, a 400)
    field: ClassVar[str | None] = None

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.api_detail)
        self.detail = detail or self.api_detail

    def socket_error(self) -> Declined:
        """The error frame that answers this refusal (the socket stays open)."""
        errors = {self.field: self.detail} if self.field else None
        return Declined(self.frame_code, self.detail, errors=errors)

    def api_error(self) -> APIException:  # type: ignore[override]
        """The REST error: field errors when a field is at fault."""
        if self.field:
            return ValidationError({self.field: [self.detail]})
        return self.api_exception(self.detail)


class MessageGone(MessageRefusal):
    """There is no such message in this room."""

    close_code = CloseCode.NOT_FOUND
    close_reason = "no such message"
    api_exception = NotFound
    api_detail = "No such message in this room."
    frame_code = "not_found"


class NotPermitted(MessageRefusal):
    """The user may not do this to this message (edit another's, delete, versions)."""

    close_code = CloseCode.FORBIDDEN
    close_reason = "not permitted"
    api_exception = PermissionDenied
    api_detail = "You may not do this to this message."
    frame_code = "permission_denied"


class MessageDeleted(MessageRefusal):
    """The message is a tombstone: it cannot be edited or reacted to."""

    close_code = CloseCode.FORBIDDEN
    close_reason = "message deleted"
    api_exception = ValidationError
    api_detail = "The message is deleted."
    frame_code = "invalid"
    field = "id"


class TooManyReactions(MessageRefusal):
    """The message already carries the most distinct emoji it can (REACTIONS_MAX)."""

    close_code = CloseCode.FORBIDDEN
    close_reason = "too many reactions"
    api_exception = ValidationError
    api_detail = "A message carries at most 20 distinct emoji."
    frame_code = "invalid"
    field = "emoji"


class RoomArchived(ChatError):
    """The room is archived: read-only, nothing new is posted (or changed) in it.

    A socket is told with a `forbidden` error frame and stays open (it may still read);
    REST answers 403 `permission_denied`.
    """

    close_code = CloseCode.FORBIDDEN
    close_reason = "the room is archived"
    api_exception = PermissionDenied
    api_detail = "This room is archived: it is read-only."

    def socket_error(self) -> Declined:
        """The error frame that answers a send here (the socket stays open)."""
        return Declined("forbidden", self.api_detail)
