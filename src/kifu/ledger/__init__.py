"""The ledger: trade events and their dedupe key, venues, instruments, accounts, positions."""
