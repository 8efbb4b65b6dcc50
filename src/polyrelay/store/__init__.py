"""Records the gateway keeps: keys, users, teams, end users, spend."""
