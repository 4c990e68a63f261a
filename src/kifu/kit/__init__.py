"""Small shared pieces used by every capability: errors, auth, pagination, money and time."""
