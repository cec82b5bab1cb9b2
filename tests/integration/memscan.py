#!/usr/bin/env python3
"""memscan.py — how many copies of a secret does a process still hold?

    memscan.py PID STRING...

Reads every readable mapping of process PID (its heap, its threads'
stacks, libfuse's receive buffers, every anonymous and file mapping) from
/proc/PID/mem, as ptrace's access rules allow (root, or the process's own
user), and prints, for each STRING, one line "COUNT STRING": the number
of places its bytes are found.  A mapping the kernel will not let us read
([vvar], a device's memory) is skipped, and so is one over 8 GiB (a
sanitizer's shadow memory, below).  Exits 0; 2 on a usage error.

The test that uses it (test_secrets.sh) writes a password, lets the daemon
answer more requests, and expects 0 everywhere: SPEC §16, the password is
hashed and every copy of its bytes wiped.
"""
import sys

CHUNK = 16 << 20
# Larger readable mappings are skipped: in a sanitizer build they are
# AddressSanitizer's shadow memory (terabytes reserved, never data, and
# reading them would take hours); a Release daemon maps nothing near it.
HUGE = 8 << 30


def mappings(pid):
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            name = parts[5] if len(parts) > 5 else ""
            if parts[1][0] != "r" or name in ("[vvar]", "[vvar_vclock]", "[vsyscall]") or hi - lo > HUGE:
                continue
            yield lo, hi


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    pid = int(sys.argv[1])
    needles = [s.encode() for s in sys.argv[2:]]
    keep = max(len(n) for n in needles) - 1
    counts = [0] * len(needles)
    with open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
        for lo, hi in mappings(pid):
            tail = b""
            off = lo
            while off < hi:
                try:
                    mem.seek(off)
                    b = mem.read(min(CHUNK, hi - off))
                except (OSError, ValueError, OverflowError):
                    break
                if not b:
                    break
                buf = tail + b
                for i, n in enumerate(needles):
                    # every occurrence that ends inside the new bytes
                    start = 0
                    while True:
                        j = buf.find(n, start)
                        if j < 0:
                            break
                        if j + len(n) > len(tail):
                            counts[i] += 1
                        start = j + 1
                tail = buf[-keep:] if keep else b""
                off += len(b)
    for n, c in zip(needles, counts):
        print(c, n.decode(errors="replace"))


if __name__ == "__main__":
    main()
