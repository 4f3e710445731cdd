"""The shanghai dialect: codec, wire scheme, link, client and endpoint roles, simulator extras."""
