"""The serving core: load, validate, predict, cache and reload. Plain Python, no web framework inside."""
