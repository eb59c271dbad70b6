"""A TCP proxy on 127.0.0.1 for fault-injection tests: clients connect to `proxy.port`, the
proxy connects to the real server (the test Dovecot) and copies bytes both ways until a
test arms a fault.

Faults act on what the server sends, counted from the moment they are armed, so a test
can let a session log in and list, then break the next reply in the middle:

    with FaultProxy(dovecot.host, dovecot.pop3_port) as proxy:
        with Pop3Session(replace(settings, port=proxy.port)) as session:
            session.listing()
            proxy.cut_after(1000)    # the client gets 1,000 more bytes, then the
            session.retr_to(1, out)  # connection closes on both sides

- `cut_after(n)`: pass n more bytes from the server; when it sends more, close both sides
  of that connection instead (the server sees the client vanish, the client sees the end
  of the stream). `cut_after(0)` before QUIT lets QUIT reach the server and loses its reply.
- `cut_now()`: close every connection at once, before the client sends anything more.
- `stall_after(n)`: pass n more bytes, then hold everything from the server (the
  connection stays open) until `release()` or the proxy stops.
- `refuse_commands("UIDL", ...)`: the client's command lines starting with these words
  reach the server misspelt ("XUIDL"), so the real server answers -ERR as a server
  without that command would.
- `rewrite_replies(old, new)`: every later occurrence of `old` in what the server sends
  reaches the client as `new` (within one received piece; meant for short listing lines,
  e.g. to make the real server list a UIDL twice).
"""

from __future__ import annotations

import socket
import threading

PIECE = 64 * 1024


class FaultProxy:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)  # lets the accept loop notice stop()
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._budget: int | None = None  # bytes from the server still allowed through
        self._on_empty = "cut"  # what happens when the budget is spent: "cut" or "stall"
        self._released = threading.Event()
        self._refused: tuple[bytes, ...] = ()
        self._rewrites: list[tuple[bytes, bytes]] = []
        self._stopping = threading.Event()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._threads: list[threading.Thread] = []
        self.connections = 0  # accepted so far

    # -- faults ---------------------------------------------------------------------------

    def cut_after(self, n: int) -> None:
        with self._lock:
            self._budget, self._on_empty = n, "cut"

    def cut_now(self) -> None:
        self._cut_all()

    def stall_after(self, n: int) -> None:
        with self._lock:
            self._budget, self._on_empty = n, "stall"
            self._released.clear()

    def refuse_commands(self, *words: str) -> None:
        self._refused = tuple(word.upper().encode() for word in words)

    def rewrite_replies(self, old: bytes, new: bytes) -> None:
        with self._lock:
            self._rewrites.append((old, new))

    def release(self) -> None:
        """Ends a stall: everything flows again."""
        with self._lock:
            self._budget = None
        self._released.set()

    # -- life cycle -----------------------------------------------------------------------

    def __enter__(self) -> FaultProxy:
        self._spawn(self._accept_loop)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopping.set()
        self._released.set()
        self._cut_all()
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                server = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._pairs.append((client, server))
                self.connections += 1
            self._spawn(self._client_to_server, client, server)
            self._spawn(self._server_to_client, client, server)

    # -- the copying ----------------------------------------------------------------------

    def _client_to_server(self, client: socket.socket, server: socket.socket) -> None:
        pending = b""  # a command line not yet complete
        try:
            while piece := client.recv(PIECE):
                if not self._refused:
                    server.sendall(piece)
                    continue
                *lines, pending = (pending + piece).split(b"\n")
                server.sendall(b"".join(self._misspelt(line) + b"\n" for line in lines))
        except OSError:
            pass
        _close(client, server)

    def _misspelt(self, line: bytes) -> bytes:
        word = line.split(b" ", 1)[0].strip().upper()
        return b"X" + line if word in self._refused else line

    def _server_to_client(self, client: socket.socket, server: socket.socket) -> None:
        try:
            while piece := server.recv(PIECE):
                with self._lock:
                    for old, new in self._rewrites:
                        piece = piece.replace(old, new)
                    budget, on_empty = self._budget, self._on_empty
                    if budget is not None:
                        self._budget = max(0, budget - len(piece))
                if budget is None or len(piece) <= budget:
                    client.sendall(piece)
                    continue
                if budget:
                    client.sendall(piece[:budget])
                if on_empty == "cut":
                    break
                self._released.wait()  # stalled: hold the rest until release()
                if self._stopping.is_set():
                    break
                client.sendall(piece[budget:])
        except OSError:
            pass
        _close(client, server)

    def _cut_all(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for client, server in pairs:
            _close(client, server)


def _close(*socks: socket.socket) -> None:
    for sock in socks:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
