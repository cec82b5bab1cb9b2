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
    field name (unnamed)         the name of an image made without one
    schema <name> <property>     a schema's property: one side only, or another type or enum
    bytes <step>                 a download's bytes, or its Content-Range, differ
    header <name>                a create's Location, OpenStack-image-store-ids or
                                 OpenStack-image-import-methods differs (in any create)

The expected set is the list in REFERENCE's §19.6 "Differences from
Glance" (bullets "* `KEY`, `KEY` — why"); the run prints every difference with the
two values, and fails (exit 1) when the set found is not exactly that list:
a new difference, or one listed that is gone.  Loopback only.
"""
import http.client
import json
import re
import sys
import urllib.parse

BASE = re.compile(r"http://127\.0\.0\.1:\d+")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?$")
LINKS = ("self", "file", "schema", "first")
PATCH_CT = "application/openstack-images-v2.1-json-patch"
NOWHERE = "00000000-0000-4000-8000-000000000000"
NONE = "<no Content-Type>"


class Service:
    def __init__(self, name, url, auth):
        self.name = name
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.auth = auth  # who -> headers
        self.ids = {}     # logical name -> the service's id

    def request(self, who, method, path, body=None, ctype=None, extra=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        headers = dict(self.auth[who], **(extra or {}))
        data = None
        if body is not None:
            if isinstance(body, (bytes, bytearray)):
                data = bytes(body)
                headers["Content-Type"] = ctype or "application/octet-stream"
            else:
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                headers["Content-Type"] = ctype or "application/json"
        if ctype == NONE:  # a body without a Content-Type
            del headers["Content-Type"]
        try:
            conn.request(method, path, body=data, headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered before the body was all sent: the answer is still read
        r = conn.getresponse()
        raw = r.read()
        conn.close()
        self.raw, self.content_range = raw, r.getheader("Content-Range")
        self.headers = {k.lower(): v for k, v in r.getheaders()}
        try:
            doc = json.loads(raw) if raw and r.getheader("Content-Type", "").startswith("application/json") else None
        except ValueError:
            doc = None
        return r.status, doc


def fill(path, ids):
    """{a}: the service's id of a; {A}: the same in capitals."""
    return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), ids.get(m.group(1).lower(), NOWHERE).upper()
                                                    if m.group(1).isupper() else NOWHERE), path)


def times(svc, who, path):
    """{a@created_at}: that field of the service's own image a, as it shows it."""
    def one(m):
        st, doc = svc.request(who, "GET", "/v2/images/" + svc.ids.get(m.group(1), NOWHERE))
        return urllib.parse.quote(str(doc.get(m.group(2)))) if st == 200 and doc else "none"
    return re.sub(r"\{(\w+)@(\w+)\}", one, path)


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
        return UUID.sub(lambda m: names.get(m.group(0), "<uuid>"), BASE.sub("<base>", v))
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
                unnamed = k == "name" and g[k] is None
                self.add("field " + k + (" (unnamed)" if unnamed else ""), "%s: glance %r, imgfs %r" % (step, g[k], i[k]))

    def members(self, step, g, i):
        for k in sorted(set(g) | set(i)):
            if g.get(k) != i.get(k):
                self.add("member " + k, "%s: glance %r, imgfs %r" % (step, g.get(k), i.get(k)))

    def schema(self, step, g, i):
        """Two schemas: their properties' names, types and enums (the
        wording of descriptions, and imgfs's bounds, aside)."""
        def props(doc):
            for v in doc.get("properties", {}).values():
                items = v.get("items") if isinstance(v, dict) and v.get("type") == "array" else None
                if isinstance(items, dict) and ("$ref" in items or "properties" in items) and doc.get("name") != "image":
                    if "$ref" in items:
                        items = doc.get("definitions", {}).get(items["$ref"].split("/")[-1], {})
                    return items.get("properties", {})
            return doc.get("properties", {})
        gp, ip = props(g), props(i)
        for k in sorted(set(gp) | set(ip)):
            pick = lambda d: (d.get("type"), d.get("enum")) if isinstance(d, dict) else d  # self, file, schema: masked
            if pick(gp.get(k)) != pick(ip.get(k)):
                self.add("schema %s %s" % (g.get("name"), k), "%s: glance %r, imgfs %r" % (step, gp.get(k), ip.get(k)))

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
        if isinstance(gd, dict) and "properties" in gd and "name" in gd:
            self.schema(step, gd, idoc)
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
    # e (a property with a blank, a description, hidden), f (a tag twice: one), and creates refused
    add("create-e", "alice", "POST", "/v2/images", img("e", {"os_distro": "my os", "description": "d e", "os_hidden": True}), None, "e")
    add("create-f", "alice", "POST", "/v2/images", img("f", {"tags": ["x", "x", "z"]}), None, "f")
    for name, body in [("with-id", img("z", {"id": "11111111-2222-4333-8444-555555555555"})),
                       ("min-ram-text", img("z", {"min_ram": "64"})), ("protected-text", img("z", {"protected": "yes"})),
                       ("owner-other", img("z", {"owner": "bob"})), ("property-blank-key", img("z", {"hw foo": "1"})),
                       ("property-number", img("z", {"hw_int": 5})), ("locations", img("z", {"locations": []})),
                       ("list-body", []), ("tag-256", img("z", {"tags": ["t" * 256]})),
                       ("public", img("z", {"visibility": "public"})), ("community", img("z", {"visibility": "community"})),
                       ("body-300k", img("z", {"description": "d" * (300 << 10)}))]:
        add("create-" + name, "alice", "POST", "/v2/images", body, None, None)
    # an image made without a name, and one named null: shown, then gone (no listing sees them)
    add("create-unnamed", "alice", "POST", "/v2/images", {}, None, "u")
    add("show-unnamed", "alice", "GET", "/v2/images/{u}", None, None, None)
    add("delete-unnamed", "alice", "DELETE", "/v2/images/{u}", None, None, None)
    add("create-name-null", "alice", "POST", "/v2/images", img(None), None, "nn")
    add("delete-name-null", "alice", "DELETE", "/v2/images/{nn}", None, None, None)
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
    # fresh: two filters at once, with sort and paging, quotes and commas, empty values, operators
    # where none is taken, times in every form python's iso8601 reads (and not), repeated keys
    for q in ["name=a&status=active", "status=queued&visibility=shared", "tag=x&name=a", "disk_format=raw&container_format=bare",
              "status=queued&sort_key=name&sort_dir=asc&limit=1", "status=queued&sort_key=name&sort_dir=asc&limit=1&marker={b}",
              "name=in:%22a,b%22,c", "name=in:%22c,d%22,a", "name=in:a,%22c,d%22", "name=in:", "name=in:a,,b", "name=in:a,",
              "name=in:%22%22", "name=in:%22a%22b", "name=%22a%22", "name=in:a%20,b", "name=eq:in:a",
              "name=", "status=", "tag=", "owner=", "id=", "size_min=", "size_max=", "created_at=", "visibility=",
              "protected=", "os_hidden=", "member_status=", "limit=", "marker=", "sort_key=", "sort_dir=", "sort=",
              "hw_foo=", "checksum=", "min_disk=", "status=gt:active", "id=neq:{a}", "created_at=foo:2000-01-01",
              "name=in:a:b", "hw_foo=in:1,2", "hw_foo=eq:1", "min_disk=gt:1", "size_min=gte:1", "visibility=in:shared,private",
              "owner=eq:alice", "tag=in:x,y", "os_hidden=eq:true", "created_at=gte:2000-01-01T00:00:00",
              "created_at=gte:2000-01-01T00:00:00%2B02:00", "created_at=gte:2000-01-01T00:00:00-05:00",
              "created_at=gte:2000-01-01T00:00:00.123456Z", "created_at=gte:2000-01-01%2000:00:00",
              "created_at=gte:20000101T000000Z", "created_at=gte:2000-01-01T00:00Z", "created_at=gte:2000-01-01T00Z",
              "created_at=gte:2000-13-01", "created_at=gte:2000-01-01T25:00:00Z", "created_at=2000-01-01T00:00:00Z",
              "created_at=eq:2000", "created_at=gte:2000-01", "created_at=gte:2000-01-01T00:00:00%2B0200",
              "created_at=lt:9999-12-31T23:59:59Z", "created_at=gt:0001-01-01", "created_at=gte:0000-01-01",
              "created_at=gte:2000-01-01T00:00:00,5Z", "created_at=gte:2000-02-30", "created_at=gte:2000-01-01T00:00:60Z",
              "created_at=gte:2000-01-01T", "created_at=gte:%202000-01-01", "created_at=gte:2000-01-01Z",
              "created_at=gte:2000-01-01T00:00:00%2B23:59", "created_at=gte:2000-01-01T00:00:00%2B24:00",
              "created_at=gte:2000-1-1", "created_at=gte:200001", "updated_at=gt:2000-01-01&created_at=lt:2100-01-01",
              "created_at=gte:2000-01-01&created_at=lt:2100-01-01", "created_at=gte:2100-01-01&created_at=lt:2000-01-01",
              # at an image's own time (each service's): the image alone, so that no other's timing counts
              "created_at=gte:{a@created_at}&id={a}", "created_at=lt:{a@created_at}&id={a}",
              "created_at=gte:{f@created_at}&id={f}", "created_at=lt:{f@created_at}&id={f}",
              "updated_at=gte:{a@updated_at}&id={a}", "updated_at=lt:{a@updated_at}&id={a}",
              "size_min=100&size_max=1", "size_min=0", "size_max=0", "size=%d" % len(disk), "size=x", "size_min=1.5",
              "size_min=99999999999999999999", "size_min=%2B1", "min_disk_min=1", "min_ram_max=64", "virtual_size_min=1",
              "virtual_size=1.0", "min_ram=-1", "tag=x&tag=nope", "tag=X", "tag=x&tag=x", "tag=%20x%09",
              "visibility=community", "visibility=public", "visibility=shared&member_status=all",
              "os_hidden=True", "os_hidden=1", "os_hidden=yes", "os_hidden=FALSE", "os_hidden=0", "os_hidden=off",
              "protected=True", "protected=1", "protected=yes", "protected=no", "protected=FALSE",
              "os_distro=my%20os", "os_distro=my+os", "os_distro=my", "description=d%20e", "hw_foo=1&os_hidden=true",
              "limit=1000", "limit=1001", "limit=99999999999999999999", "limit=2147483648", "limit=01",
              "marker=nope", "sort_key=ID", "sort_dir=ASC", "sort=name:asc,created_at", "sort=name:asc:x", "sort=,name",
              "sort=name,", "sort=name,name", "sort_key=name&sort_key=name", "sort=name:ASC", "sort_key=tags",
              "sort_key=checksum", "sort_key=protected", "sort_key=os_hidden", "sort_key=virtual_size",
              "sort_key=os_hash_value", "sort_key=hw_foo", "sort=name:", "sort=:asc", "sort=%20name%20:%20asc%20",
              "sort=name:%20,id", "sort_key=%20name&sort_dir=asc%20", "sort_dir=desc",
              "sort_key=name&sort_key=status&sort_key=size&sort_key=id&sort_key=created_at",
              "unknown_param=1&status=queued", "name=a&name=b", "name=b&name=a", "status=active&status=queued",
              "id={a}&id={b}", "hw_foo=2&hw_foo=1", "status=ACTIVE", "visibility=Private", "disk_format=RAW",
              "owner=ALICE", "status=deactivated", "status=killed", "status=deleted"]:
        add("list-new " + q, "alice", "GET", "/v2/images?" + q, None, None, None)
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
    # what bob lists of alice's before any share
    for q in ["visibility=all", "visibility=shared", "visibility=community", "visibility=public", "visibility=private",
              "member_status=all", "member_status=pending", "member_status=rejected", "member_status=accepted",
              "visibility=shared&member_status=all", "visibility=private&member_status=all", "owner=alice", "owner=bob"]:
        add("bob-before " + q, "bob", "GET", "/v2/images?" + q, None, None, None)
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
    # e shared with bob: answered every way, and what bob lists meanwhile
    add("member-add-e", "alice", "POST", "/v2/images/{e}/members", {"member": "bob"}, None, None)
    add("member-add-unknown", "alice", "POST", "/v2/images/{e}/members", {"member": "carol"}, None, None)
    add("member-add-self", "alice", "POST", "/v2/images/{e}/members", {"member": "alice"}, None, None)
    add("member-add-number", "alice", "POST", "/v2/images/{e}/members", {"member": 5}, None, None)
    add("member-add-with-status", "alice", "POST", "/v2/images/{e}/members", {"member": "bob", "status": "accepted"}, None, None)
    add("member-bob-adds", "bob", "POST", "/v2/images/{e}/members", {"member": "bob"}, None, None)
    add("member-bob-deletes", "bob", "DELETE", "/v2/images/{e}/members/bob", None, None, None)
    add("member-bob-shows", "bob", "GET", "/v2/images/{e}/members/bob", None, None, None)
    add("member-bob-shows-alice", "bob", "GET", "/v2/images/{e}/members/alice", None, None, None)
    add("member-bob-lists-a", "bob", "GET", "/v2/images/{a}/members", None, None, None)
    add("member-bob-pending-e", "bob", "PUT", "/v2/images/{e}/members/bob", {"status": "pending"}, None, None)
    add("member-bob-no-status", "bob", "PUT", "/v2/images/{e}/members/bob", {}, None, None)
    add("member-bob-extra-key", "bob", "PUT", "/v2/images/{e}/members/bob", {"status": "rejected", "x": 1}, None, None)
    add("member-bob-accepts-b", "bob", "PUT", "/v2/images/{b}/members/bob", {"status": "accepted"}, None, None)
    for q in ["visibility=all", "visibility=shared", "visibility=private", "member_status=all", "member_status=pending",
              "member_status=rejected", "member_status=accepted", "visibility=shared&member_status=all",
              "visibility=shared&member_status=rejected", "os_hidden=true", "os_hidden=true&member_status=all",
              "owner=alice", "owner=alice&member_status=all", "marker={p}", "marker={e}",
              "marker={b}&sort_key=name&sort_dir=asc", "tag=x"]:
        add("bob " + q, "bob", "GET", "/v2/images?" + q, None, None, None)
    add("bob-show-e", "bob", "GET", "/v2/images/{e}", None, None, None)
    add("bob-members-e", "bob", "GET", "/v2/images/{e}/members", None, None, None)
    add("bob-patch-e", "bob", "PATCH", "/v2/images/{e}", json.dumps([{"op": "replace", "path": "/name", "value": "x"}]), PATCH_CT, None)
    add("bob-tag-e", "bob", "PUT", "/v2/images/{e}/tags/q", None, None, None)
    add("bob-show-p", "bob", "GET", "/v2/images/{p}", None, None, None)
    add("member-private-with-members", "alice", "PATCH", "/v2/images/{e}",
        json.dumps([{"op": "replace", "path": "/visibility", "value": "private"}]), PATCH_CT, None)
    add("member-shared-again", "alice", "PATCH", "/v2/images/{e}",
        json.dumps([{"op": "replace", "path": "/visibility", "value": "shared"}]), PATCH_CT, None)
    add("member-delete-e", "alice", "DELETE", "/v2/images/{e}/members/bob", None, None, None)
    add("member-delete", "alice", "DELETE", "/v2/images/{b}/members/bob", None, None, None)
    add("member-delete-again", "alice", "DELETE", "/v2/images/{b}/members/bob", None, None, None)
    add("member-list-empty", "alice", "GET", "/v2/images/{b}/members", None, None, None)
    # patches of e the openstack CLI and openstacksdk send, and their refusals
    for name, ops, ct in [
            ("remove-name", [{"op": "remove", "path": "/name"}], PATCH_CT),
            ("remove-min-disk", [{"op": "remove", "path": "/min_disk"}], PATCH_CT),
            ("remove-description", [{"op": "remove", "path": "/description"}], PATCH_CT),
            ("add-description", [{"op": "add", "path": "/description", "value": "new"}], PATCH_CT),
            ("replace-description", [{"op": "replace", "path": "/description", "value": "newer"}], PATCH_CT),
            ("nested-add", [{"op": "add", "path": "/os_distro/sub", "value": "1"}], PATCH_CT),
            ("nested-replace", [{"op": "replace", "path": "/os_distro/sub", "value": "1"}], PATCH_CT),
            ("nested-remove", [{"op": "remove", "path": "/os_distro/sub"}], PATCH_CT),
            ("tags-index", [{"op": "add", "path": "/tags/-", "value": "w"}], PATCH_CT),
            ("tags-remove", [{"op": "remove", "path": "/tags"}], PATCH_CT),
            ("tags-add", [{"op": "add", "path": "/tags", "value": ["m"]}], PATCH_CT),
            ("os-hidden-false", [{"op": "replace", "path": "/os_hidden", "value": False}], PATCH_CT),
            ("os-hidden-text", [{"op": "replace", "path": "/os_hidden", "value": "true"}], PATCH_CT),
            ("protected-add", [{"op": "add", "path": "/protected", "value": False}], PATCH_CT),
            ("owner", [{"op": "replace", "path": "/owner", "value": "bob"}], PATCH_CT),
            ("owner-self", [{"op": "replace", "path": "/owner", "value": "alice"}], PATCH_CT),
            ("self", [{"op": "replace", "path": "/self", "value": "x"}], PATCH_CT),
            ("file", [{"op": "replace", "path": "/file", "value": "x"}], PATCH_CT),
            ("locations", [{"op": "replace", "path": "/locations", "value": []}], PATCH_CT),
            ("size", [{"op": "replace", "path": "/size", "value": 5}], PATCH_CT),
            ("disk-format", [{"op": "replace", "path": "/disk_format", "value": "qcow2"}], PATCH_CT),
            ("disk-format-bad", [{"op": "replace", "path": "/disk_format", "value": "floppy"}], PATCH_CT),
            ("two-one-read-only", [{"op": "replace", "path": "/name", "value": "zz"}, {"op": "replace", "path": "/id", "value": "x"}], PATCH_CT),
            ("two-one-missing", [{"op": "replace", "path": "/name", "value": "zz"}, {"op": "remove", "path": "/hw_none"}], PATCH_CT),
            ("test-op", [{"op": "test", "path": "/name", "value": "e"}], PATCH_CT),
            ("copy-op", [{"op": "copy", "from": "/name", "path": "/hw_q"}], PATCH_CT),
            ("path-no-slash", [{"op": "replace", "path": "name", "value": "x"}], PATCH_CT),
            ("path-escape", [{"op": "add", "path": "/a~1b", "value": "x"}], PATCH_CT),
            ("path-tilde", [{"op": "add", "path": "/a~0b", "value": "x"}], PATCH_CT),
            ("property-number", [{"op": "add", "path": "/hw_int", "value": 5}], PATCH_CT),
            ("property-null", [{"op": "add", "path": "/hw_null", "value": None}], PATCH_CT),
            ("property-empty", [{"op": "add", "path": "/hw_empty", "value": ""}], PATCH_CT),
            ("property-255", [{"op": "add", "path": "/hw_255", "value": "v" * 255}], PATCH_CT),
            ("reserved", [{"op": "add", "path": "/os_glance_x", "value": "v"}], PATCH_CT),
            ("no-value", [{"op": "add", "path": "/hw_nov"}], PATCH_CT),
            ("empty-list", [], PATCH_CT),
            ("v2.0-draft", [{"replace": "/hw_draft", "value": "1"}], "application/openstack-images-v2.0-json-patch"),
            ("type-charset", [{"op": "add", "path": "/hw_cs", "value": "1"}], PATCH_CT + "; charset=UTF-8"),
            ("type-json-patch", [{"op": "add", "path": "/hw_jp", "value": "1"}], "application/json-patch+json"),
            ("type-none", [{"op": "add", "path": "/hw_none2", "value": "1"}], NONE),
            ("name-256", [{"op": "replace", "path": "/name", "value": "n" * 256}], PATCH_CT),
            ("name-null", [{"op": "replace", "path": "/name", "value": None}], PATCH_CT),
            ("name-again", [{"op": "replace", "path": "/name", "value": "e"}], PATCH_CT),
            ("min-disk-negative", [{"op": "replace", "path": "/min_disk", "value": -1}], PATCH_CT),
            ("min-disk-2147483648", [{"op": "replace", "path": "/min_disk", "value": 2147483648}], PATCH_CT),
            ("min-disk-2147483647", [{"op": "replace", "path": "/min_disk", "value": 2147483647}], PATCH_CT),
            ("129-properties", [{"op": "add", "path": "/hw_p%d" % i, "value": "v"} for i in range(129)], PATCH_CT)]:
        add("patch-e " + name, "alice", "PATCH", "/v2/images/{e}", json.dumps(ops), ct, None)
    add("patch-e not-json", "alice", "PATCH", "/v2/images/{e}", "[{", PATCH_CT, None)
    add("patch-active-disk-format", "alice", "PATCH", "/v2/images/{a}", p([{"op": "replace", "path": "/disk_format", "value": "qcow2"}]), PATCH_CT, None)
    add("show-e", "alice", "GET", "/v2/images/{e}", None, None, None)
    # tags of e: put and delete, twice each
    for t in ["a%20b", "k=v", "%C3%A9", "x%2Fy"]:
        for what, method in [("put", "PUT"), ("put-again", "PUT"), ("delete", "DELETE"), ("delete-again", "DELETE")]:
            add("tag-e %s %s" % (what, t), "alice", method, "/v2/images/{e}/tags/" + t, None, None, None)
    add("tag-e empty", "alice", "PUT", "/v2/images/{e}/tags/", None, None, None)
    add("tag-e get", "alice", "GET", "/v2/images/{e}/tags/x", None, None, None)
    add("tag-e post", "alice", "POST", "/v2/images/{e}/tags/x", None, None, None)
    add("show-e-tags", "alice", "GET", "/v2/images/{e}", None, None, None)
    # what clients discover
    for name, path in [("info-import", "/v2/info/import"), ("info-stores", "/v2/info/stores"), ("info-usage", "/v2/info/usage"),
                       ("info-nope", "/v2/info/nope"), ("schema-image", "/v2/schemas/image"), ("schema-images", "/v2/schemas/images"),
                       ("schema-member", "/v2/schemas/member"), ("schema-members", "/v2/schemas/members"),
                       ("schema-nope", "/v2/schemas/nope"), ("tasks-a", "/v2/images/{a}/tasks"), ("stores", "/v2/stores"),
                       ("versions", "/versions"), ("images-slash", "/v2/images/"), ("images-empty-query", "/v2/images?")]:
        add(name, "alice", "GET", path, None, None, None)
    add("images-delete", "alice", "DELETE", "/v2/images", None, None, None)
    add("v2", "alice", "GET", "/v2", None, None, None)
    add("v2-slash", "alice", "GET", "/v2/", None, None, None)
    add("v1-images", "alice", "GET", "/v1/images", None, None, None)
    add("tasks-list", "alice", "GET", "/v2/tasks", None, None, None)
    add("tasks-nowhere", "alice", "GET", "/v2/tasks/" + NOWHERE, None, None, None)
    add("show-a-capitals", "alice", "GET", "/v2/images/{A}", None, None, None)
    add("list-marker-capitals", "alice", "GET", "/v2/images?marker={A}", None, None, None)
    # a's bytes with a Range of every form
    for rng in ["bytes=0-9", "bytes=-10", "bytes=10-", "bytes=0-0", "bytes=0-99999999", "bytes=99999999-", "bytes=2097151-",
                "bytes=2097152-", "bytes=-99999999", "bytes= 0-9", "bytes=-0", "bytes=100-50", "bytes=x", "items=0-1",
                "bytes=0-1,5-6", "bytes=0-9,", "bytes=-"]:
        add("download " + rng, "alice", "GET", "/v2/images/{a}/file", None, {"Range": rng}, None)
    add("download", "alice", "GET", "/v2/images/{a}/file", None, None, None)
    add("download-queued", "alice", "GET", "/v2/images/{f}/file", None, None, None)
    add("download-bob", "bob", "GET", "/v2/images/{a}/file", None, None, None)
    add("download-head", "alice", "HEAD", "/v2/images/{a}/file", None, None, None)
    # f's upload: Content-Types refused, then taken; stage once active; another's
    add("put-f-json", "alice", "PUT", "/v2/images/{f}/file", disk, "application/json", None)
    add("put-f-text", "alice", "PUT", "/v2/images/{f}/file", disk, "text/plain", None)
    add("put-f-no-type", "alice", "PUT", "/v2/images/{f}/file", disk, NONE, None)
    add("stage-f-json", "alice", "PUT", "/v2/images/{f}/stage", disk, "application/json", None)
    add("show-f-queued", "alice", "GET", "/v2/images/{f}", None, None, None)
    add("put-f", "alice", "PUT", "/v2/images/{f}/file", disk, "application/octet-stream; charset=binary", None)
    add("show-f", "alice", "GET", "/v2/images/{f}", None, None, None)
    add("stage-f-active", "alice", "PUT", "/v2/images/{f}/stage", disk, None, None)
    add("put-e-bob", "bob", "PUT", "/v2/images/{e}/file", disk, None, None)
    # s staged: its size shown, no hashes; imports refused (a store not here, copy-image); gone
    add("create-s", "alice", "POST", "/v2/images", img("s"), None, "s")
    add("stage-s", "alice", "PUT", "/v2/images/{s}/stage", disk, None, None)
    add("show-s-staged", "alice", "GET", "/v2/images/{s}", None, None, None)
    add("stage-s-again", "alice", "PUT", "/v2/images/{s}/stage", disk, None, None)
    add("put-s-staged", "alice", "PUT", "/v2/images/{s}/file", disk, None, None)
    add("import-s-store-elsewhere", "alice", "POST", "/v2/images/{s}/import",
        {"method": {"name": "glance-direct"}, "stores": ["elsewhere"]}, None, None)
    add("import-s-copy-image", "alice", "POST", "/v2/images/{s}/import", {"method": {"name": "copy-image"}}, None, None)
    add("import-s-no-method", "alice", "POST", "/v2/images/{s}/import", {}, None, None)
    add("import-e-unstaged", "alice", "POST", "/v2/images/{e}/import", {"method": {"name": "glance-direct"}}, None, None)
    add("delete-s", "alice", "DELETE", "/v2/images/{s}", None, None, None)
    # deactivate, reactivate: twice each, a queued image, another's
    for who, act, im in [("alice", "deactivate", "f"), ("alice", "deactivate", "f"), ("alice", "deactivate", "e"),
                         ("bob", "deactivate", "f"), ("bob", "reactivate", "f")]:
        add("%s %s %s" % (act, im, who), who, "POST", "/v2/images/{%s}/actions/%s" % (im, act), None, None, None)
    add("list-deactivated", "alice", "GET", "/v2/images?status=deactivated", None, None, None)
    add("download-deactivated", "alice", "GET", "/v2/images/{f}/file", None, None, None)
    add("patch-deactivated", "alice", "PATCH", "/v2/images/{f}", p([{"op": "replace", "path": "/name", "value": "f2"}]), PATCH_CT, None)
    add("put-deactivated", "alice", "PUT", "/v2/images/{f}/file", disk, None, None)
    add("show-deactivated", "alice", "GET", "/v2/images/{f}", None, None, None)
    for who, act, im in [("alice", "reactivate", "f"), ("alice", "reactivate again", "f"), ("alice", "reactivate", "e")]:
        add("%s %s %s" % (act, im, who), who, "POST", "/v2/images/{%s}/actions/%s" % (im, act.split()[0]), None, None, None)
    add("action-explode", "alice", "POST", "/v2/images/{f}/actions/explode", None, None, None)
    add("action-get", "alice", "GET", "/v2/images/{f}/actions/deactivate", None, None, None)
    # patches imgfs refuses on purpose (§19.6), on z, which no answer shows after
    add("create-z", "alice", "POST", "/v2/images", img("z"), None, "z")
    for name, ops, ct in [
            ("path-blank", [{"op": "add", "path": "/a b", "value": "x"}], PATCH_CT),
            ("path-root", [{"op": "replace", "path": "/", "value": "x"}], PATCH_CT),
            ("property-256", [{"op": "add", "path": "/hw_long", "value": "v" * 256}], PATCH_CT),
            ("key-256", [{"op": "add", "path": "/" + "k" * 256, "value": "v"}], PATCH_CT),
            ("v2.0-rfc", [{"op": "add", "path": "/hw_v20", "value": "1"}], "application/openstack-images-v2.0-json-patch"),
            ("type-capitals", [{"op": "add", "path": "/hw_up", "value": "1"}], "Application/OpenStack-Images-v2.1-JSON-Patch")]:
        add("patch-z " + name, "alice", "PATCH", "/v2/images/{z}", json.dumps(ops), ct, None)
    add("put-z-empty", "alice", "PUT", "/v2/images/{z}/file", b"", None, None)
    add("put-z-empty-text", "alice", "PUT", "/v2/images/{z}/file", b"", "text/plain", None)  # 415 first, both
    add("delete-z", "alice", "DELETE", "/v2/images/{z}", None, None, None)
    # deletes
    add("delete-protected", "alice", "DELETE", "/v2/images/{p}", None, None, None)
    add("delete-bob", "bob", "DELETE", "/v2/images/{cd}", None, None, None)
    add("delete-cd", "alice", "DELETE", "/v2/images/{cd}", None, None, None)
    add("delete-cd-again", "alice", "DELETE", "/v2/images/{cd}", None, None, None)
    add("show-cd-deleted", "alice", "GET", "/v2/images/{cd}", None, None, None)
    add("put-deleted", "alice", "PUT", "/v2/images/{cd}/file", disk, None, None)
    add("list-end", "alice", "GET", "/v2/images?owner=alice&sort_key=name&sort_dir=asc", None, None, None)
    add("delete-f", "alice", "DELETE", "/v2/images/{f}", None, None, None)
    add("list-marker-deleted", "alice", "GET", "/v2/images?marker={f}", None, None, None)
    add("delete-f-again", "alice", "DELETE", "/v2/images/{f}", None, None, None)
    add("patch-deleted", "alice", "PATCH", "/v2/images/{f}", p([{"op": "replace", "path": "/name", "value": "f2"}]), PATCH_CT, None)
    add("tag-deleted", "alice", "PUT", "/v2/images/{f}/tags/q", None, None, None)
    add("download-deleted", "alice", "GET", "/v2/images/{f}/file", None, None, None)
    add("members-deleted", "alice", "GET", "/v2/images/{f}/members", None, None, None)
    return s


def expected(reference):
    """The keys §19.6's "Differences from Glance" lists."""
    text = open(reference, encoding="utf-8").read()
    m = re.search(r"^#### Differences from Glance\n(.*?)(?=^#{2,4} )", text, re.S | re.M)
    if not m:
        sys.exit("glance_diff: %s has no '#### Differences from Glance' list" % reference)
    keys = set()
    for bullet in re.findall(r"^\* (.*?)(?=^\* |\Z)", m.group(1), re.S | re.M):
        head = re.sub(r"\s+", " ", bullet).split(" — ")[0]  # a bullet's keys, before its dash
        keys |= set(re.findall(r"`([^`]+)`", head))
    return keys


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
        extra = ctype if isinstance(ctype, dict) else None  # a download's Range
        ctype = None if extra else ctype
        for svc in (g, i):
            st, doc = svc.request(who, method, fill(times(svc, who, path), svc.ids), body, ctype, extra)
            if makes and st == 201 and doc:
                svc.ids[makes] = doc["id"]
            elif st == 201 and doc and "id" in doc:  # a create only one side took: gone again
                svc.request(who, "DELETE", "/v2/images/" + doc["id"])
            answers.append((st, doc))
        names_g = {v: k for k, v in g.ids.items()}
        names_i = {v: k for k, v in i.ids.items()}
        (gs, gd), (is_, idoc) = answers
        mine_g, mine_i = set(g.ids.values()), set(i.ids.values())
        gd, idoc = mask(gd, names_g), mask(idoc, names_i)
        d.compare(step, gs, gd, is_, idoc, set(names_g.values()) | set(names_i.values()))
        if method == "POST" and path == "/v2/images" and gs == is_ == 201:
            for h in ("location", "openstack-image-store-ids", "openstack-image-import-methods"):
                hg, hi = mask(g.headers.get(h), names_g), mask(i.headers.get(h), names_i)
                if hg != hi:
                    d.add("header " + h, "%s: glance %r, imgfs %r" % (step, hg, hi))
        if method == "GET" and path.endswith("/file") and gs == is_ and gs < 300 and \
                (g.raw, g.content_range) != (i.raw, i.content_range):
            d.add("bytes " + step, "glance %d bytes (%s), imgfs %d (%s)" %
                  (len(g.raw), g.content_range, len(i.raw), i.content_range))
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
