"""Signing primitives for the gateway: keys, JWS/JWT, SM2/SM3, HMAC, XMLDSig, X.509 trust, mTLS, RFC 9421, replay.

This package knows no platform. Each module is one primitive, correct and fail-closed; adapters compose the
platforms' schemes (which header carries what) from these pieces. Every failure is a
:class:`signing.errors.SigningError` subclass (tree drawn in :mod:`signing.errors`).
"""
