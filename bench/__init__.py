"""Benchmarks of the inference service against `mlflow models serve` and a bare FastAPI endpoint (`make bench`)."""
