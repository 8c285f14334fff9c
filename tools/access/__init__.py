"""Delivering what was sold: access to chats, roles and the shop's own service (issue 15)."""
