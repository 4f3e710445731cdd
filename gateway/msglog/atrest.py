"""Encryption of personal data at rest: SM4-GCM or AES-GCM, chosen by configuration, keys by id.

Why a key id beside every ciphertext: keys rotate. New entries are encrypted under the current
key; older entries keep theirs and stay readable as long as their key is configured as an older
key. Re-encrypting old entries is not possible: the hash chain covers the ciphertext, so the
old key must be kept until retention has purged the last entry that uses it.

Why associated data: the ciphertext is bound to what it is (``message`` or ``holder``) and to the
entry's message id, so a ciphertext copied into another entry does not decrypt (the chain would
catch it too; this makes the decrypting reader catch it on its own).

Blob layout for both ciphers: ``nonce(12) || ciphertext || tag(16)`` with a fresh random nonce.

Why the nonces come from :mod:`gateway.randomness` and not from ``os.urandom`` per call: a g60 delivery encrypts
three times (two log entries, the sealed receipt), and each ``os.urandom`` is a system call that hands the GIL over
to a waiting writer thread (profiled at ~90 µs of the event loop's wall time per call during the drain). The pool's
bytes are the OS CSPRNG's, each handed out once and never after a fork, so every nonce is still 96 fresh random
bits, as GCM under a random-nonce discipline requires. Each key keeps its cipher object (made once, not per call).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.randomness import random_bytes
from signing.errors import KeyInvalid, SignatureInvalid
from signing.secret import Secret
from signing.sm import Sm4Gcm

from .errors import DecryptionFailed

__all__ = ["AES_GCM", "CIPHERS", "SM4_GCM", "AtRestKey", "AtRestKeys", "aad_for", "plaintext_size"]

SM4_GCM: Final = "SM4-GCM"
AES_GCM: Final = "AES-GCM"
#: Cipher name -> the key sizes (bytes) it accepts.
CIPHERS: Final[Mapping[str, frozenset[int]]] = {SM4_GCM: frozenset({16}), AES_GCM: frozenset({16, 24, 32})}
_NONCE: Final = 12
_OVERHEAD: Final = 12 + 16


def aad_for(purpose: str, message_id: str) -> bytes:
    """The associated data binding a ciphertext to its role and its entry."""
    return f"tongban-msglog/1|{purpose}|{message_id}".encode()


def plaintext_size(blob: bytes) -> int:
    """The plaintext length of a blob (GCM adds a nonce and a tag, nothing else)."""
    return max(0, len(blob) - _OVERHEAD)


@dataclass(frozen=True, slots=True)
class AtRestKey:
    """One data key: its id, its cipher and the secret bytes (never shown in ``repr``)."""

    key_id: str
    cipher: str
    secret: Secret = field(repr=False)
    #: the cipher object under this key, made once (``__post_init__``)
    _aead: Sm4Gcm | AESGCM = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.key_id:
            raise KeyInvalid("key_id_missing", "an at-rest key needs a non-empty key id")
        sizes = CIPHERS.get(self.cipher)
        if sizes is None:
            raise KeyInvalid("cipher_unknown", f"at-rest cipher {self.cipher!r} unknown; use one of {sorted(CIPHERS)}")
        if len(self.secret) not in sizes:
            raise KeyInvalid("key_size", f"key {self.key_id!r}: {self.cipher} needs a key of {sorted(sizes)} bytes")
        aead = Sm4Gcm(self.secret) if self.cipher == SM4_GCM else AESGCM(self.secret.reveal())
        object.__setattr__(self, "_aead", aead)  # frozen: set once, here

    @classmethod
    def of(cls, key_id: str, secret: Secret | bytes, cipher: str = SM4_GCM) -> AtRestKey:
        """Build from raw bytes or a :class:`Secret`."""
        return cls(key_id, cipher, secret if isinstance(secret, Secret) else Secret(secret))

    def encrypt(self, plaintext: bytes, aad: bytes) -> bytes:
        """``nonce || ciphertext || tag`` under this key, with a fresh random nonce (see the module docstring)."""
        nonce = random_bytes(_NONCE)
        if isinstance(self._aead, Sm4Gcm):
            return self._aead.encrypt(plaintext, aad, nonce)
        return nonce + self._aead.encrypt(nonce, plaintext, aad)

    def decrypt(self, blob: bytes, aad: bytes) -> bytes:
        """Inverse of :meth:`encrypt`; :class:`DecryptionFailed` when the blob does not authenticate."""
        try:
            if isinstance(self._aead, Sm4Gcm):
                return self._aead.decrypt(blob, aad)
            if len(blob) < _OVERHEAD:
                raise DecryptionFailed("decrypt", f"ciphertext under key {self.key_id!r} is truncated")
            return self._aead.decrypt(blob[:_NONCE], blob[_NONCE:], aad)
        except (InvalidTag, SignatureInvalid) as exc:
            raise DecryptionFailed("decrypt", f"ciphertext under key {self.key_id!r} does not authenticate") from exc


@dataclass(frozen=True, slots=True)
class AtRestKeys:
    """The current data key (encrypts) and every key that may still decrypt, by key id."""

    current: AtRestKey
    by_id: Mapping[str, AtRestKey]

    @classmethod
    def create(cls, current: AtRestKey, older: Iterable[AtRestKey] = ()) -> AtRestKeys:
        """Keys from the current one plus older ones kept for reading; a key id may not be reused."""
        keys: dict[str, AtRestKey] = {}
        for key in (*older, current):
            if key.key_id in keys and keys[key.key_id] != key:
                raise KeyInvalid("duplicate_key_id", f"at-rest key id {key.key_id!r} configured twice")
            keys[key.key_id] = key
        return cls(current, keys)

    def encrypt(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        """``(key_id, blob)`` under the current key."""
        return self.current.key_id, self.current.encrypt(plaintext, aad)

    def decrypt(self, key_id: str, blob: bytes, aad: bytes) -> bytes:
        """Decrypt with the key the blob names; :class:`DecryptionFailed` if that key is not configured."""
        key = self.by_id.get(key_id)
        if key is None:
            raise DecryptionFailed("decrypt", f"no at-rest key with id {key_id!r} is configured")
        return key.decrypt(blob, aad)
