"""Signing primitives for the gateway: keys, JWS/JWT, SM2/SM3, HMAC, XMLDSig, X.509 trust, mTLS, RFC 9421, replay.

This package knows no platform. Each module is one primitive, correct and fail-closed; adapters compose the
platforms' schemes (which header carries what) from these pieces. Every failure is a
:class:`signing.errors.SigningError` subclass (tree drawn in :mod:`signing.errors`).

Modules: ``errors`` (exception tree), ``secret`` (redacted shared secrets), ``keys`` (PEM/hex loading,
``SigningKey``/``VerificationKey``/``KeyRing``), ``b64`` (strict codecs), ``jws`` (detached unencoded JWS),
``jwt`` (PyJWT with allow-list and injected clock), ``sm`` (SM3, HMAC-SM3, SM2-SM3, SM4-GCM), ``digests``
(hex SHA-256, MD5), ``trust`` (``TrustStore``), ``xmldsig`` (enveloped XMLDSig), ``tls`` (mTLS contexts, peer
code), ``sfv`` + ``httpsig`` (RFC 8941 subset, RFC 9421/9530), ``replay`` (``ReplayGuard``), ``jwks``
(JWKS publication), ``devpki`` (development PKI).
"""
