"""The Django Channels application under test: a room consumer that broadcasts through
the channel layer and a view that reads and writes the cache."""
