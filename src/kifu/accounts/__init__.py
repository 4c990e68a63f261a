"""Accounts: users, auth tokens, subscriptions, the AI quota and allowlist, watch-list symbols."""
