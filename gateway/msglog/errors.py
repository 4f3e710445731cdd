"""The message log's own failures, on top of the store's tree (storage errors are the store's types).

::

    GatewayError (gateway.errors)              the gateway's one root
    └── StoreError (gateway.store.errors)      storage failed; StoreUnavailable is the retryable one
        └── MessageLogError                    the log refused an operation
            ├── DecryptionFailed               no key for a key id, or a ciphertext does not authenticate
            ├── IntegrityError                 a decrypted message does not match its logged hash
            └── NothingToExport                the requested seal range holds no sealed segment

Why under ``StoreError``: the pipeline already treats storage failures as one family; the log is
storage. Messages name key ids, seal numbers and sequence numbers, never message contents.
"""

from __future__ import annotations

from gateway.store.errors import StoreError

__all__ = ["DecryptionFailed", "IntegrityError", "MessageLogError", "NothingToExport"]


class MessageLogError(StoreError):
    """The message log refused an operation."""


class DecryptionFailed(MessageLogError):
    """A ciphertext names an unknown key id, or does not authenticate under its key."""


class IntegrityError(MessageLogError):
    """A decrypted message does not hash to the value the chain recorded for it."""


class NothingToExport(MessageLogError):
    """The requested seal range is empty (nothing sealed yet, or already purged)."""
