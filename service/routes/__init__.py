"""HTTP routes: thin, each one reads the request, calls the core, and shapes the answer."""
