"""Journal: bubbles, trade links, outcomes, similar search, notes, manual positions, export."""
