"""The hunan dialect: codec, wire scheme, link, client and endpoint roles, simulator extras."""
