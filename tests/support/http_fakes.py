"""Local servers that speak the APIs warroom talks to, for tests and benchmarks.

`SlackApiServer` (Web API chat.postMessage / chat.update), `SlackWebhookServer` (incoming webhooks)
and `WebhookReceiver` (generic signed JSON webhooks) all record every request and take scripted
faults: `server.fail_next(Fault.http(429, retry_after=2), Fault.slack("fatal_error"), ...)` applies
them to the next requests in order; `server.fail_always(...)` to every request until `clear()`.
Use them as context managers or call start()/stop().
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from warroom.notifications import signing


@dataclass(frozen=True)
class Fault:
    """What to do instead of answering normally."""

    status: int = 200
    body: str = ""
    retry_after: float | None = None
    slack_error: str | None = None
    delay: float = 0.0  # answer normally (or with this fault) after sleeping
    hang: bool = False  # sleep `delay` then drop the connection without an answer
    late: bool = False  # only the delay: the call is a normal, successful one (not marked faulted)

    @staticmethod
    def http(status: int, body: str = "", retry_after: float | None = None) -> Fault:
        return Fault(status=status, body=body or f"error {status}", retry_after=retry_after)

    @staticmethod
    def slack(error: str) -> Fault:
        """HTTP 200 with {"ok": false, "error": error} (Slack's way of failing)."""
        return Fault(slack_error=error)

    @staticmethod
    def rate_limited(retry_after: float = 1) -> Fault:
        return Fault(status=429, body="rate_limited", retry_after=retry_after, slack_error="ratelimited")

    @staticmethod
    def slow(seconds: float) -> Fault:
        """Answer normally, late (longer than the client timeout = a timeout)."""
        return Fault(delay=seconds)

    @staticmethod
    def late_answer(seconds: float) -> Fault:
        """Answer normally after `seconds` (within the client timeout): a success, just slow."""
        return Fault(delay=seconds, late=True)

    @staticmethod
    def hang_up(seconds: float = 30) -> Fault:
        return Fault(delay=seconds, hang=True)


@dataclass
class Call:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    fault: Fault | None = None
    response_status: int | None = None
    response: Any = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.fault is None and self.response_status is not None and self.response_status < 300


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # workers deliver in parallel; the default backlog of 5 would refuse them


class RecordingServer:
    """A threaded HTTP server on a free loopback port that records requests and replays faults."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.ok_count = 0  # successful answers so far (cheap to poll under load)
        self.lock = threading.Condition()
        self._faults: deque[Fault] = deque()
        self._path_faults: dict[str, deque[Fault]] = {}
        self._always: Fault | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                outer._serve(self)

            def do_GET(self) -> None:  # noqa: N802
                outer._serve(self)

            def log_message(self, *args: Any) -> None:
                return

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # ---- lifecycle
    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RecordingServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- scripting
    def fail_next(self, *faults: Fault) -> None:
        with self.lock:
            self._faults.extend(faults)

    def fail_path(self, suffix: str, *faults: Fault) -> None:
        """Apply `faults` to the next requests whose path ends with `suffix` (`chat.update`) only."""
        with self.lock:
            self._path_faults.setdefault(suffix, deque()).extend(faults)

    def fail_always(self, fault: Fault) -> None:
        with self.lock:
            self._always = fault

    def clear(self) -> None:
        with self.lock:
            self._faults.clear()
            self._path_faults.clear()
            self._always = None

    def wait_for(self, predicate: Any, timeout: float = 10) -> bool:
        """Wait until predicate(calls) is true (bounded)."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while not predicate(self.calls):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.lock.wait(min(left, 0.2))
            return True

    def ok_calls(self) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.ok]

    # ---- request handling
    def _serve(self, req: BaseHTTPRequestHandler) -> None:
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        call = Call(
            method=req.command,
            path=req.path,
            headers={k.lower(): v for k, v in req.headers.items()},
            body=body,
            at=time.time(),
        )
        with self.lock:
            by_path = next((q for suffix, q in self._path_faults.items() if q and req.path.endswith(suffix)), None)
            fault = by_path.popleft() if by_path else self._faults.popleft() if self._faults else self._always
            call.fault = None if fault is not None and fault.late else fault
            self.calls.append(call)
            self.lock.notify_all()
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.hang:
            req.close_connection = True
            return
        if fault is not None and not fault.late and (fault.status != 200 or fault.slack_error):
            status, headers, payload = self.fault_response(call, fault)
        else:
            status, headers, payload = self.handle(call)
        with self.lock:
            call.response_status = status
            self.ok_count += call.ok
            self.lock.notify_all()
        data = (
            payload
            if isinstance(payload, bytes)
            else (json.dumps(payload).encode() if not isinstance(payload, str) else payload.encode())
        )
        try:
            req.send_response(status)
            for key, value in headers.items():
                req.send_header(key, value)
            req.send_header("Content-Length", str(len(data)))
            req.end_headers()
            req.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): the call stays recorded

    def fault_response(self, call: Call, fault: Fault) -> tuple[int, dict[str, str], Any]:
        headers = {"Content-Type": "text/plain"}
        if fault.retry_after is not None:
            headers["Retry-After"] = (
                str(int(fault.retry_after)) if float(fault.retry_after).is_integer() else str(fault.retry_after)
            )
        return fault.status, headers, fault.body or "error"

    def handle(self, call: Call) -> tuple[int, dict[str, str], Any]:
        return 200, {"Content-Type": "text/plain"}, "ok"


def _channel_id(name: str) -> str:
    return "C" + hashlib.sha1(name.encode()).hexdigest()[:9].upper()


class SlackApiServer(RecordingServer):
    """Speaks chat.postMessage and chat.update like Slack: JSON or form bodies, Bearer token, `ts` ids.

    `url` is what WARROOM_SLACK_API_URL should be. `channel_errors[name] = "channel_not_found"` fails
    every post to that channel; `token` (if set) must match or the answer is `invalid_auth`.
    """

    def __init__(self, token: str | None = "xoxb-test") -> None:
        super().__init__()
        self.token = token
        self.channel_errors: dict[str, str] = {}
        self.names: dict[str, str] = {}
        self.deleted: set[str] = set()  # ts of messages someone deleted: chat.update answers message_not_found
        self.expired_triggers: set[str] = set()
        self._seq = 0

    @property
    def url(self) -> str:
        return f"{self.base}/api/"

    def fault_response(self, call: Call, fault: Fault) -> tuple[int, dict[str, str], Any]:
        if fault.slack_error and fault.status == 200:
            return 200, {"Content-Type": "application/json"}, {"ok": False, "error": fault.slack_error}
        status, headers, body = super().fault_response(call, fault)
        if fault.slack_error:
            headers["Content-Type"] = "application/json"
            body = {"ok": False, "error": fault.slack_error}
        return status, headers, body

    def _args(self, call: Call) -> dict[str, Any]:
        if call.path.startswith("/response/"):
            return dict(json.loads(call.body or b"{}"))
        ctype = call.headers.get("content-type", "")
        if "json" in ctype:
            return dict(json.loads(call.body or b"{}"))
        form = parse_qs(call.body.decode())
        args: dict[str, Any] = {k: v[0] for k, v in form.items()}
        if isinstance(args.get("blocks"), str):
            args["blocks"] = json.loads(args["blocks"])
        return args

    def handle(self, call: Call) -> tuple[int, dict[str, str], Any]:
        args = self._args(call)
        call.data = args
        if call.path.startswith("/response/"):  # a response_url: no token, a plain "ok"
            call.response = {"ok": True}
            return 200, {"Content-Type": "text/plain"}, "ok"
        method = call.path.rsplit("/", 1)[-1]
        if self.token and call.headers.get("authorization") != f"Bearer {self.token}":
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        channel = str(args.get("channel", ""))
        name = self.names.get(channel, channel)
        if name in self.channel_errors:
            return 200, {}, {"ok": False, "error": self.channel_errors[name]}
        if method == "chat.postMessage":
            if not args.get("text") and not args.get("blocks"):
                return 200, {}, {"ok": False, "error": "no_text"}
            with self.lock:
                self._seq += 1
                ts = f"{1700000000 + self._seq}.{self._seq:06d}"
            cid = _channel_id(name)
            self.names[cid] = name
            call.response = {"ok": True, "channel": cid, "ts": ts, "message": {"text": args.get("text")}}
            return 200, {"Content-Type": "application/json"}, call.response
        if method == "chat.update":
            if str(args.get("ts")) in self.deleted:
                return 200, {}, {"ok": False, "error": "message_not_found"}
            call.response = {"ok": True, "channel": channel, "ts": args.get("ts"), "text": args.get("text")}
            return 200, {"Content-Type": "application/json"}, call.response
        return self.handle_more(call, method, args)

    def handle_more(self, call: Call, method: str, args: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        """views.open, chat.postEphemeral and the conversations.* calls of an incident's own channel."""
        if method == "views.open":
            if not args.get("trigger_id") or args["trigger_id"] in self.expired_triggers:
                return 200, {}, {"ok": False, "error": "expired_trigger_id"}
            view = args.get("view")
            view = json.loads(view) if isinstance(view, str) else view
            args["view"] = view
            with self.lock:
                self._seq += 1
                view_id = f"V{self._seq:08d}"
            call.response = {"ok": True, "view": {**(view or {}), "id": view_id, "hash": f"h{self._seq}"}}
            return 200, {"Content-Type": "application/json"}, call.response
        if method == "chat.postEphemeral":
            call.response = {"ok": True, "message_ts": f"{1700000000 + self._seq}.000001"}
            return 200, {"Content-Type": "application/json"}, call.response
        if method == "conversations.create":
            name = str(args.get("name", ""))
            if name in self.names.values():
                return 200, {}, {"ok": False, "error": "name_taken"}
            cid = _channel_id(name)
            self.names[cid] = name
            call.response = {"ok": True, "channel": {"id": cid, "name": name}}
            return 200, {"Content-Type": "application/json"}, call.response
        if method in ("conversations.invite", "conversations.setTopic", "bookmarks.add", "conversations.archive"):
            call.response = {"ok": True}
            return 200, {"Content-Type": "application/json"}, call.response
        return 404, {}, {"ok": False, "error": "unknown_method"}

    # ---- what tests read
    def posts(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Successful chat.postMessage calls: their arguments plus the `ts` we answered."""
        out = []
        for c in self.ok_calls():
            posted = c.path.endswith("chat.postMessage") and isinstance(c.response, dict) and c.response.get("ok")
            if posted and (channel is None or c.data.get("channel") == channel):
                out.append({**c.data, "ts": c.response["ts"], "channel_id": c.response["channel"], "at": c.at})
        return out

    def calls_to(self, method: str) -> list[Call]:
        """Every call of a Web API method (`views.open`), or to response URLs (`response`), ok or not."""
        with self.lock:
            if method == "response":
                return [c for c in self.calls if c.path.startswith("/response/")]
            return [c for c in self.calls if c.path.endswith("/" + method)]

    def response_url(self, n: int) -> str:
        return f"{self.base}/response/{n}"

    def updates(self) -> list[dict[str, Any]]:
        return [
            c.data
            for c in self.ok_calls()
            if c.path.endswith("chat.update") and isinstance(c.response, dict) and c.response.get("ok")
        ]


class SlackWebhookServer(RecordingServer):
    """Incoming webhooks: POST JSON to `url`; 200 `ok`; errors as plain text.

    Script errors with `fail_next(Fault.http(404, "no_service"))`."""

    @property
    def url(self) -> str:
        return f"{self.base}/services/T000/B000/XXXX"

    def handle(self, call: Call) -> tuple[int, dict[str, str], Any]:
        try:
            call.data = json.loads(call.body or b"{}")
        except ValueError:
            return 400, {}, "invalid_payload"
        if not call.data.get("text") and not call.data.get("blocks"):
            return 400, {}, "no_text"
        return 200, {"Content-Type": "text/html"}, "ok"

    def messages(self) -> list[dict[str, Any]]:
        return [c.data for c in self.ok_calls()]


class WebhookReceiver(RecordingServer):
    """A generic JSON webhook endpoint that checks warroom's signature with `secret`."""

    def __init__(self, secret: str | None = None, tolerance: float = 300, now: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.secret = secret
        self.tolerance = tolerance
        self.now = now  # tests with a FakeClock pass `lambda: clock.now().timestamp()`

    @property
    def url(self) -> str:
        return f"{self.base}/hooks/warroom"

    def handle(self, call: Call) -> tuple[int, dict[str, str], Any]:
        call.data = json.loads(call.body or b"{}")
        if self.secret is not None:
            header = call.headers.get(signing.SIGNATURE_HEADER.lower(), "")
            if not signing.verify(self.secret, header, call.body, now=self.now(), tolerance=self.tolerance):
                return 401, {}, "bad signature"
        return 202, {"Content-Type": "application/json"}, {"received": True}

    def deliveries(self) -> list[Call]:
        return self.ok_calls()
