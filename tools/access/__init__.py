"""Access: what a paid plan opens outside paybot, decided here and done through the outbox.

`resources` says what each plan opens; `grants` keeps one row per customer and thing opened,
open while a paid period (plus the grace period) covers it, and queues the outside effects
(a join link, a role, a webhook event) as outbox rows in the transaction that decided them.
"""
