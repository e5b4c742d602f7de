"""A test app: the namespaces of coucou.js's channel tests (tests/browser/channels_settings.py)."""
