"""RSS and Atom feeds: fetching (through the egress guard) and their items, normalised."""
