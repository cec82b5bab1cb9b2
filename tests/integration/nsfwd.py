#!/usr/bin/python3
"""nsfwd.py NETNS PORT...: TCP forwarders from a network namespace's own
loopback to this one's, for tests that cut a host off (test_rados_cut.sh).

For each PORT it listens on 127.0.0.1:PORT inside NETNS (a namespace made
with `ip netns add`, its lo up) and forwards every connection to
127.0.0.1:PORT here, where the engines listen.  So a daemon started in
NETNS (nsenter --net) reaches PostgreSQL and Ceph at their usual addresses,
and every byte stays on this machine's loopback (127.0.0.1 on both sides:
the house's loopback rule).  Cutting the host off is then a matter of the
namespace's lo: `tc qdisc add dev lo root blackhole` inside NETNS drops
every packet between the daemon and the forwarders (nothing answers and
nothing refuses, as when a network drops a host), and deleting that qdisc
puts it back; the connections survive if the peers' own timeouts did not
end them meanwhile.

Prints "READY" once every listener is up; runs until killed.
"""
import ctypes
import os
import socket
import sys
import threading

CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)


def setns(fd):
    if libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: " + os.strerror(e))


def pump(src, dst):
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            dst.sendall(b)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve(listener, port):
    while True:
        conn, _ = listener.accept()
        try:
            up = socket.create_connection(("127.0.0.1", port))
        except OSError:
            conn.close()
            continue
        for a, b in ((conn, up), (up, conn)):
            threading.Thread(target=pump, args=(a, b), daemon=True).start()


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: nsfwd.py NETNS PORT...")
    ns, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    there = os.open("/var/run/netns/" + ns, os.O_RDONLY)
    # A socket belongs to the namespace its thread was in when it was
    # made: the listeners there, then back home for the upstream side.
    setns(there)
    listeners = []
    for p in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", p))
        s.listen(128)
        listeners.append((s, p))
    setns(home)
    for s, p in listeners:
        threading.Thread(target=serve, args=(s, p), daemon=True).start()
    print("READY", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
