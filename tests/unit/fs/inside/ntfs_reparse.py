# ntfs_reparse.py MOUNT: Windows reparse points on an ntfs-3g mount (for
# test_ntfs.c's fixture): a relative symbolic link, an absolute one to
# drive C: and a junction, written as their reparse data
# (system.ntfs_reparse_data), as Windows would store them.
import os, struct, sys

def symlink(subst, shown, relative):
    s, p = subst.encode("utf-16-le"), shown.encode("utf-16-le")
    body = struct.pack("<HHHHI", 0, len(s), len(s), len(p), 1 if relative else 0) + s + p
    return struct.pack("<IHH", 0xA000000C, len(body), 0) + body

def junction(subst, shown):
    s, p = subst.encode("utf-16-le") + b"\0\0", shown.encode("utf-16-le") + b"\0\0"
    body = struct.pack("<HHHH", 0, len(s) - 2, len(s), len(p) - 2) + s + p
    return struct.pack("<IHH", 0xA0000003, len(body), 0) + body

m = sys.argv[1]
for name, data, isdir in (("win-rel", symlink("Users\\h", "Users\\h", True), False),
                          ("win-abs", symlink("\\??\\C:\\Windows\\System32", "C:\\Windows\\System32", False), False),
                          ("win-junction", junction("\\??\\C:\\Windows", "C:\\Windows"), True)):
    p = os.path.join(m, name)
    os.mkdir(p) if isdir else open(p, "w").close()
    os.setxattr(p, "system.ntfs_reparse_data", data)
