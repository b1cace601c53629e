#!/usr/bin/env python3
"""Prints tally's public API, one line per item and signature, from rustdoc's
JSON output (target/doc/tally_telemetry.json, made with --document-hidden-items so the
re-exports resolve): what a host can name from the crate root. Doc-hidden
items (`__private`, test hooks) are left out. Auto-trait and
blanket impls are left out; every other trait impl is listed, since removing
one breaks a host.

Usage: scripts/public_api.py target/doc/tally_telemetry.json
"""
import json
import sys

d = json.load(open(sys.argv[1]))
if d.get("format_version") != 57:
    # The renderer follows rustdoc's JSON format 57 (Rust 1.95); a newer
    # toolchain may need this script updated (and the listing re-blessed).
    print(f"rustdoc JSON format {d.get('format_version')} (expected 57)", file=sys.stderr)
index = d["index"]
paths = d.get("paths", {})


def hidden(it):
    return any("doc(hidden)" in (a if isinstance(a, str) else json.dumps(a)) for a in it.get("attrs", []))


def item(i):
    it = index.get(str(i))
    return None if it is None or hidden(it) else it


def path_name(pid, fallback):
    p = paths.get(str(pid))
    if p is None or p.get("crate_id") == 0:
        return fallback.split("::")[-1]  # our own types by their public name
    return "::".join(p["path"])


def generic_args(a):
    if not a:
        return ""
    if "angle_bracketed" in a:
        ab = a["angle_bracketed"]
        parts = []
        for g in ab.get("args", []):
            if "type" in g:
                parts.append(ty(g["type"]))
            elif "lifetime" in g:
                parts.append(g["lifetime"])
            elif "const" in g:
                parts.append(str(g["const"].get("expr", "_")))
            else:
                parts.append("_")
        for c in ab.get("constraints", []):
            b = c.get("binding", {})
            if "equality" in b:
                parts.append(f"{c['name']} = {term(b['equality'])}")
            else:
                parts.append(f"{c['name']}: {bounds(b.get('constraint', []))}")
        return "<" + ", ".join(parts) + ">" if parts else ""
    if "parenthesized" in a:
        p = a["parenthesized"]
        out = "(" + ", ".join(ty(t) for t in p.get("inputs", [])) + ")"
        if p.get("output"):
            out += " -> " + ty(p["output"])
        return out
    return ""


def term(t):
    return ty(t["type"]) if "type" in t else str(t.get("constant", "_"))


def ty(t):
    if t is None:
        return "()"
    k, v = next(iter(t.items()))
    if k == "resolved_path":
        return path_name(v["id"], v["path"]) + generic_args(v.get("args"))
    if k == "primitive":
        return v
    if k == "generic":
        return v
    if k == "borrowed_ref":
        lt = (v["lifetime"] + " ") if v.get("lifetime") else ""
        m = "mut " if v.get("is_mutable") else ""
        return f"&{lt}{m}{ty(v['type'])}"
    if k == "raw_pointer":
        return ("*mut " if v.get("is_mutable") else "*const ") + ty(v["type"])
    if k == "tuple":
        return "(" + ", ".join(ty(x) for x in v) + ")"
    if k == "slice":
        return "[" + ty(v) + "]"
    if k == "array":
        return f"[{ty(v['type'])}; {v['len']}]"
    if k == "impl_trait":
        return "impl " + bounds(v)
    if k == "dyn_trait":
        return "dyn " + " + ".join(
            path_name(tr["trait"]["id"], tr["trait"]["path"]) + generic_args(tr["trait"].get("args"))
            for tr in v["traits"]
        ) + ((" + " + v["lifetime"]) if v.get("lifetime") else "")
    if k == "qualified_path":
        tr = v.get("trait")
        trs = (" as " + path_name(tr["id"], tr["path"])) if tr else ""
        return f"<{ty(v['self_type'])}{trs}>::{v['name']}"
    if k == "function_pointer":
        return "fn(" + ", ".join(ty(x[1]) for x in v["sig"]["inputs"]) + ")" + (
            " -> " + ty(v["sig"]["output"]) if v["sig"].get("output") else "")
    if k == "infer":
        return "_"
    return f"<{k}>"


def bounds(bs):
    out = []
    for b in bs:
        if "trait_bound" in b:
            tr = b["trait_bound"]["trait"]
            out.append(path_name(tr["id"], tr["path"]) + generic_args(tr.get("args")))
        elif "outlives" in b:
            out.append(b["outlives"])
        elif "use" in b:
            out.append("use<...>")
    return " + ".join(out)


def generics(g):
    ps = []
    for p in g.get("params", []):
        kind = p["kind"]
        if "lifetime" in kind:
            ps.append(p["name"])
        elif "type" in kind:
            if kind["type"].get("is_synthetic"):
                continue
            b = bounds(kind["type"].get("bounds", []))
            ps.append(p["name"] + (": " + b if b else ""))
        elif "const" in kind:
            ps.append(f"const {p['name']}: {ty(kind['const']['type'])}")
    return "<" + ", ".join(ps) + ">" if ps else ""


def where(g):
    preds = []
    for w in g.get("where_predicates", []):
        if "bound_predicate" in w:
            bp = w["bound_predicate"]
            preds.append(f"{ty(bp['type'])}: {bounds(bp['bounds'])}")
    return (" where " + ", ".join(preds)) if preds else ""


def fn_sig(name, f):
    h = f.get("header", {})
    quals = ""
    if h.get("is_const"):
        quals += "const "
    if h.get("is_async"):
        quals += "async "
    if h.get("is_unsafe"):
        quals += "unsafe "
    ins = []
    for n, t in f["sig"]["inputs"]:
        if n == "self":
            s = ty(t)
            ins.append({"Self": "self", "&Self": "&self", "&mut Self": "&mut self"}.get(s, "self: " + s))
        else:
            ins.append(f"{n}: {ty(t)}")
    out = f["sig"].get("output")
    ret = (" -> " + ty(out)) if out else ""
    return f"{quals}fn {name}{generics(f['generics'])}({', '.join(ins)}){ret}{where(f['generics'])}"


def attrs(it):
    out = []
    for a in it.get("attrs", []):
        s = a if isinstance(a, str) else json.dumps(a)
        if "non_exhaustive" in s:
            out.append("#[non_exhaustive] ")
    return "".join(sorted(set(out)))


lines = []
AUTO = {"Send", "Sync", "Unpin", "UnwindSafe", "RefUnwindSafe", "Freeze"}


def impls(prefix, ids):
    for iid in ids:
        im = item(iid)
        if im is None:
            continue
        i = im["inner"]["impl"]
        if i.get("is_synthetic") or i.get("blanket_impl"):
            continue
        tr = i.get("trait")
        if tr:
            name = path_name(tr["id"], tr["path"]) + generic_args(tr.get("args"))
            if tr["path"].split("::")[-1] in AUTO:
                continue
            lines.append(f"impl {('!' if i.get('is_negative') else '')}{name} for {prefix}")
            continue
        for mid in i["items"]:
            m = item(mid)
            if m is None or m.get("visibility") != "public":
                continue
            if "function" in m["inner"]:
                lines.append(f"{prefix}::{fn_sig(m['name'], m['inner']['function'])}")
            elif "assoc_const" in m["inner"]:
                lines.append(f"{prefix}::const {m['name']}: {ty(m['inner']['assoc_const']['type'])}")


def fields_of(kind, prefix):
    """Public fields of a struct or of an enum variant."""
    if "plain" in kind:
        fs = kind["plain"]["fields"]
        for fid in fs:
            f = item(fid)
            if f and f.get("visibility") == "public":
                lines.append(f"{prefix}.{f['name']}: {ty(f['inner']['struct_field'])}")
        if kind["plain"].get("has_stripped_fields"):
            lines.append(f"{prefix} (private fields)")
    elif "struct" in kind:
        for fid in kind["struct"]["fields"]:
            f = item(fid)
            if f:
                lines.append(f"{prefix}.{f['name']}: {ty(f['inner']['struct_field'])}")
        if kind["struct"].get("has_stripped_fields"):
            lines.append(f"{prefix} (private fields)")
    elif "tuple" in kind:
        for n, fid in enumerate(kind["tuple"]):
            f = item(fid) if fid is not None else None
            if f:
                lines.append(f"{prefix}.{n}: {ty(f['inner']['struct_field'])}")
            else:
                lines.append(f"{prefix}.{n} (private)")


def visit(name, it):
    inner = it["inner"]
    kind = next(iter(inner))
    v = inner[kind]
    if kind == "use":
        target = item(v["id"]) if v.get("id") is not None else None
        # A re-export is named where it is re-exported: in its module, not
        # at the crate root (a glob names the module it takes from).
        prefix = name.rsplit("::", 1)[0] if "::" in name else ""
        as_name = f"{prefix}::{v['name']}" if prefix and not v.get("is_glob") else v["name"]
        if target is None:
            lines.append(f"pub use {v['source']} as {as_name}")
            return
        return visit(as_name, target)
    path = f"tally_telemetry::{name}"
    na = attrs(it)
    if kind == "struct":
        lines.append(f"{na}pub struct {path}{generics(v['generics'])}")
        fields_of(v["kind"], path)
        impls(path, v["impls"])
    elif kind == "enum":
        lines.append(f"{na}pub enum {path}{generics(v['generics'])}")
        for vid in v["variants"]:
            var = item(vid)
            vk = var["inner"]["variant"]["kind"]
            lines.append(f"{attrs(var)}{path}::{var['name']}")
            if isinstance(vk, dict):
                fields_of(vk, f"{path}::{var['name']}")
        impls(path, v["impls"])
    elif kind == "function":
        lines.append(f"pub {fn_sig(path, v)}")
    elif kind == "trait":
        lines.append(f"pub trait {path}{generics(v['generics'])}")
        for mid in v["items"]:
            m = item(mid)
            if "function" in m["inner"]:
                lines.append(f"{path}::{fn_sig(m['name'], m['inner']['function'])}")
    elif kind == "constant":
        lines.append(f"pub const {path}: {ty(v['type'])}")
    elif kind == "static":
        lines.append(f"pub static {path}: {ty(v['type'])}")
    elif kind == "type_alias":
        lines.append(f"pub type {path}{generics(v['generics'])} = {ty(v['type'])}")
    elif kind == "module":
        lines.append(f"pub mod {path}")
        for cid in v["items"]:
            c = item(cid)
            if c is not None and c.get("visibility") == "public":
                visit(f"{name}::{c.get('name') or c['inner'].get('use', {}).get('name')}", c)
    elif kind == "macro":
        lines.append(f"macro {path}!")
    else:
        lines.append(f"{kind} {path}")


root = item(d["root"])
for cid in root["inner"]["module"]["items"]:
    c = item(cid)
    if c is None or c.get("visibility") != "public":
        continue
    visit(c.get("name") or c["inner"]["use"]["name"], c)

print("\n".join(sorted(set(lines))))
