"""A TCP proxy on loopback that can stop passing bytes while keeping every socket open: what a
half-open connection looks like from either end (a peer gone without a FIN, a link dropping
packets), which loopback alone cannot produce."""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class StallingProxy:
    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._passing = threading.Event()
        self._passing.set()
        self._closed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def stall(self) -> None:
        """Stop passing bytes either way; every connection stays open."""
        self._passing.clear()

    def resume(self) -> None:
        self._passing.set()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
                upstream = socket.create_connection(self._target)
            except OSError:
                return
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pass, args=(source, sink), daemon=True).start()

    def _pass(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self._passing.wait()  # stalled: the bytes wait here, unanswered
                if self._closed.is_set():
                    return
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):  # one side closed: so does the other
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed.set()
        self._passing.set()
        self._listener.close()
        for end in self._sockets:
            end.close()

    def __enter__(self) -> StallingProxy:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()

