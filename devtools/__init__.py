"""Tooling for running Coucou on a developer's machine and in its test suite."""
