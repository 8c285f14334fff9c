"""Operator commands: `/admin ...` in the chats and `paybot admin ...` on the terminal share
one parser, one runner and one way of writing the answers (English: operators' text)."""
