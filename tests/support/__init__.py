"""Helpers shared by test packages; conftest.py files keep only the fixtures that wire them."""
