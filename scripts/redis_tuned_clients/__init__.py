"""redis-tuned-clients: Django and redis-py settings, a linter for them, and who holds
the connections of an instance."""
