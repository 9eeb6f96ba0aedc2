"""The local edition: the production topology's twin on one machine, all bound to loopback."""
