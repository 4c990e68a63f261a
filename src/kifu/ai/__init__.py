"""AI review: provider clients, personal keys, opinions on bubbles, one-shot advice, accuracy."""
