"""A TCP proxy on loopback that can stop passing bytes while keeping every socket open: what a
half-open connection looks like from either end (a peer gone without a FIN, a link dropping
packets), which loopback alone cannot produce."""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class StallingProxy:
    """Passes bytes between a client and `target_port` until stalled; a stall holds them (the
    sender's writes still succeed, nothing answers), as a dead peer behind a live socket would."""

    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._passing = threading.Event()
        self._passing.set()
        self._closed = False
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def stall(self) -> None:
        self._passing.clear()

    def resume(self) -> None:
        """Pass bytes again, those held first: to whichever end is still open (a client that gave
        up on its connection meanwhile has closed it, and they end there)."""
        self._passing.set()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            try:
                upstream = socket.create_connection(self._target)
            except OSError:  # the target is down: so is this connection
                client.close()
                continue
            with self._lock:
                if self._closed:
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
                for source, sink in ((client, upstream), (upstream, client)):
                    pump = threading.Thread(target=self._pass, args=(source, sink), daemon=True)
                    self._threads.append(pump)
                    pump.start()

    def _pass(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                self._passing.wait()
                sink.sendall(data)
        for end in (source, sink):  # one side closed: so does the other
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Shut every socket (closing alone would not wake a thread blocked on one), then wait for
        the threads."""
        with self._lock:
            self._closed = True
            ends = [self._listener, *self._sockets]
        self._passing.set()
        for end in ends:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(5)
        for end in ends:
            end.close()

    def __enter__(self) -> StallingProxy:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()
