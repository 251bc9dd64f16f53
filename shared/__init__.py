"""Domain and adapters shared by the session pipeline's functions."""
