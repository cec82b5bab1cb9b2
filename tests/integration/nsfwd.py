#!/usr/bin/python3
"""nsfwd.py NETNS [--pg PORT] PORT...: TCP forwarders from a network
namespace's own loopback to this one's, for tests that cut a host off
(test_rados_cut.sh).

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

A cut is passed on to the server (--pg PORT: PostgreSQL's).  Its end of a
connection is the forwarder here, which answers its probes whatever
happens in NETNS: a session of a host cut off inside a write transaction
held the service's write lock until the forwarder died (test_rados_cut
hung to ctest's timeout, issue 49).  So the forwarder's socket in NETNS
stands in for the server's: it probes as the server's does (SO_KEEPALIVE,
on every PostgreSQL socket), with the timers the client asks the server
for — each `SET tcp_keepalives_idle|interval|count|tcp_user_timeout = N`
that goes by is applied to it too — and when TCP gives that socket up, the
forwarder closes its upstream side: the server sees its peer gone when,
and only when, its own socket would have.  (The Ceph daemons' sockets are
left as they are: a client's OSD and monitor sessions are not probed.)

Prints "READY" once every listener is up, then a line for each timer a
PostgreSQL connection set and for each connection TCP gave up; runs until
killed.
"""
import ctypes
import os
import re
import socket
import sys
import threading

CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)


def setns(fd):
    if libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: " + os.strerror(e))


# A session's timers, as the client sets them (the protocol's simple
# query is plain text on loopback), and the socket option each one is.
PG_TIMERS = re.compile(rb"SET (tcp_keepalives_idle|tcp_keepalives_interval|tcp_keepalives_count|tcp_user_timeout)"
                       rb" = (\d+)")
PG_SOCKOPT = {
    b"tcp_keepalives_idle": socket.TCP_KEEPIDLE,
    b"tcp_keepalives_interval": socket.TCP_KEEPINTVL,
    b"tcp_keepalives_count": socket.TCP_KEEPCNT,
    b"tcp_user_timeout": socket.TCP_USER_TIMEOUT,  # in ms, as PostgreSQL's
}
out_lock = threading.Lock()


def say(line):
    with out_lock:
        print(line, flush=True)


def pump(src, dst, name, pg_sock=None):
    """Bytes from src to dst until either ends.  pg_sock: src is a
    PostgreSQL client's connection, whose timers are applied to it."""
    tail = b""
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            if pg_sock is not None:
                seen = tail + b
                for m in PG_TIMERS.finditer(seen):
                    if m.end() > len(tail):  # not a match already applied
                        pg_sock.setsockopt(socket.IPPROTO_TCP, PG_SOCKOPT[m.group(1)], int(m.group(2)))
                        say("%s: %s %s" % (name, m.group(1).decode(), m.group(2).decode()))
                tail = seen[-80:]
            dst.sendall(b)
    except OSError as e:
        if e.errno is not None:
            say("%s: %s: both sides closed" % (name, os.strerror(e.errno)))
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve(listener, port, pg):
    n = 0
    while True:
        conn, _ = listener.accept()
        try:
            up = socket.create_connection(("127.0.0.1", port))
        except OSError:
            conn.close()
            continue
        n += 1
        name = "port %d connection %d" % (port, n)
        if pg:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        threading.Thread(target=pump, args=(conn, up, name, conn if pg else None), daemon=True).start()
        threading.Thread(target=pump, args=(up, conn, name), daemon=True).start()


def main():
    args = sys.argv[1:]
    pg = None
    if len(args) >= 3 and args[1] == "--pg":
        pg = int(args[2])
        del args[1:3]
        args.append(str(pg))
    if len(args) < 2:
        sys.exit("usage: nsfwd.py NETNS [--pg PORT] PORT...")
    ns, ports = args[0], [int(p) for p in args[1:]]
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
        threading.Thread(target=serve, args=(s, p, p == pg), daemon=True).start()
    say("READY")
    threading.Event().wait()


if __name__ == "__main__":
    main()
