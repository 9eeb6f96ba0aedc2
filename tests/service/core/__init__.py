"""Unit tests of service/core/, one module per source module; no server, no HTTP."""
