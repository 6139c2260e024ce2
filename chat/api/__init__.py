"""REST of the chat app (PROTOCOL.md section 2), one module per resource.

`rooms` (list, create, detail), `messages` (pages by seq, post), `members` (the
whitelist), `presence` (who is online); `common` holds what they share. chat/urls.py
routes to the views in each module.
"""
