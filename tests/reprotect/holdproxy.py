#!/usr/bin/env python3
"""holdproxy: a TCP proxy that stops forwarding after a given byte count.

    holdproxy.py TARGET_PORT HOLD_BYTES

Listens on 127.0.0.1 (a free port: stderr says "holdproxy: listening on
127.0.0.1:PORT") and joins each connection to one to 127.0.0.1:TARGET_PORT.
Of what a client sends, the first HOLD_BYTES go through, then nothing more
("holdproxy: conn N: held after HOLD_BYTES bytes" on stderr) and it is not
read any more, until SIGUSR1 ("holdproxy: released"): from then on every
byte goes through. What the target sends always goes through.

A deterministic fault point for the tests (tests/lib.sh hold_proxy): a
live checkpoint held after fewer bytes than its first pre-copy round takes
is in pre-copy, whatever the machine's speed (the source needs the
destination's answer to the whole round to go on).

The target's end passes on as an end (after everything it sent), its
reset as a reset; a target that cannot be reached resets the client; the
proxy itself goes on. SIGTERM: exit 0.
"""
import signal
import socket
import sys
import threading

released = threading.Event()
lock = threading.RLock()


def say(msg):
    with lock:
        sys.stderr.write("holdproxy: " + msg + "\n")
        sys.stderr.flush()


def hard_close(s):
    """Close with a reset (SO_LINGER 0)."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        s.shutdown(socket.SHUT_RD)  # wakes a thread blocked reading it
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass


class Conn:
    def __init__(self, cid, client, target, hold):
        self.cid, self.client, self.target, self.hold = cid, client, target, hold
        self.sent = 0
        self.dead = threading.Event()

    def up(self):
        """Client to target, held after self.hold bytes until released."""
        try:
            while not self.dead.is_set():
                if self.sent >= self.hold and not released.is_set():
                    say("conn %d: held after %d bytes" % (self.cid, self.sent))
                    while not released.wait(0.1):
                        if self.dead.is_set():
                            return
                data = self.client.recv(65536)
                if self.dead.is_set():
                    return
                if not data:
                    self.target.shutdown(socket.SHUT_WR)
                    return
                while data:
                    n = len(data)
                    if not released.is_set():
                        n = min(n, max(self.hold - self.sent, 0))
                    if n:
                        self.target.sendall(data[:n])
                        self.sent += n
                        data = data[n:]
                    if data:
                        say("conn %d: held after %d bytes" % (self.cid, self.sent))
                        while not released.wait(0.1):
                            if self.dead.is_set():
                                return
        except OSError as e:
            say("conn %d: client side: %s" % (self.cid, e))
            self.dead.set()
            hard_close(self.target)

    def down(self):
        """Target to client: a reset passes on as a reset, an end as an
        end (everything the target sent reaches the client first)."""
        try:
            while True:
                data = self.target.recv(65536)
                if not data:
                    break
                self.client.sendall(data)
        except OSError as e:
            say("conn %d: target side: %s" % (self.cid, e))
            self.dead.set()
            hard_close(self.client)
            return
        say("conn %d: the target closed" % self.cid)
        self.dead.set()
        try:
            self.client.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def main():
    target_port, hold = int(sys.argv[1]), int(sys.argv[2])
    signal.signal(signal.SIGUSR1, lambda *_: (released.set(), say("released")))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    say("listening on 127.0.0.1:%d" % ls.getsockname()[1])
    cid = 0
    while True:
        client, _ = ls.accept()
        cid += 1
        try:
            target = socket.create_connection(("127.0.0.1", target_port))
        except OSError as e:
            say("conn %d: the target: %s" % (cid, e))
            hard_close(client)
            continue
        say("conn %d: open" % cid)
        c = Conn(cid, client, target, hold)
        threading.Thread(target=c.up, daemon=True).start()
        threading.Thread(target=c.down, daemon=True).start()


if __name__ == "__main__":
    main()
