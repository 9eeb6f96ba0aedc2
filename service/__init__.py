"""The inference service: serves the registry's `production` model over HTTP (FastAPI under Gunicorn)."""

__version__ = "0.1.0"
