"""``django.tasks`` tasks for the Coucou backend's tests (Django 6 only), importable by workers."""
