"""Chat rooms: members talk live on ``chat:<slug>``, with its history and presence."""
