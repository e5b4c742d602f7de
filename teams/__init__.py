"""Teams: users who share a channel, ``team:<id>``, that carries the jobs they start on it."""
