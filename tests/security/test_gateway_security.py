"""Issue 16 on the chat path, one test per defect, over a real loopback gateway in
front of the scripted provider (httpx and the official openai client): headers
checked before anything is recorded (item 4), no 500 for a malformed request and
a falsy, boolean or string limit refused (5), the token checked before the body
is read, a size declared too large refused at once, a /metrics token, and 404s
that name nothing to a stranger (6), not ready while the store is unreachable
and 503 for a provider with no credential (10), and a reservation that covers
``n`` answers and an output limit sent upstream when the caller named none (12);
with a fixed-seed fuzz of request bodies."""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import openai
import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.asgi import MAX_BODY
from tests.gateway import conftest as gateway_fixtures
from tests.gateway.conftest import TOKENS, GatewayFactory
from tests.gateway.fakes import FakeProvider, Step, free_port

# The gateway's fixtures, registered here under their own names (tests/gateway is not a parent).
globals().update(
    {f: getattr(gateway_fixtures, f) for f in ("provider", "fake", "redis_server", "gateway")}
)

MSG = [{"role": "user", "content": "Summarise the failing build."}]
# One client for the module: making one costs about 50 ms (its TLS context).
CLIENT = httpx.Client(timeout=10)


def chat(url: str, body: Any, token: str = TOKENS["alpha"], **headers: Any) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return CLIENT.post(
        url + "/v1/chat/completions",
        content=raw,
        headers={"authorization": f"Bearer {token}", "content-type": "application/json", **headers},
    )


def error(r: httpx.Response) -> dict[str, Any]:
    assert r.headers["content-type"] == "application/json", r.text[:200]
    found: dict[str, Any] = r.json()["error"]
    return found


def raw_exchange(url: str, request: bytes, wait: float = 5.0) -> bytes:
    """Send ``request`` as it is and read what comes back within ``wait`` seconds."""
    where = urlsplit(url)
    with socket.create_connection((where.hostname, where.port), timeout=wait) as s:
        s.sendall(request)
        got = b""
        with contextlib.suppress(TimeoutError):
            while b"\r\n\r\n" not in got or not got.split(b"\r\n\r\n", 1)[1]:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        return got


# ---------------------------------------------------------------- item 4: headers


@pytest.mark.parametrize(
    "value", ["\u00b2".encode(), b"99999999999999999999", b"-1", b"1e3", b"9007199254740993"]
)
def test_a_step_header_that_is_no_bounded_number_is_refused(
    gateway: GatewayFactory, fake: FakeProvider, value: bytes
) -> None:
    """``x-fleet-step: 99999999999999999999`` made the settlement fail after the provider
    was paid; ``²`` (a digit to str.isdigit) was a 500."""
    with gateway() as (url, _, _):
        r = chat(url, {"model": "main", "messages": MSG}, **{"x-fleet-step": value})
        assert r.status_code == 400
        assert error(r)["code"] == "invalid_header" and error(r)["header"] == "x-fleet-step"
        assert "x-fleet-step" in error(r)["message"]
        ok = chat(url, {"model": "main", "messages": MSG}, **{"x-fleet-step": "9007199254740992"})
        assert ok.status_code == 200
    assert len(fake.seen) == 1  # the refused request never reached the provider


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("x-fleet-run-id", b"run-\xe9"),
        ("x-fleet-run-id", b"r" * 300),
        ("x-fleet-cache", b"off" * 100),
        ("cache-control", b"no-cache" + b"\xff" * 4),
        ("authorization", b"Bearer tok-\xe9"),
    ],
)
def test_a_header_the_gateway_reads_is_printable_ascii_and_bounded(
    gateway: GatewayFactory, fake: FakeProvider, name: str, value: bytes
) -> None:
    """Ids the trace records and values the policy compares are refused with the header's
    name when they are not printable ASCII or run too long."""
    with gateway() as (url, _, _):
        headers = {"authorization": f"Bearer {TOKENS['alpha']}".encode(), name: value}
        r = httpx.post(
            url + "/v1/chat/completions",
            content=orjson.dumps({"model": "main", "messages": MSG}),
            headers=headers,
            timeout=10,
        )
        assert r.status_code == 400 and error(r)["code"] == "invalid_header"
        assert error(r)["header"] == name
    assert fake.seen == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/models"),
        ("GET", "/approvals"),
        ("POST", "/v1/fleet/loops/alpha/trigger"),
        ("GET", "/v1/fleet/runs"),
    ],
)
@pytest.mark.parametrize("value", [b"Bearer tok-\xe9", b"Bearer " + b"t" * 2000])
def test_every_route_refuses_a_malformed_authorization_header(
    gateway: GatewayFactory, method: str, path: str, value: bytes
) -> None:
    """The token is looked up only when it is printable ASCII of a bounded length."""
    with gateway() as (url, _, _):
        r = httpx.request(method, url + path, headers={"authorization": value}, content=b"{}")
        assert r.status_code == 400, r.text[:200]
        assert error(r)["code"] == "invalid_header" and error(r)["header"] == "authorization"


# ---------------------------------------------------------------- item 5: bodies

# 300 levels: past what orjson writes (255), which the cache key and the trace need.
DEEP = (
    b'{"model": "main", "messages": [], "response_format": ' + b'{"a": [' * 150 + b"]}" * 150 + b"}"
)


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"stream": True, "stream_options": [1]}, "stream_options"),
        (
            {"stream": True, "stream_options": {"include_usage": "yes"}},
            "stream_options.include_usage",
        ),
        ({"stream": "false"}, "stream"),
        ({"stream": 1}, "stream"),
        ({"max_tokens": True}, "max_tokens"),
        ({"max_tokens": False}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": -5}, "max_tokens"),
        ({"max_tokens": 2.5}, "max_tokens"),
        ({"max_completion_tokens": True}, "max_completion_tokens"),
        ({"max_completion_tokens": 10**12}, "max_completion_tokens"),
        ({"n": 0}, "n"),
        ({"n": True}, "n"),
        ({"n": 10_000}, "n"),
        ({"messages": [1]}, "messages[0]"),
        ({"messages": [{"role": "user", "content": "hi"}, "hi"]}, "messages[1]"),
        ({"messages": [{"role": [], "content": "hi"}]}, "messages[0].role"),
        ({"tools": {"type": "function"}}, "tools"),
        ({"tools": [1]}, "tools[0]"),
        ({"response_format": "json"}, "response_format"),
        ({"model": 5}, "model"),
    ],
)
def test_a_field_the_gateway_reads_has_its_type_or_is_refused(
    gateway: GatewayFactory, fake: FakeProvider, extra: dict[str, Any], param: str
) -> None:
    """Each of these was a 500 with a traceback, or was forwarded as something it is not
    (a string "false" streamed, a max_tokens of true or 0 reached the provider)."""
    with gateway() as (url, _, _):
        r = chat(url, {"model": "main", "messages": MSG, **extra})
        assert r.status_code == 400, r.text[:300]
        assert error(r)["param"] == param and f"'{param}' must be" in error(r)["message"]
    assert fake.seen == []


def test_json_nested_past_the_bound_is_400_not_500(
    gateway: GatewayFactory, fake: FakeProvider
) -> None:
    """Nesting 256 deep or more failed orjson in the cache key: a 500."""
    with gateway() as (url, _, _):
        r = chat(url, DEEP)
        assert r.status_code == 400 and "deep" in error(r)["message"]
        shallow = {"model": "main", "messages": MSG, "response_format": {"a": [[[[{"b": 1}]]]]}}
        assert chat(url, shallow).status_code == 200
    assert len(fake.seen) == 1


JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def field(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field's value: often one the gateway takes, else anything JSON."""
    return good | JSONISH


MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "system"])}, optional={"content": field(st.text(max_size=20))}
)


@given(
    st.fixed_dictionaries(
        {
            "model": st.sampled_from(["main", "backup", "nope"]) | st.just("main") | JSONISH,
            "messages": st.lists(MESSAGE, max_size=3) | st.just(MSG) | JSONISH,
        },
        optional={
            "stream": field(st.booleans()),
            "stream_options": field(st.fixed_dictionaries({}, optional={"include_usage": JSONISH})),
            "max_tokens": field(st.integers(-2, 2**64)),
            "max_completion_tokens": field(st.integers(-2, 2**64)),
            "n": field(st.integers(-2, 300)),
            "tools": field(st.lists(field(st.fixed_dictionaries({"type": st.just("function")})))),
            "response_format": JSONISH,
            "user": JSONISH,
            "metadata": JSONISH,
        },
    )
)
# Inputs that answered 500 before, kept as seeds so every run tries them.
@example({"model": "main", "messages": MSG, "stream": True, "stream_options": [1]})
@example({"model": "main", "messages": MSG, "stream": True, "stream_options": "x"})
@example({"model": "main", "messages": [], "tools": [[[[]]]] * 2, "metadata": {"a": None}})
@settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_fuzz_chat_bodies_get_json_answers_never_a_500(
    fuzz_gateway: str, body: dict[str, Any]
) -> None:
    """A fixed-seed fuzz of the fields the gateway reads: every answer is JSON, none 5xx."""
    r = chat(fuzz_gateway, body)
    assert r.status_code < 500, r.text[:300]
    if r.status_code != 200 or not r.headers["content-type"].startswith("text/event-stream"):
        assert r.headers["content-type"] == "application/json"
        orjson.loads(r.content)


@pytest.fixture
def fuzz_gateway(gateway: GatewayFactory) -> Iterator[str]:
    with gateway(**{"caching.type": "none"}) as (url, _, _):
        yield url


# ---------------------------------------------------------------- item 6: before the body


def test_the_token_is_checked_before_the_body_is_read(gateway: GatewayFactory) -> None:
    """The chat path read up to 8 MiB from anyone before it looked at the token."""
    with gateway() as (url, _, _):
        got = raw_exchange(
            url,
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: 4000000\r\n\r\n{",
        )
        assert got.startswith(b"HTTP/1.1 401"), got[:200]
        assert b'"missing_token"' in got


def test_a_body_declared_too_large_is_413_before_it_is_sent(gateway: GatewayFactory) -> None:
    """A Content-Length over 8 MiB is refused as it is announced (it was read first, then
    answered 400)."""
    with gateway() as (url, _, _):
        got = raw_exchange(
            url,
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
            + f"authorization: Bearer {TOKENS['alpha']}\r\n".encode()
            + f"content-length: {MAX_BODY + 1}\r\n\r\n".encode(),
        )
        assert got.startswith(b"HTTP/1.1 413"), got[:200]
        assert b'"body_too_large"' in got
        big = chat(url, b'{"model": "main", "messages": [], "x": "' + b"a" * MAX_BODY + b'"}')
        assert big.status_code == 413 and error(big)["code"] == "body_too_large"


def test_metrics_takes_the_token_when_one_is_set(
    gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The metrics name every loop, model and budget: with FLEET_GATEWAY_METRICS_TOKEN set,
    only a caller with that token reads them."""
    monkeypatch.setenv("FLEET_GATEWAY_METRICS_TOKEN", "metrics-secret")
    with gateway() as (url, _, _):
        assert chat(url, {"model": "main", "messages": MSG}).status_code == 200
        anonymous = httpx.get(url + "/metrics")
        assert anonymous.status_code == 401 and error(anonymous)["code"] == "missing_token"
        assert "alpha" not in anonymous.text
        wrong = httpx.get(url + "/metrics", headers={"authorization": f"Bearer {TOKENS['alpha']}"})
        assert wrong.status_code == 401 and error(wrong)["code"] == "invalid_token"
        right = httpx.get(url + "/metrics", headers={"authorization": "Bearer metrics-secret"})
        assert right.status_code == 200 and 'loop="alpha"' in right.text
        assert httpx.get(url + "/healthz").status_code == 200


def test_a_stranger_learns_no_model_or_server_name(gateway: GatewayFactory) -> None:
    """Unauthenticated answers on the chat path and under /mcp/ name no catalog entry: the
    token is checked before the model or server is looked up, and a route 404 names none."""
    names = ("main", "backup", "split", "github", "m-main", "p1")
    with gateway(**{"mcp_servers": {"github": {"url": "http://127.0.0.1:9/mcp"}}}) as (url, _, _):
        answers = [
            chat(url, {"model": "nope", "messages": MSG}, token="not-a-token"),
            httpx.post(url + "/mcp/nope", content=b"{}"),
            httpx.post(url + "/mcp/github", content=b"{}"),
            httpx.get(url + "/v1/nothing-here"),
        ]
        for r in answers:
            assert r.status_code in (401, 404) and r.headers["content-type"] == "application/json"
            text = orjson.loads(r.content)
            message = str(text)
            assert not any(f"'{n}'" in message or f" {n}," in message for n in names), message
        assert [r.status_code for r in answers] == [401, 401, 401, 404]


# ---------------------------------------------------------------- item 10: operations


@pytest.fixture
def own_redis(tmp_path: Any) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    binary = shutil.which("redis-server")
    assert binary is not None, "redis-server is not installed"
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 10
    while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
        assert time.time() < deadline, "redis-server did not start"
        time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_not_ready_while_the_store_is_unreachable(
    gateway: GatewayFactory, own_redis: tuple[str, subprocess.Popen[bytes]]
) -> None:
    """With Redis stalled or down, /readyz said ready and requests got plain-text 500s."""
    store_url, proc = own_redis
    with gateway(store_url) as (url, _, _):
        ready = httpx.get(url + "/readyz")
        assert ready.status_code == 200 and ready.json()["ready"] is True
        proc.send_signal(signal.SIGSTOP)  # stalled: the probe is answered anyway, not ready
        try:
            stalled = httpx.get(url + "/readyz", timeout=10)
        finally:
            proc.send_signal(signal.SIGCONT)
        assert stalled.status_code == 503 and stalled.json()["store"] is False
        assert httpx.get(url + "/readyz", timeout=10).status_code == 200
        proc.kill()
        proc.wait(timeout=10)
        down = httpx.get(url + "/readyz", timeout=10)
        assert down.status_code == 503
        assert down.json()["ready"] is False and down.json()["store"] is False
        r = chat(url, {"model": "main", "messages": MSG})
        assert r.status_code >= 500 and error(r)["code"]  # JSON, with a reason
        assert httpx.get(url + "/healthz").status_code == 200


def test_a_provider_without_its_credential_is_skipped_then_503(
    gateway: GatewayFactory, fake: FakeProvider
) -> None:
    """A missing PROVIDER_* credential was sent upstream as no auth at all. Now the target
    is skipped (the fallback serves), and with none left the answer names the variable."""
    unset = {"secret": "p1", "env": "FLEET_TEST_UNSET_PROVIDER_KEY"}
    with gateway(**{"providers.p1.credentials": unset}) as (url, _, _):
        served = chat(url, {"model": "main", "messages": MSG})
        assert served.status_code == 200 and served.headers["x-fleet-target"] == "p2/m-backup"
        assert [s["model"] for s in fake.seen] == ["m-backup"]
        r = chat(url, {"model": "split", "messages": MSG, "stream": True})
        # split has a p2 target too: served; the alone-p1 case follows.
        assert r.status_code == 200
    fake.seen.clear()
    alone = {"models.backup.targets": [{"provider": "p1", "model": "m-backup"}]}
    with gateway(**{"providers.p1.credentials": unset, **alone}) as (url, _, _):
        r = chat(url, {"model": "backup", "messages": MSG}, token=TOKENS["beta"])
        assert r.status_code == 503 and error(r)["code"] == "provider_credentials_missing"
        assert "FLEET_TEST_UNSET_PROVIDER_KEY" in error(r)["message"]
        s = chat(url, {"model": "backup", "messages": MSG, "stream": True}, token=TOKENS["beta"])
        assert s.status_code == 503 and error(s)["code"] == "provider_credentials_missing"
    assert fake.seen == []


# ---------------------------------------------------------------- item 12: what is reserved


def test_the_reservation_covers_every_one_of_n_answers(
    gateway: GatewayFactory, fake: FakeProvider
) -> None:
    """n=4 with max_tokens=700 reserved one answer's worth and overspent 3.6x."""
    # 700 output tokens at $2/M (main) is $0.0014 an answer: one fits in $0.004, four do not.
    budget = {"limit_usd": 0.004, "window": "day"}
    with gateway(**{"loops.alpha.budget": budget}) as (url, _, _):
        one = chat(url, {"model": "main", "messages": MSG, "max_tokens": 700})
        assert one.status_code == 200
        four = chat(url, {"model": "main", "messages": MSG, "max_tokens": 700, "n": 4})
        assert four.status_code == 429 and error(four)["code"] == "budget_exceeded"
        assert "may cost up to $0.005" in error(four)["message"]
    assert len(fake.seen) == 1


def test_the_reserved_output_limit_is_sent_upstream(
    gateway: GatewayFactory, fake: FakeProvider
) -> None:
    """With no max_tokens the gateway reserved 4,096 output tokens but sent no limit, so a
    long answer overspent; the limit goes upstream in the field the caller used."""
    long = Step(completion_tokens=6000, content="x" * 100)
    fake.script("m-main", long, long, long)
    with gateway() as (url, _, _):
        client = openai.OpenAI(base_url=url + "/v1", api_key=TOKENS["alpha"], max_retries=0)
        client.chat.completions.create(model="main", messages=MSG)  # type: ignore[arg-type]
        client.chat.completions.create(
            model="main",
            messages=MSG,  # type: ignore[arg-type]
            max_completion_tokens=300,
        )
        for _ in client.chat.completions.create(
            model="main",
            messages=MSG,  # type: ignore[arg-type]
            stream=True,
        ):
            pass
    assert fake.seen[0]["max_tokens"] == 4096 and "max_completion_tokens" not in fake.seen[0]
    assert fake.seen[1]["max_completion_tokens"] == 300 and "max_tokens" not in fake.seen[1]
    assert fake.seen[2]["max_tokens"] == 4096 and fake.seen[2]["stream"] is True
