"""The g60 dialect: codec, wire scheme, link, client and endpoint roles, simulator extras."""
