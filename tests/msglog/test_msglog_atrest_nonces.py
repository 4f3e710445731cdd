"""At-rest encryption: a fresh 96-bit nonce per encryption, from the read-ahead pool, across threads and keys."""

from __future__ import annotations

import os
import threading

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.msglog import AES_GCM, AtRestKey
from gateway.msglog.errors import DecryptionFailed
from signing.sm import sm4_gcm_decrypt

NONCE = 12


@pytest.mark.parametrize(("cipher", "size"), [("SM4-GCM", 16), (AES_GCM, 32)])
def test_every_encryption_has_its_own_nonce_and_decrypts(cipher: str, size: int) -> None:
    secret = os.urandom(size)
    key = AtRestKey.of("k", secret, cipher)
    blobs: list[bytes] = []

    def encrypt_many() -> None:
        blobs.extend(key.encrypt(b"same plaintext", b"same aad") for _ in range(2000))

    threads = [threading.Thread(target=encrypt_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    nonces = {blob[:NONCE] for blob in blobs}
    assert len(blobs) == 8000 and len(nonces) == 8000  # no nonce twice, whichever thread asked
    assert len({blob[NONCE:] for blob in blobs}) == 8000  # so no ciphertext twice for the same plaintext
    for blob in blobs[:50]:
        assert key.decrypt(blob, b"same aad") == b"same plaintext"
    # the blob is the plain GCM layout, readable by the primitive itself (nothing about the pool is stored)
    blob = blobs[0]
    if cipher == AES_GCM:
        assert AESGCM(secret).decrypt(blob[:NONCE], blob[NONCE:], b"same aad") == b"same plaintext"
    else:
        assert sm4_gcm_decrypt(secret, blob, b"same aad") == b"same plaintext"
    with pytest.raises(DecryptionFailed):
        key.decrypt(blob, b"other aad")


def test_a_forked_child_encrypts_under_other_nonces_than_its_parent() -> None:
    key = AtRestKey.of("k", os.urandom(16))
    key.encrypt(b"x", b"")  # the parent now holds a partly used block of the pool
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next nonces and leave at once
        os.write(write, b"".join(key.encrypt(b"x", b"")[:NONCE] for _ in range(8)))
        os._exit(0)
    os.close(write)
    child = os.read(read, 8 * NONCE)
    os.close(read)
    os.waitpid(pid, 0)
    parent = b"".join(key.encrypt(b"x", b"")[:NONCE] for _ in range(8))
    assert len(child) == 8 * NONCE
    assert not {child[i : i + NONCE] for i in range(0, len(child), NONCE)} & {
        parent[i : i + NONCE] for i in range(0, len(parent), NONCE)
    }
