"""The local stack's SQS: SQS's semantics on a clock the test moves (visibility, receive counts,
redrive, delays, receipt handles), then the real server process through boto3 (the protocol, its
errors, long polling)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest
import uvicorn
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from qai_local.stack import asgi, queue_service
from qai_local.stack.access import LocalAccess
from qai_local.stack.api import LocalApi
from qai_local.stack.asgi import listening_socket, server_config
from qai_local.stack.queue_auth import QueueKey
from qai_local.stack.queue_server import HEALTH_PATH, QueueApp
from qai_local.stack.queue_service import QueueError, QueueService

ROOT = Path(__file__).parent.parent
INFINITE_RECEIVES = '{"deadLetterTargetArn": "t", "maxReceiveCount": 1e999}'


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(clock: Clock) -> QueueService:
    return QueueService(clock)


def call(service: QueueService, action: str, **request: Any) -> dict[str, Any]:
    return asyncio.run(service.call(action, request, "http://queue"))


def make_queues(service: QueueService, max_receive_count: int = 2, visibility: int = 30) -> tuple[str, str]:
    dlq = call(service, "CreateQueue", QueueName="dlq")["QueueUrl"]
    arn = call(service, "GetQueueAttributes", QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": str(max_receive_count)})
    attributes = {"RedrivePolicy": redrive, "VisibilityTimeout": str(visibility)}
    return call(service, "CreateQueue", QueueName="jobs", Attributes=attributes)["QueueUrl"], dlq


def receive(service: QueueService, url: str, **request: Any) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = call(service, "ReceiveMessage", QueueUrl=url, **request).get("Messages", [])
    return messages


def in_flight(service: QueueService, *, visibility: int) -> tuple[str, dict[str, Any]]:
    """The jobs queue's URL and a message "a" sent to it and received."""
    url, _ = make_queues(service, max_receive_count=5, visibility=visibility)
    call(service, "SendMessage", QueueUrl=url, MessageBody="a")
    (message,) = receive(service, url)
    return url, message


def test_a_received_message_is_hidden_until_its_visibility_timeout_runs_out(
    service: QueueService, clock: Clock
) -> None:
    url, _ = make_queues(service, max_receive_count=5, visibility=30)
    sent = call(service, "SendMessage", QueueUrl=url, MessageBody='{"n": 1}')
    assert sent["MD5OfMessageBody"] == hashlib.md5(b'{"n": 1}', usedforsecurity=False).hexdigest()
    (first,) = receive(service, url, MessageSystemAttributeNames=["All"])
    assert first["Body"] == '{"n": 1}' and first["Attributes"]["ApproximateReceiveCount"] == "1"
    assert receive(service, url) == []
    clock.now += 29
    assert receive(service, url) == []
    clock.now += 1
    (again,) = receive(service, url, MessageSystemAttributeNames=["ApproximateReceiveCount"])
    assert again["MessageId"] == first["MessageId"] and again["ReceiptHandle"] != first["ReceiptHandle"]
    assert again["Attributes"] == {"ApproximateReceiveCount": "2"}


def test_repeated_visibility_changes_do_not_grow_the_queue_and_the_latest_one_holds(
    service: QueueService, clock: Clock
) -> None:
    url, message = in_flight(service, visibility=30)
    for _ in range(5000):
        call(
            service,
            "ChangeMessageVisibility",
            QueueUrl=url,
            ReceiptHandle=message["ReceiptHandle"],
            VisibilityTimeout=60,
        )
    assert len(service.queues["jobs"].hidden) <= 2 + queue_service.STALE_ENTRIES_KEPT
    clock.now += 59
    assert receive(service, url) == []
    clock.now += 1
    assert [m["Body"] for m in receive(service, url)] == ["a"]


def test_queues_beyond_the_limit_are_refused(service: QueueService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queue_service, "MAX_QUEUES", 3)
    for name in ("a", "b", "c"):
        call(service, "CreateQueue", QueueName=name)
    assert call(service, "CreateQueue", QueueName="a") == {"QueueUrl": "http://queue/000000000000/a"}  # exists
    with pytest.raises(QueueError) as refused:
        call(service, "CreateQueue", QueueName="d")
    assert refused.value.code == "OverLimit"


def test_messages_beyond_the_bytes_held_are_refused_until_some_go(
    service: QueueService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queue_service, "MAX_HELD_BYTES", 12)
    url = call(service, "CreateQueue", QueueName="full")["QueueUrl"]
    other = call(service, "CreateQueue", QueueName="other")["QueueUrl"]
    call(service, "SendMessage", QueueUrl=url, MessageBody="12345")
    call(service, "SendMessage", QueueUrl=other, MessageBody="é1234")  # 6 bytes, counted in bytes
    with pytest.raises(QueueError) as refused:
        call(service, "SendMessage", QueueUrl=url, MessageBody="12345")  # 5 + 6 + 5 > 12, across queues
    assert refused.value.code == "OverLimit"
    (message,) = receive(service, url)
    call(service, "DeleteMessage", QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    call(service, "SendMessage", QueueUrl=url, MessageBody="1234")  # 6 + 4: room again
    call(service, "PurgeQueue", QueueUrl=url)
    call(service, "PurgeQueue", QueueUrl=other)
    assert service.held_bytes == 0
    call(service, "SendMessage", QueueUrl=url, MessageBody="123456789012")


def test_delete_takes_a_message_off_and_an_older_receipt_handle_deletes_nothing(
    service: QueueService, clock: Clock
) -> None:
    url, first = in_flight(service, visibility=10)
    clock.now += 10
    (second,) = receive(service, url)
    assert call(service, "DeleteMessage", QueueUrl=url, ReceiptHandle=first["ReceiptHandle"]) == {}
    clock.now += 10
    (third,) = receive(service, url)  # the older handle deleted nothing
    assert third["MessageId"] == second["MessageId"]
    call(service, "DeleteMessage", QueueUrl=url, ReceiptHandle=third["ReceiptHandle"])
    call(service, "DeleteMessage", QueueUrl=url, ReceiptHandle=third["ReceiptHandle"])  # again: no error
    clock.now += 60
    assert receive(service, url) == []
    counts = call(service, "GetQueueAttributes", QueueUrl=url)["Attributes"]
    assert counts["ApproximateNumberOfMessages"] == "0" and counts["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_a_message_visible_again_can_still_be_deleted_with_its_latest_handle(
    service: QueueService, clock: Clock
) -> None:
    url, _ = make_queues(service, max_receive_count=5, visibility=10)
    call(service, "SendMessage", QueueUrl=url, MessageBody="a")
    call(service, "SendMessage", QueueUrl=url, MessageBody="b")
    (first,) = receive(service, url)
    clock.now += 10
    call(service, "GetQueueAttributes", QueueUrl=url)  # reveals it
    call(service, "DeleteMessage", QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    assert [m["Body"] for m in receive(service, url, MaxNumberOfMessages=10)] == ["b"]


def test_change_visibility_brings_a_message_back_sooner_or_later(service: QueueService, clock: Clock) -> None:
    url, _ = make_queues(service, max_receive_count=5, visibility=30)
    call(service, "SendMessage", QueueUrl=url, MessageBody="a")
    (first,) = receive(service, url)
    call(service, "ChangeMessageVisibility", QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0)
    (second,) = receive(service, url)
    call(service, "ChangeMessageVisibility", QueueUrl=url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=100)
    clock.now += 99
    assert receive(service, url) == []  # its first timeout (30 s) no longer counts
    clock.now += 1
    assert len(receive(service, url)) == 1
    with pytest.raises(QueueError) as stale:  # the handle of an earlier receive
        call(
            service, "ChangeMessageVisibility", QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=5
        )
    assert stale.value.code == "MessageNotInflight"


def test_after_max_receive_count_receives_a_message_moves_to_the_dead_letter_queue(
    service: QueueService, clock: Clock
) -> None:
    url, dlq = make_queues(service, max_receive_count=2, visibility=10)
    call(service, "SendMessage", QueueUrl=url, MessageBody="poison")
    for _ in range(2):
        assert len(receive(service, url)) == 1
        clock.now += 10
    assert receive(service, url) == []
    (dead,) = receive(service, dlq, MessageSystemAttributeNames=["All"])
    assert dead["Body"] == "poison" and dead["Attributes"]["ApproximateReceiveCount"] == "3"


def test_a_delayed_message_waits_and_messages_come_in_order(service: QueueService, clock: Clock) -> None:
    url, _ = make_queues(service)
    call(service, "SendMessage", QueueUrl=url, MessageBody="later", DelaySeconds=5)
    for body in ("one", "two", "three"):
        call(service, "SendMessage", QueueUrl=url, MessageBody=body)
    assert [m["Body"] for m in receive(service, url, MaxNumberOfMessages=10)] == ["one", "two", "three"]
    clock.now += 5
    assert [m["Body"] for m in receive(service, url, MaxNumberOfMessages=10)] == ["later"]


def test_messages_kept_past_the_retention_period_are_deleted(service: QueueService, clock: Clock) -> None:
    short = call(service, "CreateQueue", QueueName="short", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    default = call(service, "CreateQueue", QueueName="default")["QueueUrl"]
    for url in (short, default):
        call(service, "SendMessage", QueueUrl=url, MessageBody="old")
    (in_flight,) = receive(service, short, VisibilityTimeout=30)
    clock.now += 40
    call(service, "SendMessage", QueueUrl=short, MessageBody="newer")
    clock.now += 20  # "old" is 60 s old, in flight or not
    assert [m["Body"] for m in receive(service, short, MaxNumberOfMessages=10)] == ["newer"]
    assert service.held_bytes == len("newer") + len("old")  # the default queue's, 4 days
    call(service, "DeleteMessage", QueueUrl=short, ReceiptHandle=in_flight["ReceiptHandle"])  # gone: nothing to do
    clock.now += 4 * 86_400 - 61
    assert [m["Body"] for m in receive(service, default)] == ["old"]
    clock.now += 1
    assert call(service, "GetQueueAttributes", QueueUrl=default)["Attributes"]["ApproximateNumberOfMessages"] == "0"
    with pytest.raises(QueueError) as too_short:
        call(service, "CreateQueue", QueueName="shorter", Attributes={"MessageRetentionPeriod": "59"})
    assert too_short.value.code == "InvalidParameterValue"


def test_a_received_message_stays_hidden_twelve_hours_at_most(service: QueueService, clock: Clock) -> None:
    url, message = in_flight(service, visibility=30)
    clock.now += 43_000
    with pytest.raises(QueueError) as too_long:
        call(
            service,
            "ChangeMessageVisibility",
            QueueUrl=url,
            ReceiptHandle=message["ReceiptHandle"],
            VisibilityTimeout=300,
        )
    assert too_long.value.code == "InvalidParameterValue"
    call(
        service, "ChangeMessageVisibility", QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=200
    )
    clock.now += 200
    assert len(receive(service, url)) == 1  # received again: twelve hours from now


def test_a_jump_of_the_wall_clock_shows_no_message_in_flight_early() -> None:
    jump = [0.0]
    service = QueueService(wall_clock=lambda: time.time() + jump[0])  # and its own clock for times
    url = call(service, "CreateQueue", QueueName="jobs")["QueueUrl"]
    call(service, "SendMessage", QueueUrl=url, MessageBody="a")
    assert len(receive(service, url, VisibilityTimeout=60)) == 1
    jump[0] = 86_400.0  # the machine's clock set forward a day
    assert receive(service, url) == []  # still in flight
    call(service, "SendMessage", QueueUrl=url, MessageBody="b")
    (shown,) = receive(service, url, MessageSystemAttributeNames=["All"])
    sent = int(shown["Attributes"]["SentTimestamp"]) / 1000
    assert shown["Body"] == "b" and abs(sent - (time.time() + 86_400)) < 60  # shown in the wall clock's time


@pytest.mark.parametrize(
    ("action", "request_", "code"),
    [
        ("SendMessage", {"QueueUrl": "http://queue/000000000000/nope", "MessageBody": "a"}, "QueueDoesNotExist"),
        ("SendMessage", {"QueueUrl": "jobs", "MessageBody": ""}, "MissingParameter"),
        ("SendMessage", {"QueueUrl": "jobs", "MessageBody": "a" * (256 * 1024 + 1)}, "InvalidParameterValue"),
        ("SendMessage", {"QueueUrl": "jobs", "MessageBody": "a", "DelaySeconds": 901}, "InvalidParameterValue"),
        ("SendMessage", {"QueueUrl": "jobs", "MessageBody": "a", "DelaySeconds": "soon"}, "InvalidParameterValue"),
        ("ReceiveMessage", {"QueueUrl": "jobs", "MaxNumberOfMessages": 11}, "InvalidParameterValue"),
        ("ReceiveMessage", {"QueueUrl": "jobs", "MaxNumberOfMessages": 0}, "InvalidParameterValue"),
        ("ReceiveMessage", {"QueueUrl": "jobs", "VisibilityTimeout": 43_201}, "InvalidParameterValue"),
        ("CreateQueue", {"QueueName": "x", "Attributes": {"VisibilityTimeout": "soon"}}, "InvalidParameterValue"),
        ("CreateQueue", {"QueueName": "x", "Attributes": {"DelaySeconds": "901"}}, "InvalidParameterValue"),
        ("ReceiveMessage", {"QueueUrl": "jobs", "WaitTimeSeconds": 21}, "InvalidParameterValue"),
        ("DeleteMessage", {"QueueUrl": "jobs", "ReceiptHandle": "forged"}, "ReceiptHandleIsInvalid"),
        (
            "ChangeMessageVisibility",
            {"QueueUrl": "jobs", "ReceiptHandle": "x", "VisibilityTimeout": 1},
            "ReceiptHandleIsInvalid",
        ),
        ("CreateQueue", {"QueueName": "bad name!"}, "InvalidParameterValue"),
        ("CreateQueue", {"QueueName": "jobs", "Attributes": {"VisibilityTimeout": "1"}}, "QueueAlreadyExists"),
        ("CreateQueue", {"QueueName": "x", "Attributes": {"RedrivePolicy": "{not json"}}, "InvalidParameterValue"),
        (
            "CreateQueue",
            {"QueueName": "x", "Attributes": {"RedrivePolicy": '{"maxReceiveCount": 2}'}},
            "InvalidParameterValue",
        ),
        (
            "CreateQueue",
            {
                "QueueName": "x",
                "Attributes": {"RedrivePolicy": '{"deadLetterTargetArn": "a:dlq", "maxReceiveCount": 0}'},
            },
            "InvalidParameterValue",
        ),
        (
            "CreateQueue",
            {
                "QueueName": "x",
                "Attributes": {"RedrivePolicy": '{"deadLetterTargetArn": "a:no", "maxReceiveCount": 1}'},
            },
            "InvalidParameterValue",
        ),
        ("ListQueues", {}, "UnsupportedOperation"),
    ],
)
def test_bad_requests_get_the_error_sqs_would_answer(
    service: QueueService, action: str, request_: dict[str, Any], code: str
) -> None:
    make_queues(service)
    with pytest.raises(QueueError) as error:
        call(service, action, **request_)
    assert error.value.code == code


KEY = QueueKey("QAILOCALTEST", "the test's secret")


@pytest.fixture(scope="module")
def queue_server() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "qai_local.stack.queue_server", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, **KEY.environment()},
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + HEALTH_PATH, timeout=1):
                    break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "the queue server did not start"
                time.sleep(0.05)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture
def sqs(queue_server: str) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=queue_server,
        region_name="us-east-1",
        aws_access_key_id=KEY.access_key_id,
        aws_secret_access_key=KEY.secret_access_key,
    )


def test_boto3_sends_receives_and_deletes_through_the_server(sqs: Any, queue_server: str) -> None:
    url = sqs.create_queue(QueueName="boto")["QueueUrl"]
    assert url == f"{queue_server}/000000000000/boto"
    assert sqs.get_queue_url(QueueName="boto")["QueueUrl"] == url
    sqs.send_message(QueueUrl=url, MessageBody='{"projectId": "p"}')
    (message,) = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["All"])["Messages"]
    assert message["Body"] == '{"projectId": "p"}' and message["Attributes"]["ApproximateReceiveCount"] == "1"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    with pytest.raises(ClientError) as missing:
        sqs.send_message(QueueUrl=f"{queue_server}/000000000000/nope", MessageBody="a")
    assert missing.value.response["Error"]["Code"] == "QueueDoesNotExist"
    with pytest.raises(ClientError) as unsupported:
        sqs.list_queues()
    assert unsupported.value.response["Error"]["Code"] == "UnsupportedOperation"


def test_a_long_poll_returns_the_message_sent_while_it_waits(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="long-poll")["QueueUrl"]
    received: list[Any] = []
    waiting = threading.Thread(
        target=lambda: received.append(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20).get("Messages"))
    )
    waiting.start()
    time.sleep(0.3)
    sqs.send_message(QueueUrl=url, MessageBody="wake")
    waiting.join(timeout=15)
    assert not waiting.is_alive() and received[0][0]["Body"] == "wake"


@pytest.mark.parametrize(
    ("method", "headers", "body", "status"),
    [
        ("GET", {}, None, 400),  # not SQS's protocol
        ("POST", {"X-Amz-Target": "AmazonSQS.SendMessage"}, b"{not json", 400),
        ("POST", {"X-Amz-Target": "AmazonSQS.SendMessage"}, b"[1, 2]", 400),
        ("POST", {"X-Amz-Target": "AmazonS3.PutObject"}, b"{}", 400),
        ("POST", {"X-Amz-Target": "AmazonSQS.SendMessage"}, b"x" * (600 * 1024), 413),
        # Parameters of other types than SQS's: a 400, never a 500.
        ("POST", {"X-Amz-Target": "AmazonSQS.ReceiveMessage"}, b'{"QueueUrl": "t", "MaxNumberOfMessages": "ten"}', 400),
        ("POST", {"X-Amz-Target": "AmazonSQS.ReceiveMessage"}, b'{"QueueUrl": "t", "AttributeNames": 5}', 400),
        ("POST", {"X-Amz-Target": "AmazonSQS.GetQueueAttributes"}, b'{"QueueUrl": "t", "AttributeNames": [{}]}', 400),
        ("POST", {"X-Amz-Target": "AmazonSQS.CreateQueue"}, b'{"QueueName": "t2", "Attributes": [1]}', 400),
        (
            "POST",
            {"X-Amz-Target": "AmazonSQS.SendMessage"},
            b'{"QueueUrl": "t", "MessageBody": "x", "DelaySeconds": 1e999}',
            400,
        ),
        ("POST", {"X-Amz-Target": "AmazonSQS.ReceiveMessage"}, b'{"QueueUrl": "t", "WaitTimeSeconds": Infinity}', 400),
        (
            "POST",
            {"X-Amz-Target": "AmazonSQS.CreateQueue"},
            json.dumps({"QueueName": "t3", "Attributes": {"RedrivePolicy": INFINITE_RECEIVES}}).encode(),
            400,
        ),
        ("POST", {"X-Amz-Target": "AmazonSQS.SendMessage"}, b"[" * 100_000, 400),
        (
            "POST",
            {"X-Amz-Target": "AmazonSQS.CreateQueue"},
            json.dumps({"QueueName": "t4", "Attributes": {"RedrivePolicy": "[" * 100_000}}).encode(),
            400,
        ),
        ("POST", {"X-Amz-Target": "AmazonSQS.ReceiveMessage"}, b'{"QueueUrl": "t", "MaxNumberOfMessages": true}', 400),
        (
            "POST",
            {"X-Amz-Target": "AmazonSQS.SendMessage"},
            b'{"QueueUrl": "t", "MessageBody": "x", "DelaySeconds": 1.9}',
            400,
        ),
        # A web page on a rebound DNS name (its own name resolving to 127.0.0.1) sends its own Host.
        ("POST", {"X-Amz-Target": "AmazonSQS.SendMessage", "Host": "rebound.example"}, b'{"QueueUrl": "t"}', 403),
    ],
)
def test_what_is_not_an_sqs_request_gets_a_4xx(
    queue_server: str, sqs: Any, method: str, headers: dict[str, str], body: bytes | None, status: int
) -> None:
    sqs.create_queue(QueueName="t")
    status_and_type = answer_to(signed(queue_server + "/", method, headers, body or b"", KEY))
    assert status_and_type[0] == status and status_and_type[1].startswith("com.amazonaws.sqs#")


def signed(url: str, method: str, headers: dict[str, str], body: bytes, key: QueueKey) -> urllib.request.Request:
    """The request as boto3 would sign it with ``key``."""
    request = AWSRequest(method=method, url=url, headers=headers, data=body)
    SigV4Auth(Credentials(key.access_key_id, key.secret_access_key), "sqs", "us-east-1").add_auth(request)
    return urllib.request.Request(url, data=body or None, method=method, headers=dict(request.headers.items()))


def answer_to(request: urllib.request.Request) -> tuple[int, str]:
    """A refused request's status and error type."""
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=5)
    return answer.value.code, json.loads(answer.value.read())["__type"]


SEND = {"X-Amz-Target": "AmazonSQS.SendMessage", "Content-Type": "application/x-amz-json-1.0"}


def test_only_requests_signed_with_the_stack_s_key_are_taken(queue_server: str, sqs: Any) -> None:
    url = sqs.create_queue(QueueName="signed")["QueueUrl"]
    body = json.dumps({"QueueUrl": url, "MessageBody": "forged"}).encode()
    unsigned = urllib.request.Request(queue_server + "/", data=body, method="POST", headers=SEND)
    assert answer_to(unsigned) == (403, "com.amazonaws.sqs#MissingAuthenticationToken")
    other_secret = QueueKey(KEY.access_key_id, "another secret")
    assert answer_to(signed(queue_server + "/", "POST", SEND, body, other_secret))[0] == 403
    other_key = QueueKey("QAILOCALOTHER", KEY.secret_access_key)
    assert answer_to(signed(queue_server + "/", "POST", SEND, body, other_key)) == (
        403,
        "com.amazonaws.sqs#InvalidClientTokenId",
    )
    # A signed request replayed with another body, or long after it was signed, is refused too.
    good = signed(queue_server + "/", "POST", SEND, body, KEY)
    tampered = urllib.request.Request(
        good.full_url, data=body.replace(b"forged", b"forget"), method="POST", headers=dict(good.header_items())
    )
    assert answer_to(tampered) == (403, "com.amazonaws.sqs#SignatureDoesNotMatch")
    with mock.patch("botocore.auth.get_current_datetime", return_value=datetime.datetime(2020, 1, 1)):
        stale = signed(queue_server + "/", "POST", SEND, body, KEY)
    assert answer_to(stale) == (403, "com.amazonaws.sqs#SignatureDoesNotMatch")
    assert sqs.receive_message(QueueUrl=url).get("Messages") is None  # none of them got in
    urllib.request.urlopen(good, timeout=5).close()  # the one signed with the key is taken
    (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
    assert message["Body"] == "forged"


def test_the_stack_servers_accept_connections_with_nagle_off() -> None:
    # uvicorn writes an answer's head and body apart: with Nagle on, a kept-alive connection's
    # body waited for the client's delayed acknowledgement, 40 ms an answer.
    with listening_socket(0) as listening, socket.create_connection(listening.getsockname()[:2]):
        accepted, _ = listening.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def health_answer(client: socket.socket) -> bytes:
    """One whole answer to a health check (its head and its body "ok" may come apart)."""
    answer = b""
    while not answer.endswith(b"\r\n\r\nok"):
        piece = client.recv(4096)
        assert piece, answer
        answer += piece
    return answer


@contextlib.contextmanager
def served(app: Any) -> Iterator[tuple[str, int]]:
    """``app`` served as the stack serves its own (``server_config``) on a free port: its address."""
    listening = listening_socket(0)
    address = listening.getsockname()[:2]
    server = uvicorn.Server(server_config(app))
    serving = threading.Thread(target=server.run, kwargs={"sockets": [listening]})
    serving.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        yield address
    finally:
        server.should_exit = True
        serving.join(timeout=10)


@pytest.fixture
def short_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asgi, "REQUEST_TIMEOUT_SECONDS", 0.5)


@contextlib.contextmanager
def three_connections(address: tuple[str, int]) -> Iterator[list[socket.socket]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(socket.create_connection(address)) for _ in range(3)]


def closed_at_the_deadline(*clients: socket.socket) -> bool:
    """Whether the server closes each of them within 2 s (after whatever it answered first)."""
    started = time.monotonic()
    for client in clients:
        client.settimeout(5)
        while client.recv(4096):
            pass
    return time.monotonic() - started < 2


@pytest.mark.usefixtures("short_deadline")
def test_a_connection_that_sends_no_whole_request_head_in_time_is_closed() -> None:
    # Otherwise 512 such connections (uvicorn's limit_concurrency) would get every other client a 503.
    with served(QueueApp(QueueService(), 0, KEY)) as address:
        health = f"GET {HEALTH_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{address[1]}\r\n\r\n".encode()
        with three_connections(address) as (silent, trickling, kept_alive):
            trickling.sendall(health[:10])
            kept_alive.sendall(health)
            assert health_answer(kept_alive).startswith(b"HTTP/1.1")
            time.sleep(0.3)
            trickling.sendall(health[10:20])  # a byte now and then does not keep it open
            kept_alive.sendall(health)  # a second request on time is answered
            assert health_answer(kept_alive).startswith(b"HTTP/1.1")
            assert closed_at_the_deadline(silent, trickling)


async def body_reader(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An app that reads the whole body before it answers, as the stack's do."""
    if scope["type"] == "http":
        body = await asgi.read_body(receive, 2**20)
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body or b""))]}
        )
        await send({"type": "http.response.body", "body": body or b""})


@pytest.mark.usefixtures("short_deadline")
def test_a_connection_whose_request_body_does_not_come_in_time_is_closed() -> None:
    with served(body_reader) as address:
        head = f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{address[1]}\r\nContent-Length: 20\r\n".encode()
        with three_connections(address) as (announced, expecting, on_time):
            announced.sendall(head + b"\r\n" + b"{" * 10)  # half the body it announced, and no more
            expecting.sendall(head + b"Expect: 100-continue\r\n\r\n")
            on_time.sendall(head + b"\r\n")
            time.sleep(0.3)
            on_time.sendall(b"{}" + b" " * 18)  # the rest of its body in time: answered
            on_time.settimeout(5)
            assert on_time.recv(9) == b"HTTP/1.1 "
            assert closed_at_the_deadline(announced, expecting)


def test_a_stranger_s_request_is_refused_before_its_body_is_read() -> None:
    """Who asks is known from the head: a request not signed with the key waits for no body."""
    with served(QueueApp(QueueService(), 0, KEY)) as address:
        stranger = QueueKey("QAILOCALOTHER", "another secret")
        request = signed(f"http://127.0.0.1:{address[1]}/", "POST", SEND, b"{}", stranger)
        head = "".join(f"{name}: {value}\r\n" for name, value in request.header_items() if name != "Content-length")
        with socket.create_connection(address) as client:
            host = f"Host: 127.0.0.1:{address[1]}\r\n"
            client.sendall(f"POST / HTTP/1.1\r\n{host}{head}Content-Length: 500000\r\n\r\n".encode())  # and no body
            client.settimeout(3)  # well before the request's deadline (10 s), which would end it too
            assert client.recv(12) == b"HTTP/1.1 403"


def test_a_request_cut_before_its_body_has_come_reaches_no_function() -> None:
    """A client gone mid-body has sent no request: acting on it as one with an empty body would
    run an action (a cancel, a publish) nobody finished asking for."""
    invoked: list[dict[str, Any]] = []

    class RecordingWorkers:
        async def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
            invoked.append(event)
            return {"statusCode": 202, "body": "{}"}

    with contextlib.ExitStack() as stack:
        port = stack.enter_context(listening_socket(0)).getsockname()[1]  # the Host the access checks
        access = LocalAccess("the-token", port)
        app = LocalApi(b"{}", {}, (Path("downloads"), 60.0), access, RecordingWorkers())  # type: ignore[arg-type]
        address = stack.enter_context(served(app))
        head = (
            f"POST /projects/p1/messages/m1/run/cancel HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Authorization: Bearer the-token\r\nContent-Length: 100\r\n\r\n"
        )
        with socket.create_connection(address) as cut:
            cut.sendall(head.encode() + b"{" * 10)
            time.sleep(0.2)  # read by the server, which waits for the rest
        time.sleep(0.3)  # the server sees it closed
        with socket.create_connection(address) as whole:
            whole.sendall(head.encode() + b" " * 100)
            whole.settimeout(5)
            assert whole.recv(12) == b"HTTP/1.1 202"
        assert [event["body"] for event in invoked] == [" " * 100]  # the whole one only


@pytest.mark.usefixtures("short_deadline")
def test_a_client_that_reads_none_of_its_answer_is_dropped() -> None:
    answered = threading.Event()

    async def large_answer(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % 2**25)]})
        for _ in range(2**25 // 2**16):
            await send({"type": "http.response.body", "body": b"x" * 2**16, "more_body": True})
        answered.set()

    with served(large_answer) as address:
        reader = socket.socket()
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        with reader:
            reader.connect(address)
            reader.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            # Not reading: the server's buffers fill, and once its writes have waited the deadline
            # it lets the connection go, and the answer's sender with it.
            assert answered.wait(5)


def test_a_long_poll_wakes_when_a_visibility_timeout_is_shortened(sqs: Any) -> None:
    # The agent shortens a failed run's visibility as its retry delay: the poller waiting on the
    # queue must see the message then, not when its own wait ends.
    url = sqs.create_queue(QueueName="shortened", Attributes={"VisibilityTimeout": "300"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="retry")
    (first,) = sqs.receive_message(QueueUrl=url)["Messages"]
    received: list[Any] = []
    waiting = threading.Thread(
        target=lambda: received.append(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=15).get("Messages"))
    )
    waiting.start()
    time.sleep(0.3)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=1)
    # Woken at the new deadline (1 s), not at the end of its 15 s wait, which would also find it.
    waiting.join(timeout=10)
    assert not waiting.is_alive() and received[0] and received[0][0]["Body"] == "retry"
    waiting.join()
