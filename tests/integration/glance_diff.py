#!/usr/bin/env python3
"""glance_diff.py — the same request sequences to Debian's Glance and to
`imgfs serve --glance` (SPEC §19.6), and every difference between their
answers: status codes, and JSON bodies after masking what differs by
nature (image ids, member ids' times, links).

    glance_diff.py GLANCE_URL IMGFS_URL ALICE_TOKEN BOB_TOKEN DISK REFERENCE

Glance is reached with the headers keystonemiddleware would have set
(X-Identity-Status: Confirmed, X-Project-Id, X-User-Id, X-Roles), imgfs
with its tokens.  Every step names who asks, the method, the path (with
{a}, {b}, ... for the images the sequence made, each service's own id) and
the body.  A difference is a key:

    status <step>                the statuses differ
    listed <step>                a listing names other images, or in another order
    body <step>                  another body (not an image's, nor a list of them)
    field <name>                 an image's field differs (in any answer: one key a field)
    only-glance <name>, only-imgfs <name>   an image's field one side shows only
    member <name>                a member's field differs

The expected set is the list in REFERENCE's §19.6 "Differences from
Glance" (lines "* `KEY` — why"); the run prints every difference with the
two values, and fails (exit 1) when the set found is not exactly that list:
a new difference, or one listed that is gone.  Loopback only.
"""
import http.client
import json
import re
import sys
import urllib.parse

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?$")
LINKS = ("self", "file", "schema", "first")
PATCH_CT = "application/openstack-images-v2.1-json-patch"
NOWHERE = "00000000-0000-4000-8000-000000000000"


class Service:
    def __init__(self, name, url, auth):
        self.name = name
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.auth = auth  # who -> headers
        self.ids = {}     # logical name -> the service's id

    def request(self, who, method, path, body=None, ctype=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        headers = dict(self.auth[who])
        data = None
        if body is not None:
            if isinstance(body, (bytes, bytearray)):
                data = bytes(body)
                headers["Content-Type"] = ctype or "application/octet-stream"
            else:
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                headers["Content-Type"] = ctype or "application/json"
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
        raw = r.read()
        conn.close()
        try:
            doc = json.loads(raw) if raw and r.getheader("Content-Type", "").startswith("application/json") else None
        except ValueError:
            doc = None
        return r.status, doc


def fill(path, ids):
    return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), NOWHERE), path)


def mask(v, names):
    """Ids to the sequence's names, times and links to what they are."""
    if isinstance(v, dict):
        # tags are a set (Glance's come in its database's order)
        return {k: ("<link>" if k in LINKS else sorted(x) if k == "tags" and isinstance(x, list) else mask(x, names))
                for k, x in v.items()}
    if isinstance(v, list):
        return [mask(x, names) for x in v]
    if isinstance(v, str):
        if TIME.match(v):
            return "<time>"
        return UUID.sub(lambda m: names.get(m.group(0), "<uuid>"), v)
    return v


class Diff:
    def __init__(self):
        self.found = {}  # key -> first example

    def add(self, key, why):
        self.found.setdefault(key, why)

    def images(self, step, g, i):
        """Two masked image documents: field by field."""
        for k in sorted(set(g) | set(i)):
            if k not in i:
                self.add("only-glance " + k, "%s: glance %r" % (step, g[k]))
            elif k not in g:
                self.add("only-imgfs " + k, "%s: imgfs %r" % (step, i[k]))
            elif g[k] != i[k]:
                self.add("field " + k, "%s: glance %r, imgfs %r" % (step, g[k], i[k]))

    def members(self, step, g, i):
        for k in sorted(set(g) | set(i)):
            if g.get(k) != i.get(k):
                self.add("member " + k, "%s: glance %r, imgfs %r" % (step, g.get(k), i.get(k)))

    def compare(self, step, gs, gd, is_, idoc, mine):
        if gs != is_:
            self.add("status " + step, "glance %d, imgfs %d" % (gs, is_))
            return
        if gs >= 300 or gd is None or idoc is None:
            if (gd is None) != (idoc is None) and gs < 300:
                self.add("body " + step, "glance %r, imgfs %r" % (gd, idoc))
            return
        if isinstance(gd, dict) and "images" in gd:
            gl = [x for x in gd["images"] if x.get("id") in mine]
            il = [x for x in idoc["images"] if x.get("id") in mine]
            if [x["id"] for x in gl] != [x["id"] for x in il]:
                self.add("listed " + step, "glance %s, imgfs %s" % ([x["id"] for x in gl], [x["id"] for x in il]))
            for x, y in zip(gl, il):
                if x["id"] == y["id"]:
                    self.images(step, x, y)
            if ("next" in gd) != ("next" in idoc):
                self.add("body " + step, "next: glance %r, imgfs %r" % (gd.get("next"), idoc.get("next")))
            return
        if isinstance(gd, dict) and "members" in gd:
            gm = sorted(gd["members"], key=lambda m: m.get("member_id", ""))
            im = sorted(idoc["members"], key=lambda m: m.get("member_id", ""))
            if [m.get("member_id") for m in gm] != [m.get("member_id") for m in im]:
                self.add("body " + step, "members: glance %r, imgfs %r" % (gm, im))
            for x, y in zip(gm, im):
                self.members(step, x, y)
            return
        if isinstance(gd, dict) and "member_id" in gd:
            self.members(step, gd, idoc)
            return
        if isinstance(gd, dict) and "disk_format" in gd:
            self.images(step, gd, idoc)
            return
        if gd != idoc:
            self.add("body " + step, "glance %r, imgfs %r" % (gd, idoc))


def steps(disk, md5, sha512):
    """The sequence: (step, who, method, path, body, content type, makes)."""
    img = lambda name, extra=None: dict({"name": name, "disk_format": "raw", "container_format": "bare"}, **(extra or {}))
    s = []
    add = lambda *a: s.append(a)
    # images: a (tags, min_disk, a property), b, "c,d", p (protected)
    add("create-a", "alice", "POST", "/v2/images", img("a", {"tags": ["x", "y"], "min_disk": 3, "hw_foo": "1"}), None, "a")
    add("create-b", "alice", "POST", "/v2/images", img("b", {"tags": ["x"], "visibility": "shared"}), None, "b")
    add("create-cd", "alice", "POST", "/v2/images", img("c,d", {"min_ram": 64}), None, "cd")
    add("create-p", "alice", "POST", "/v2/images", img("p", {"protected": True, "visibility": "private"}), None, "p")
    add("create-bad-format", "alice", "POST", "/v2/images", img("z", {"disk_format": "floppy"}), None, None)
    add("create-bad-visibility", "alice", "POST", "/v2/images", img("z", {"visibility": "everyone"}), None, None)
    add("create-readonly-id", "alice", "POST", "/v2/images", img("z", {"status": "active"}), None, None)
    add("create-long-name", "alice", "POST", "/v2/images", img("n" * 256), None, None)
    add("create-not-json", "alice", "POST", "/v2/images", "{not json", None, None)
    add("create-too-many-tags", "alice", "POST", "/v2/images", img("z", {"tags": ["t%d" % i for i in range(129)]}), None, None)
    add("show-a-queued", "alice", "GET", "/v2/images/{a}", None, None, None)
    add("put-a", "alice", "PUT", "/v2/images/{a}/file", disk, None, None)
    add("put-a-again", "alice", "PUT", "/v2/images/{a}/file", disk, None, None)
    add("show-a", "alice", "GET", "/v2/images/{a}", None, None, None)
    add("show-nowhere", "alice", "GET", "/v2/images/%s" % NOWHERE, None, None, None)
    add("show-not-uuid", "alice", "GET", "/v2/images/nope", None, None, None)
    # list filters and operators
    for q in ["", "id={b}", "id=in:{a},{b}", "name=a", "name=in:a,b", "name=in:%22c,d%22", "name=eq:a",
              "status=active", "status=queued", "status=in:active,queued", "visibility=private", "visibility=shared",
              "disk_format=raw", "disk_format=in:raw,qcow2", "container_format=in:ova,docker", "owner=alice",
              "owner=in:alice,bob", "created_at=gte:2100-01-01T00:00:00Z", "created_at=lt:2100-01-01T00:00:00Z",
              "created_at=gt:2000-01-01", "updated_at=lte:1999-12-31T23:59:59Z", "updated_at=neq:2000-01-01T00:00:00Z",
              "size_min=1", "size_max=1", "size_min=1&size_max=%d" % len(disk), "checksum=" + md5,
              "os_hash_value=" + sha512, "min_disk=3", "min_ram=64", "tag=x", "tag=x&tag=y", "tag=nope",
              "hw_foo=1", "hw_foo=2", "protected=true", "protected=false", "os_hidden=false", "os_hidden=true",
              "member_status=all", "visibility=all"]:
        add("list " + q, "alice", "GET", "/v2/images?" + q, None, None, None)
    for q in ["name=foo:bar", "name=gt:a", "created_at=gte:garbage", "updated_at=in:2000-01-01",
              "name=in:%22a", "size_min=x", "size_min=-1", "protected=maybe", "os_hidden=maybe",
              "visibility=everyone", "member_status=maybe", "limit=-1", "limit=x", "marker=" + NOWHERE,
              "sort_key=bogus", "sort_dir=up", "sort=name:up", "sort=bogus:asc", "sort=name&sort_key=name",
              "sort=name&sort_dir=asc", "sort_key=name&sort_dir=asc&sort_dir=desc",
              "sort_key=name&sort_key=status&sort_key=size&sort_dir=asc&sort_dir=desc", "changes-since=2000-01-01"]:
        add("list-bad " + q, "alice", "GET", "/v2/images?" + q, None, None, None)
    # sorting and paging (the caller's own: the platform's images of imgfs aside)
    for q in ["sort_key=name&sort_dir=asc", "sort_key=name&sort_dir=desc", "sort_key=created_at&sort_dir=asc",
              "sort_key=size&sort_dir=desc", "sort=name:asc", "sort=name:desc,created_at", "sort=min_disk:desc,name:asc",
              "sort_key=name&sort_key=status&sort_dir=asc&sort_dir=desc", "sort=status:asc,name:desc",
              "sort=status,name:asc", "sort_key=status&sort_key=name&sort_dir=asc",
              "sort_key=status&sort_key=name", "sort_key=disk_format&sort_key=size&sort_dir=desc&sort_dir=asc",
              "sort=container_format:asc,updated_at:desc,id:asc"]:
        add("sort " + q, "alice", "GET", "/v2/images?owner=alice&" + q, None, None, None)
    add("page-1", "alice", "GET", "/v2/images?owner=alice&sort_key=name&sort_dir=asc&limit=2", None, None, None)
    add("page-2", "alice", "GET", "/v2/images?owner=alice&sort_key=name&sort_dir=asc&limit=2&marker={b}", None, None, None)
    add("page-3", "alice", "GET", "/v2/images?owner=alice&sort_key=name&sort_dir=asc&limit=2&marker={p}", None, None, None)
    add("page-multi-1", "alice", "GET", "/v2/images?owner=alice&sort=status:asc,name:desc&limit=2", None, None, None)
    add("page-multi-2", "alice", "GET", "/v2/images?owner=alice&sort=status:asc,name:desc&limit=2&marker={b}", None, None, None)
    add("page-default-1", "alice", "GET", "/v2/images?owner=alice&limit=3", None, None, None)
    add("page-default-2", "alice", "GET", "/v2/images?owner=alice&limit=3&marker={b}", None, None, None)
    add("page-limit-0", "alice", "GET", "/v2/images?owner=alice&limit=0", None, None, None)
    # patches
    p = lambda ops: json.dumps(ops)
    add("patch-replace-name", "alice", "PATCH", "/v2/images/{b}", p([{"op": "replace", "path": "/name", "value": "b2"}]), PATCH_CT, None)
    add("patch-add-prop", "alice", "PATCH", "/v2/images/{b}", p([{"op": "add", "path": "/hw_bar", "value": "2"}]), PATCH_CT, None)
    add("patch-replace-prop", "alice", "PATCH", "/v2/images/{b}", p([{"op": "replace", "path": "/hw_bar", "value": "3"}]), PATCH_CT, None)
    add("patch-remove-prop", "alice", "PATCH", "/v2/images/{b}", p([{"op": "remove", "path": "/hw_bar"}]), PATCH_CT, None)
    add("patch-remove-missing", "alice", "PATCH", "/v2/images/{b}", p([{"op": "remove", "path": "/hw_none"}]), PATCH_CT, None)
    add("patch-replace-missing", "alice", "PATCH", "/v2/images/{b}", p([{"op": "replace", "path": "/hw_none", "value": "1"}]), PATCH_CT, None)
    add("patch-add-existing", "alice", "PATCH", "/v2/images/{a}", p([{"op": "add", "path": "/hw_foo", "value": "9"}]), PATCH_CT, None)
    add("patch-min-ram", "alice", "PATCH", "/v2/images/{b}", p([{"op": "replace", "path": "/min_ram", "value": 512}]), PATCH_CT, None)
    add("patch-min-ram-str", "alice", "PATCH", "/v2/images/{b}", p([{"op": "replace", "path": "/min_ram", "value": "x"}]), PATCH_CT, None)
    add("patch-tags", "alice", "PATCH", "/v2/images/{b}", p([{"op": "replace", "path": "/tags", "value": ["q", "r"]}]), PATCH_CT, None)
    add("patch-readonly-id", "alice", "PATCH", "/v2/images/{b}", p([{"op": "replace", "path": "/id", "value": NOWHERE}]), PATCH_CT, None)
    add("patch-readonly-status", "alice", "PATCH", "/v2/images/{b}", p([{"op": "replace", "path": "/status", "value": "active"}]), PATCH_CT, None)
    add("patch-readonly-checksum", "alice", "PATCH", "/v2/images/{a}", p([{"op": "replace", "path": "/checksum", "value": "x"}]), PATCH_CT, None)
    add("patch-bad-op", "alice", "PATCH", "/v2/images/{b}", p([{"op": "move", "path": "/name", "value": "x"}]), PATCH_CT, None)
    add("patch-no-path", "alice", "PATCH", "/v2/images/{b}", p([{"op": "replace", "value": "x"}]), PATCH_CT, None)
    add("patch-not-list", "alice", "PATCH", "/v2/images/{b}", p({"op": "replace"}), PATCH_CT, None)
    add("patch-wrong-type", "alice", "PATCH", "/v2/images/{b}", p([{"op": "replace", "path": "/name", "value": "x"}]), "application/json", None)
    add("patch-visibility", "alice", "PATCH", "/v2/images/{b}", p([{"op": "replace", "path": "/visibility", "value": "public"}]), PATCH_CT, None)
    add("patch-protect-off", "alice", "PATCH", "/v2/images/{cd}", p([{"op": "replace", "path": "/protected", "value": "no"}]), PATCH_CT, None)
    add("patch-nowhere", "alice", "PATCH", "/v2/images/%s" % NOWHERE, p([{"op": "replace", "path": "/name", "value": "x"}]), PATCH_CT, None)
    add("patch-bob", "bob", "PATCH", "/v2/images/{b}", p([{"op": "replace", "path": "/name", "value": "x"}]), PATCH_CT, None)
    add("show-b", "alice", "GET", "/v2/images/{b}", None, None, None)
    # tags
    add("tag-add", "alice", "PUT", "/v2/images/{b}/tags/z", None, None, None)
    add("tag-add-again", "alice", "PUT", "/v2/images/{b}/tags/z", None, None, None)
    add("tag-delete", "alice", "DELETE", "/v2/images/{b}/tags/z", None, None, None)
    add("tag-delete-missing", "alice", "DELETE", "/v2/images/{b}/tags/z", None, None, None)
    add("tag-long", "alice", "PUT", "/v2/images/{b}/tags/" + "t" * 256, None, None, None)
    add("tag-nowhere", "alice", "PUT", "/v2/images/%s/tags/z" % NOWHERE, None, None, None)
    add("show-b-tags", "alice", "GET", "/v2/images/{b}", None, None, None)
    # members
    add("member-add", "alice", "POST", "/v2/images/{b}/members", {"member": "bob"}, None, None)
    add("member-add-again", "alice", "POST", "/v2/images/{b}/members", {"member": "bob"}, None, None)
    add("member-add-private", "alice", "POST", "/v2/images/{p}/members", {"member": "bob"}, None, None)
    add("member-add-no-body", "alice", "POST", "/v2/images/{b}/members", {}, None, None)
    add("member-list", "alice", "GET", "/v2/images/{b}/members", None, None, None)
    add("member-show", "alice", "GET", "/v2/images/{b}/members/bob", None, None, None)
    add("member-show-missing", "alice", "GET", "/v2/images/{b}/members/carol", None, None, None)
    add("bob-list-pending", "bob", "GET", "/v2/images?member_status=pending", None, None, None)
    add("bob-list-default", "bob", "GET", "/v2/images", None, None, None)
    add("bob-show-b", "bob", "GET", "/v2/images/{b}", None, None, None)
    add("member-owner-accepts", "alice", "PUT", "/v2/images/{b}/members/bob", {"status": "accepted"}, None, None)
    add("member-accept", "bob", "PUT", "/v2/images/{b}/members/bob", {"status": "accepted"}, None, None)
    add("member-bad-status", "bob", "PUT", "/v2/images/{b}/members/bob", {"status": "maybe"}, None, None)
    add("bob-list-accepted", "bob", "GET", "/v2/images?member_status=accepted", None, None, None)
    add("bob-list-default-2", "bob", "GET", "/v2/images", None, None, None)
    add("member-reject", "bob", "PUT", "/v2/images/{b}/members/bob", {"status": "rejected"}, None, None)
    add("bob-list-rejected", "bob", "GET", "/v2/images?member_status=rejected", None, None, None)
    add("bob-list-default-3", "bob", "GET", "/v2/images", None, None, None)
    add("bob-members", "bob", "GET", "/v2/images/{b}/members", None, None, None)
    add("member-delete", "alice", "DELETE", "/v2/images/{b}/members/bob", None, None, None)
    add("member-delete-again", "alice", "DELETE", "/v2/images/{b}/members/bob", None, None, None)
    add("member-list-empty", "alice", "GET", "/v2/images/{b}/members", None, None, None)
    # deletes
    add("delete-protected", "alice", "DELETE", "/v2/images/{p}", None, None, None)
    add("delete-bob", "bob", "DELETE", "/v2/images/{cd}", None, None, None)
    add("delete-cd", "alice", "DELETE", "/v2/images/{cd}", None, None, None)
    add("delete-cd-again", "alice", "DELETE", "/v2/images/{cd}", None, None, None)
    add("show-cd-deleted", "alice", "GET", "/v2/images/{cd}", None, None, None)
    add("put-deleted", "alice", "PUT", "/v2/images/{cd}/file", disk, None, None)
    add("list-end", "alice", "GET", "/v2/images?owner=alice&sort_key=name&sort_dir=asc", None, None, None)
    return s


def expected(reference):
    """The keys §19.6's "Differences from Glance" lists."""
    text = open(reference, encoding="utf-8").read()
    m = re.search(r"^#### Differences from Glance\n(.*?)(?=^#{2,4} )", text, re.S | re.M)
    if not m:
        sys.exit("glance_diff: %s has no '#### Differences from Glance' list" % reference)
    return set(re.findall(r"^\* `([^`]+)`", m.group(1), re.M))


def main():
    gurl, iurl, atok, btok, disk_path, reference = sys.argv[1:7]
    disk = open(disk_path, "rb").read()
    import hashlib
    md5, sha512 = hashlib.md5(disk).hexdigest(), hashlib.sha512(disk).hexdigest()
    ctx = lambda p: {"X-Identity-Status": "Confirmed", "X-Project-Id": p, "X-Tenant-Id": p, "X-User-Id": p,
                     "X-Roles": "member,reader"}
    g = Service("glance", gurl, {"alice": ctx("alice"), "bob": ctx("bob")})
    i = Service("imgfs", iurl, {"alice": {"X-Auth-Token": atok}, "bob": {"X-Auth-Token": btok}})
    d = Diff()
    for step, who, method, path, body, ctype, makes in steps(disk, md5, sha512):
        answers = []
        for svc in (g, i):
            st, doc = svc.request(who, method, fill(path, svc.ids), body, ctype)
            if makes and st == 201 and doc:
                svc.ids[makes] = doc["id"]
            answers.append((st, doc))
        names_g = {v: k for k, v in g.ids.items()}
        names_i = {v: k for k, v in i.ids.items()}
        (gs, gd), (is_, idoc) = answers
        mine_g, mine_i = set(g.ids.values()), set(i.ids.values())
        gd, idoc = mask(gd, names_g), mask(idoc, names_i)
        d.compare(step, gs, gd, is_, idoc, set(names_g.values()) | set(names_i.values()))
        print("%-60s glance %d imgfs %d" % (step[:60], gs, is_))
        del mine_g, mine_i
    want = expected(reference)
    found = set(d.found)
    for k in sorted(found):
        print("difference: %s  (%s)%s" % (k, d.found[k], "" if k in want else "  NEW: not in §19.6"))
    for k in sorted(want - found):
        print("difference listed in §19.6 but gone: %s" % k)
    print("glance_diff: %d differences, %d listed, %d new, %d gone" %
          (len(found), len(want), len(found - want), len(want - found)))
    return 0 if found == want else 1


if __name__ == "__main__":
    sys.exit(main())
