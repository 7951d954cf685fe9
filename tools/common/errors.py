"""Errors a vendor client raises. The policy pipeline turns each into an MCP tool error."""

from __future__ import annotations


class VendorError(Exception):
    """The vendor answered, and the answer is a failure (whatever its envelope claimed)."""

    hint = "Check the arguments against the tool description; do not retry the same call unchanged."

    def __init__(self, vendor: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.vendor = vendor
        self.message = message
        self.status = status

    def __str__(self) -> str:
        code = f" (vendor status {self.status})" if self.status is not None else ""
        return f"{self.vendor} refused the request{code}: {self.message}. {self.hint}"


class VendorNotFound(VendorError):
    """The record the call names does not exist at the vendor."""

    hint = "Check the identifier (for example the file number) and try again with an existing one."

    def __str__(self) -> str:
        return f"{self.vendor}: not found: {self.message}. {self.hint}"


class VendorUnavailable(VendorError):
    """The vendor could not be reached, timed out, or failed on its side (5xx, unreadable body)."""

    hint = "The vendor may be down; a read can be retried later. For a write, check whether it landed before retrying."

    def __str__(self) -> str:
        return f"{self.vendor} is unavailable: {self.message}. {self.hint}"


class VendorCircuitOpen(VendorUnavailable):
    """The vendor's circuit breaker is open: recent requests failed to reach it, so nothing was sent."""

    hint = (
        "Nothing was sent to the vendor for this call. Tell the person the system is unavailable right now and "
        "try again after the time above, or continue without it."
    )


class VendorAuthError(VendorError):
    """The configured credentials were rejected."""

    hint = "An operator must fix the configured credentials; retrying will not help."

    def __str__(self) -> str:
        return f"{self.vendor} rejected our credentials: {self.message}. {self.hint}"


class InvalidArgument(ValueError):
    """An argument passed type validation but is still unusable (cross-field rules, unknown names)."""
