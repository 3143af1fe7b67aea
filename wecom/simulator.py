"""Correctly encrypted WeCom callbacks for demos, tests and the benchmark.

``Simulator`` builds the events WeCom sends (change_external_contact and friends), encrypts and
signs them exactly as WeCom does, and POSTs them to a running server's callback URL.
"""

from __future__ import annotations

import json
import random
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field

from . import crypto

CONTACT = "change_external_contact"


@dataclass
class Sent:
    status: int
    seconds: float
    body: bytes


@dataclass
class Simulator:
    base_url: str  # http://127.0.0.1:8000
    brand_slug: str
    corp_id: str
    token: str
    encoding_aes_key: str
    timeout: float = 10.0
    statuses: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.base_url.rstrip('/')}/api/v1/wecom/callback/{self.brand_slug}/"

    def create_time(self) -> int:
        """Now, in WeCom's whole seconds (events of one pair are sent in order)."""
        return int(time.time())

    def event(self, change_type: str, *, user_id: str = "", external: str = "", **extra) -> dict:
        fields = {
            "ToUserName": self.corp_id,
            "FromUserName": "sys",
            "CreateTime": extra.pop("create_time", None) or self.create_time(),
            "MsgType": "event",
            "Event": extra.pop("event", CONTACT),
            "ChangeType": change_type,
        }
        if user_id:
            fields["UserID"] = user_id
        if external:
            fields["ExternalUserID"] = external
        fields.update(extra)
        return fields

    def signed(self, fields: dict) -> tuple[str, bytes]:
        timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**9))
        body, signature = crypto.envelope(
            token=self.token,
            encoding_aes_key=self.encoding_aes_key,
            receive_id=self.corp_id,
            message=crypto.xml_build(fields),
            timestamp=timestamp,
            nonce=nonce,
        )
        return f"msg_signature={signature}&timestamp={timestamp}&nonce={nonce}", body.encode()

    def _request(self, request: urllib.request.Request) -> Sent:
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                status, body = answer.status, answer.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()
        seconds = time.perf_counter() - started
        self.statuses[status] += 1
        self.latencies.append(seconds)
        return Sent(status, seconds, body)

    def send(self, fields: dict) -> Sent:
        query, body = self.signed(fields)
        request = urllib.request.Request(  # noqa: S310
            f"{self.url}?{query}", data=body, method="POST",
            headers={"Content-Type": "text/xml"},
        )  # fmt: skip
        return self._request(request)

    def verify_url(self) -> Sent:
        """WeCom's URL check (GET with an encrypted echostr)."""
        timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**9))
        echo = str(secrets.randbelow(10**18))
        echostr = crypto.encrypt(self.encoding_aes_key, echo.encode(), self.corp_id)
        signature = crypto.signature(self.token, timestamp, nonce, echostr)
        query = urllib.parse.urlencode(
            {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce, "echostr": echostr}
        )
        sent = self._request(urllib.request.Request(f"{self.url}?{query}"))  # noqa: S310
        if sent.status == 200 and sent.body.decode() != echo:
            sent.status = -1  # answered, but not the plaintext
        return sent


def new_external_id(rng: random.Random) -> str:
    return "wmSIM" + "".join(rng.choice("0123456789abcdef") for _ in range(24))


def scenario_events(
    sim: Simulator,
    *,
    scenario: str,
    count: int,
    staff: list[str],
    contacts: list[tuple[str, str]],
    states: list[str],
    rng: random.Random,
) -> list[dict]:
    """The events of a scenario. ``contacts`` are current (UserID, ExternalUserID) pairs that
    deletions and churn act on; adds come first where there are not enough of them."""
    events: list[dict] = []
    pool = list(contacts)
    rng.shuffle(pool)

    def add(n: int) -> list[tuple[str, str]]:
        added = []
        for _ in range(n):
            pair = (rng.choice(staff), new_external_id(rng))
            state = rng.choice(states) if states and rng.random() < 0.5 else ""
            change = "add_half_external_contact" if rng.random() < 0.1 else "add_external_contact"
            extra = {"State": state} if state else {}
            events.append(sim.event(change, user_id=pair[0], external=pair[1], **extra))
            added.append(pair)
        return added

    def existing(n: int) -> list[tuple[str, str]]:
        taken = [pool.pop() for _ in range(min(n, len(pool)))]
        return taken + add(n - len(taken))

    def later(user_id: str, external: str) -> dict:
        """CreateTime one second after the adds (the order WeCom would send them in)."""
        return {"user_id": user_id, "external": external, "create_time": sim.create_time() + 1}

    if scenario == "adds":
        add(count)
    elif scenario == "churn":
        for user_id, external in existing(count):
            events.append(sim.event("del_follow_user", **later(user_id, external)))
    elif scenario == "deletions":
        for index, (user_id, external) in enumerate(existing(count)):
            extra = {"Source": "DELETE_BY_TRANSFER"} if index % 3 == 2 else {}
            events.append(sim.event("del_external_contact", **later(user_id, external), **extra))
    elif scenario == "mix":
        added = add(count)
        for user_id, external in added[: max(1, count // 5)]:
            events.append(sim.event("edit_external_contact", user_id=user_id, external=external))
        events.append(sim.event("transfer_fail", user_id=staff[0], external=added[0][1],
                                FailReason="customer_refused"))  # fmt: skip
        events.append(sim.event("create", event="change_external_tag", Id="etSIMTAG",
                                TagType="tag"))  # fmt: skip
        events.append(sim.event("update", event="change_external_chat", ChatId="wrSIMCHAT",
                                UpdateDetail="add_member", JoinScene="1"))  # fmt: skip
        events.append(sim.event("", event="some_future_event"))
        for user_id, external in added[-max(1, count // 4) :]:
            events.append(sim.event("del_follow_user", **later(user_id, external)))
        for user_id, external in added[count // 4 : count // 4 + max(1, count // 10)]:
            events.append(sim.event("del_external_contact", **later(user_id, external)))
    else:
        raise ValueError(f"unknown scenario {scenario!r}")
    return events


def _get_json(url: str, token: str | None = None, body: dict | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        return json.loads(answer.read())


def contacts_over_api(
    base_url: str, *, username: str, password: str, per_staff: int = 100
) -> tuple[list[str], list[tuple[str, str]]]:
    """``(staff UserIDs, current (UserID, ExternalUserID) contacts)`` read through the API
    with a staff login: the WeCom config's staff mapping, and each mapped brand account's
    consumer friends (the demo's customers, who have seen posts)."""
    api = f"{base_url.rstrip('/')}/api/v1"
    token = _get_json(f"{api}/auth/token/", body={"username": username, "password": password})[
        "token"
    ]
    config = _get_json(f"{api}/wecom/config/", token)
    staff, contacts = [], []
    for row in config.get("staff", []):
        staff.append(row["user_id"])
        page = _get_json(
            f"{api}/customers/{row['brand_account']}/friends/?page_size={per_staff}", token
        )
        contacts += [
            (row["user_id"], friend["external_id"])
            for friend in page["results"]
            if friend["kind"] == "consumer"
        ]
    return staff, contacts
