"""The operators' web dashboard: server-rendered pages on a listener of its own (aiohttp),
signed in from the chat (`tools/admin/signin.py`), live payments by Server-Sent Events."""
