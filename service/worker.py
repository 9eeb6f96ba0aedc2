"""The Gunicorn worker: uvicorn's, with a drain before it stops, so a restart loses no request.

On SIGTERM (one worker restarted, a graceful reload with SIGHUP, a scale-down) uvicorn stops accepting and at
once closes every connection that has no request in progress. A request the client had already sent on such a
connection is lost: on a keep-alive connection between two requests, or on a connection accepted but not yet
read. This worker first stops accepting (the other workers take new connections), then for up to `DRAIN_S`
keeps its open connections and answers what arrives on them with `Connection: close` (see
service/middleware.py), so clients move over cleanly; only then does uvicorn's own shutdown run.
"""

from __future__ import annotations

import asyncio
import socket
import sys

from gunicorn.arbiter import Arbiter
from starlette.applications import Starlette
from uvicorn import Server
from uvicorn_worker import UvicornWorker

# Clients under load send their next request within milliseconds; an idle keep-alive connection still open
# after this is closed by uvicorn as before. Well inside Gunicorn's graceful_timeout.
DRAIN_S = 2.0


class DrainingServer(Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        # Read by the middleware: every response from now on closes its connection.
        if isinstance(self.config.app, Starlette):
            self.config.app.state.draining = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DRAIN_S
        while self.server_state.connections and loop.time() < deadline and not self.force_exit:
            await asyncio.sleep(0.05)
        await super().shutdown(sockets)


class DrainingWorker(UvicornWorker):  # type: ignore[misc]  # uvicorn_worker has no type information
    async def _serve(self) -> None:
        # UvicornWorker._serve with the draining server in place of uvicorn's.
        self.config.app = self.wsgi
        server = DrainingServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
