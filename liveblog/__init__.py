"""Liveblogs: staff write posts, anyone reads them live on ``liveblog:<slug>``."""
