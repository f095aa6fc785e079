"""End to end through two real gateways: send a referral through the
district's gateway, receive it through Jobbtorg's, acknowledge, read the
status. Run by tests/test_gateway.c with GW_A, GW_B (base URLs), GW_TOKEN
and GW_PNR in the environment."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from remiss_gateway import Gateway, GatewayError  # noqa: E402

district = Gateway(os.environ["GW_A"], os.environ["GW_TOKEN"])
jobbtorg = Gateway(os.environ["GW_B"], os.environ["GW_TOKEN"])
pnr = os.environ["GW_PNR"]

district.grant_consent({
    "type": "consent_grant", "to": "broker", "consent_id": "c-py-1",
    "subject": {"personnummer": pnr},
    "from_parties": ["sdf-rinkeby-kista"], "to_parties": ["jobbtorg"],
    "purposes": ["anvisning"], "categories": ["identity", "social"],
    "valid_from": "2020-01-01", "valid_until": "2036-01-01",
    "given_by": "subject", "evidence_sha256": "0" * 64,
})
referral = {
    "type": "referral", "to": "jobbtorg", "purpose": "anvisning", "consent_id": "c-py-1",
    "subject": {"personnummer": pnr, "name": "Test Testsson"},
    "social": {"income_support": True, "notes": "Bistånd."},
    "reason": "Behöver stöd mot arbete",
}
receipt = district.send(referral, idempotency_key="py-case-1")
assert receipt["code"] == "OK", receipt
again = district.send(referral, idempotency_key="py-case-1")
assert again["message_id"] == receipt["message_id"], (again, receipt)

messages = jobbtorg.inbox(wait=20)
assert [m["message_id"] for m in messages] == [receipt["message_id"]], messages
assert messages[0]["from"] == "sdf-rinkeby-kista" and messages[0]["subject"]["personnummer"] == pnr
jobbtorg.ack(messages[0]["message_id"])

for _ in range(50):
    state = district.status(receipt["message_id"])["state"]
    if state == "acknowledged":
        break
    time.sleep(0.1)
assert state == "acknowledged", state

try:
    district.send(dict(referral, consent_id="c-none"))
    raise AssertionError("a referral without consent was accepted")
except GatewayError as e:
    assert e.status == 422 and e.code == "E_NO_CONSENT", e
print("python client e2e: ok")
