"""What the people who run the shop can do: stats, the settlement ledger, one payment's story,
user lookup, manual grants and revocations, resending and reconciling. Never given to the
agent: customers reach none of it."""
