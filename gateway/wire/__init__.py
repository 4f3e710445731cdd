"""The wire layer: every dialect's authentication and signature scheme, in both roles (see ``base``)."""
