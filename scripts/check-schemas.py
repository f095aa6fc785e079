#!/usr/bin/python3
"""Validates JSON against the schemas of docs/schema (draft 2020-12) with
Debian's python3-jsonschema (a maintained validator, not ours).

    check-schemas.py [--dir DOCS] examples
        every schema is a valid 2020-12 schema; docs/examples/*.json are
        valid messages, docs/examples/output/NAME*.json valid NAME output,
        and every file of docs/examples/invalid/ is refused.
    check-schemas.py [--dir DOCS] [--lines] [--invalid] NAME FILE...
        each FILE (- is stdin; with --lines each non-empty line) is valid
        against docs/schema/NAME.schema.json (with --invalid: is refused).

Prints one line per refusal and exits 0 only if every check held."""
import datetime
import json
import os
import re
import sys

import jsonschema

# msgjson's time grammar: T and Z upper case, no offset (common/msgjson.c).
S_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?Z$")


def s_date(text):
    if not isinstance(text, str):
        return True
    try:
        return re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) and bool(
            datetime.date.fromisoformat(text))
    except ValueError:
        return False


def s_date_time(text):
    """RFC 3339 in UTC as remiss writes it; the calendar date must exist.
    (python3-jsonschema's own date-time check needs a package Debian 12
    does not ship, so the format is checked here.)"""
    if not isinstance(text, str):
        return True
    m = S_TIME.match(text)
    if not m:
        return False
    try:
        datetime.datetime(*(int(m.group(i)) for i in range(1, 7)))
    except ValueError:
        return False
    return True


def s_checker():
    checker = jsonschema.FormatChecker(formats=())
    checker.checks("date")(s_date)
    checker.checks("date-time")(s_date_time)
    return checker


class Schemas:
    def __init__(self, docs):
        self.dir = os.path.join(docs, "schema")
        self.store = {}
        self.by_name = {}
        for name in sorted(os.listdir(self.dir)):
            if not name.endswith(".schema.json"):
                continue
            with open(os.path.join(self.dir, name), encoding="utf-8") as f:
                schema = json.load(f)
            jsonschema.Draft202012Validator.check_schema(schema)
            self.store[schema["$id"]] = schema
            self.by_name[name[: -len(".schema.json")]] = schema
        self.checker = s_checker()

    def validator(self, name):
        schema = self.by_name[name]
        resolver = jsonschema.RefResolver(schema["$id"], schema, store=self.store)
        return jsonschema.Draft202012Validator(schema, resolver=resolver,
                                               format_checker=self.checker)

    def errors(self, name, doc):
        return [e.message for e in self.validator(name).iter_errors(doc)]


def s_load(path):
    if path == "-":
        return json.load(sys.stdin)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def s_check(schemas, name, label, doc, invalid):
    """Prints what is wrong; True if the outcome is the expected one."""
    errs = schemas.errors(name, doc)
    if invalid and not errs:
        print(f"{label}: accepted by {name}.schema.json, but it must be refused")
        return False
    if not invalid and errs:
        for e in errs[:5]:
            print(f"{label}: {name}.schema.json: {e[:300]}")
        return False
    return True


def s_docs(paths):
    for path in paths:
        try:
            yield path, s_load(path)
        except (OSError, ValueError) as e:
            print(f"{path}: not JSON: {e}")
            yield path, None


def s_examples(schemas, docs):
    ok = True
    ex = os.path.join(docs, "examples")
    plain = sorted(os.path.join(ex, n) for n in os.listdir(ex) if n.endswith(".json"))
    bad_dir = os.path.join(ex, "invalid")
    bad = sorted(os.path.join(bad_dir, n) for n in os.listdir(bad_dir) if n.endswith(".json"))
    out_dir = os.path.join(ex, "output")
    outs = sorted(n for n in os.listdir(out_dir) if n.endswith(".json"))
    if not plain or not bad or not outs:
        print("examples: a set is empty")
        return False
    for path, doc in s_docs(plain):
        ok = doc is not None and s_check(schemas, "message", path, doc, False) and ok
    for path, doc in s_docs(bad):
        # A file that is not even JSON is refused by any schema: not a test.
        ok = doc is not None and s_check(schemas, "message", path, doc, True) and ok
    for name in outs:
        schema = name.split(".")[0]
        if schema not in schemas.by_name:
            print(f"{name}: no schema {schema}.schema.json")
            ok = False
            continue
        for path, doc in s_docs([os.path.join(out_dir, name)]):
            ok = doc is not None and s_check(schemas, schema, path, doc, False) and ok
    print(f"examples: {len(plain)} messages, {len(bad)} refused, {len(outs)} outputs checked")
    return ok


def s_lines(paths):
    for path in paths:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
        for no, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    yield f"{path}:{no}", json.loads(line)
                except ValueError as e:
                    print(f"{path}:{no}: not JSON: {e}")
                    yield f"{path}:{no}", None


def main(argv):
    docs, lines, invalid = "docs", False, False
    while argv and argv[0].startswith("--"):
        opt = argv.pop(0)
        if opt == "--dir" and argv:
            docs = argv.pop(0)
        elif opt == "--lines":
            lines = True
        elif opt == "--invalid":
            invalid = True
        else:
            print(__doc__)
            return 2
    if not argv:
        print(__doc__)
        return 2
    schemas = Schemas(docs)
    if argv == ["examples"]:
        return 0 if s_examples(schemas, docs) else 1
    name, paths = argv[0], argv[1:]
    if name not in schemas.by_name or not paths:
        print(f"no schema {name}.schema.json, or no file")
        return 2
    ok, seen = True, 0
    for label, doc in (s_lines(paths) if lines else s_docs(paths)):
        seen += 1
        ok = doc is not None and s_check(schemas, name, label, doc, invalid) and ok
    if seen == 0:
        print("nothing to check")
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
