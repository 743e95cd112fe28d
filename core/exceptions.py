"""The one error hierarchy of the portal.

Services raise these; the API exception handler (core.api) and the page views map them
to a status code and a message, so a broken rule is a clear 4xx, never a 500.
"""

from __future__ import annotations


class DomainError(Exception):
    """A request that breaks a business rule. `status_code` says how HTTP reports it."""

    status_code = 409
    code = "conflict"

    def __init__(self, message: str, *, fields: dict | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class PermissionDenied(DomainError):
    status_code = 403
    code = "permission_denied"


class InvalidInput(DomainError):
    """Input that is well-formed but not acceptable; `fields` maps field -> messages."""

    status_code = 400
    code = "invalid"
