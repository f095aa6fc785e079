"""remiss_gateway: a small client of remiss-gateway (docs/openapi.yaml).

Only Python's standard library. A case system sends a referral and reads
its inbox like this:

    gw = Gateway("http://127.0.0.1:8480", token=open("/etc/remiss/gw.token").read().strip())
    receipt = gw.send(referral_dict, idempotency_key="case-4711")
    for msg in gw.inbox(wait=30):
        handle(msg)                       # store it in the case system first
        gw.ack(msg["message_id"])         # then acknowledge: never lost
    print(gw.status(receipt["message_id"])["state"])

A refusal raises GatewayError with .status (HTTP), .code ("E_NO_CONSENT")
and .sentence.
"""

import json
import urllib.error
import urllib.parse
import urllib.request

__all__ = ["Gateway", "GatewayError"]


class GatewayError(Exception):
    """A 4xx/5xx answer: status, code and sentence from the error body."""

    def __init__(self, status, code, sentence, body=None):
        super().__init__(f"{status} {code}: {sentence}")
        self.status = status
        self.code = code
        self.sentence = sentence
        self.body = body or {}


class Gateway:
    """One remiss-gateway, reached at base_url with a bearer token."""

    def __init__(self, base_url, token, timeout=90):
        self.base = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _request(self, method, path, body=None, headers=None):
        data = None
        h = {"Authorization": "Bearer " + self.token, "Accept": "application/json"}
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                parsed = json.loads(raw)
                err = parsed.get("error", {})
            except ValueError:
                parsed, err = {}, {}
            raise GatewayError(e.code, err.get("code", "E_HTTP"),
                               err.get("sentence", raw.decode("utf-8", "replace")),
                               parsed) from None

    def send(self, message, idempotency_key=None):
        """Sends a message (DESIGN.md section 4 JSON); returns the receipt."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self._request("POST", "/v1/messages", message, headers)

    def inbox(self, wait=0, max=10):
        """Long-polls up to wait seconds; returns a list of messages."""
        q = urllib.parse.urlencode({"wait": int(wait), "max": int(max)})
        return self._request("GET", "/v1/inbox?" + q)["messages"]

    def ack(self, message_id):
        """Acknowledges a processed message (the broker stops delivering it)."""
        return self._request("POST", f"/v1/messages/{message_id}/ack")

    def refuse(self, message_id, reason):
        """Refuses a message permanently, with a reason for the sender."""
        return self._request("POST", f"/v1/messages/{message_id}/refuse", {"reason": reason})

    def status(self, message_id):
        """State of a message this party sent or received."""
        return self._request("GET", f"/v1/messages/{message_id}")

    def proof(self, message_id):
        """The audit log's inclusion proof, verified by the gateway."""
        return self._request("GET", f"/v1/messages/{message_id}/proof")

    def grant_consent(self, grant):
        """Registers a consent (a consent_grant message)."""
        return self._request("POST", "/v1/consents", grant)

    def withdraw_consent(self, consent_id, reason=None):
        """Withdraws a consent; queued messages relying on it are withheld."""
        body = {"reason": reason} if reason else None
        return self._request("DELETE", "/v1/consents/" + urllib.parse.quote(consent_id, safe=""),
                             body)

    def health(self):
        """Broker reachable, certificate days left (raises on 503)."""
        return self._request("GET", "/healthz")
