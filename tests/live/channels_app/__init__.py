"""A test app that declares namespaces for the live channel tests (tests/live/channels_settings.py)."""
