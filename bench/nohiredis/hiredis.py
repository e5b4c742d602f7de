"""On ``PYTHONPATH`` first, hides the real hiredis: redis-py then uses its Python parser.
Only for measuring hiredis before/after (``python -m bench.compare coucou coucou_nohiredis``)."""

raise ImportError("hiredis hidden by bench/nohiredis")
