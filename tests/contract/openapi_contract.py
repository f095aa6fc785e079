"""Contract test of docs/openapi.yaml against running gateways.

Sends every request example of the document to a real remiss-gateway (the
district's at GW_A; Jobbtorg's at GW_B receives) and validates every response
against the schema the document gives for its status, with Debian's
python3-jsonschema. Fails if an operation of the document was not exercised.
Run by tests/test_gateway.c (GW_A, GW_B, GW_TOKEN in the environment)."""

import json
import os
import sys
import urllib.error
import urllib.request

import jsonschema
import yaml

DOC = yaml.safe_load(open(os.path.join(os.path.dirname(__file__), "../../docs/openapi.yaml")))
A, B, TOKEN = os.environ["GW_A"], os.environ["GW_B"], os.environ["GW_TOKEN"]
covered = set()


def node_ref(ref):
    return ref.lstrip("#/").split("/")


def resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        target = DOC
        for part in node_ref(node["$ref"]):
            target = target[part]
        node = target
    return node


def example_bodies(op):
    """Every request body example of an operation (name -> value)."""
    content = resolve(op.get("requestBody", {})).get("content", {})
    out = {}
    for media in content.values():
        for name, ex in media.get("examples", {}).items():
            out[name] = resolve(ex)["value"]
    return out


def call(base, method, template, path, body=None, token=TOKEN, headers=None):
    h = {"Authorization": "Bearer " + token} if token is not None else {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    req = urllib.request.Request(base + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=90) as r:
            status, ctype, raw = r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        status, ctype, raw = e.code, e.headers.get("Content-Type", ""), e.read()
    check(method, template, status, ctype, raw)
    covered.add((method.lower(), template))
    return status, (json.loads(raw) if ctype.startswith("application/json") else raw.decode())


def check(method, template, status, ctype, raw):
    op = DOC["paths"][template][method.lower()]
    responses = op["responses"]
    assert str(status) in responses, f"{method} {template}: undocumented status {status}: {raw!r}"
    content = resolve(responses[str(status)]).get("content", {})
    media = ctype.split(";")[0].strip()
    assert media in content, f"{method} {template} {status}: undocumented type {ctype}"
    schema = content[media]["schema"]
    value = json.loads(raw) if media == "application/json" else raw.decode()
    resolver = jsonschema.RefResolver(base_uri="", referrer=DOC)
    jsonschema.Draft202012Validator(schema, resolver=resolver).validate(value)


def op(template, method):
    return DOC["paths"][template][method]


grant = example_bodies(op("/v1/consents", "post"))["grant"]
referral = example_bodies(op("/v1/messages", "post"))["referral"]
refusal = example_bodies(op("/v1/messages/{id}/refuse", "post"))["wrong"]
withdrawal = example_bodies(op("/v1/consents/{consent_id}", "delete"))["withdrawn"]

st, _ = call(A, "POST", "/v1/consents", "/v1/consents", grant)
assert st == 200, st
ids = []
for key in ("contract-1", "contract-2"):
    st, rc = call(A, "POST", "/v1/messages", "/v1/messages", referral,
                  headers={"Idempotency-Key": key})
    assert st == 200, rc
    ids.append(rc["message_id"])
got = []
while len(got) < 2:
    st, inbox = call(B, "GET", "/v1/inbox", "/v1/inbox?wait=20&max=10")
    assert st == 200 and inbox["messages"], inbox
    got += [m["message_id"] for m in inbox["messages"]]
assert sorted(got) == sorted(ids), (got, ids)
st, _ = call(B, "POST", "/v1/messages/{id}/ack", f"/v1/messages/{ids[0]}/ack")
assert st == 200
st, _ = call(B, "POST", "/v1/messages/{id}/refuse", f"/v1/messages/{ids[1]}/refuse", refusal)
assert st == 200
st, status = call(A, "GET", "/v1/messages/{id}", f"/v1/messages/{ids[0]}")
assert st == 200, status
st, proof = call(A, "GET", "/v1/messages/{id}/proof", f"/v1/messages/{ids[0]}/proof")
assert st == 200 and proof["verified"], proof
st, _ = call(A, "DELETE", "/v1/consents/{consent_id}",
             "/v1/consents/" + grant["consent_id"], withdrawal)
assert st == 200
st, _ = call(A, "GET", "/healthz", "/healthz")
assert st == 200
st, text = call(A, "GET", "/metrics", "/metrics")
assert st == 200 and "remiss_gateway_sent_total 4" in text, text

# Errors are documented too.
assert call(A, "POST", "/v1/messages", "/v1/messages", referral, token="wrong")[0] == 401
assert call(A, "POST", "/v1/messages", "/v1/messages", {"type": "referral"})[0] == 400
assert call(A, "POST", "/v1/messages", "/v1/messages", dict(referral, consent_id="c-none"))[0] == 422
assert call(A, "GET", "/v1/inbox", "/v1/inbox?wait=99")[0] == 400
assert call(B, "POST", "/v1/messages/{id}/ack", f"/v1/messages/{ids[0]}/ack")[0] == 404
assert call(A, "GET", "/v1/messages/{id}", "/v1/messages/" + "0" * 32)[0] == 404

documented = {(m, p) for p, ops in DOC["paths"].items() for m in ops if m in
              ("get", "post", "put", "delete", "patch")}
missing = documented - covered
assert not missing, f"operations not exercised: {sorted(missing)}"
print(f"openapi contract: {len(covered)} operations ok")
