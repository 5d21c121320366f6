"""SQS's semantics for the local stack's queue (``queue_server`` serves them over HTTP): queues
and their messages in memory, each operation a dictionary look-up and a heap push or pop, whatever
the queue's depth. At-least-once delivery, the visibility timeout and its change, the receive
count, long polling, a message delayed, the redrive to a dead-letter queue after
``maxReceiveCount`` receives, the retention period, and the 12 hours a received message may stay
hidden at most. Its times run on the monotonic clock, so a change of the machine's wall clock
neither shows messages in flight early nor expires them. One asyncio loop owns it: no lock is
needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import itertools
import json
import re
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "000000000000"
REGION = "us-east-1"
MAX_BODY_BYTES = 256 * 1024  # SQS's own limit on a message
MAX_WAIT_SECONDS = 20
MAX_VISIBILITY_SECONDS = 43_200
MAX_DELAY_SECONDS = 900
DEFAULT_RETENTION_SECONDS = 345_600  # SQS's: 4 days
MIN_RETENTION_SECONDS, MAX_RETENTION_SECONDS = 60, 1_209_600
MAX_QUEUES = 1000  # one machine's stack makes two; more is someone filling its memory
# The bodies held in all queues together: thousands of runs' messages, far below what fills memory.
MAX_HELD_BYTES = 64 * 2**20
STALE_ENTRIES_KEPT = 64
RECEIPT_HANDLE = re.compile(r"[0-9a-f-]{36}#[0-9a-f]{32}")


class QueueError(Exception):
    """An error SQS would answer: its code (the ``__type`` boto3 reads) and message."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass
class StoredMessage:
    message_id: str
    body: str
    size: int  # the body's bytes
    sent_at: float  # on the service's clock: it expires from then
    sent_timestamp: int  # the wall clock's, in ms, as SQS shows it
    receive_count: int = 0
    first_received_timestamp: int = 0
    received_at: float = 0.0  # its latest receive, on the service's clock: it stays hidden 12 hours at most from then
    receipt_handle: str = ""
    # Which heap entry is this message's current one: older entries are skipped when popped.
    version: int = 0


@dataclass
class Queue:
    name: str
    attributes: dict[str, str]
    # Read from the attributes once, when the queue is made.
    visibility_timeout: int = 30
    delay_seconds: int = 0
    retention_seconds: int = DEFAULT_RETENTION_SECONDS
    dead_letter_queue: str | None = None
    max_receive_count: int = 0
    messages: dict[str, StoredMessage] = field(default_factory=dict)
    visible: deque[str] = field(default_factory=deque)
    # (visible again at, version, message id): the messages in flight or delayed.
    hidden: list[tuple[float, int, str]] = field(default_factory=list)
    receipts: dict[str, str] = field(default_factory=dict)  # the latest receipt handle → message id
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def arn(self) -> str:
        return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{self.name}"

    def hide(self, message: StoredMessage, until: float, versions: itertools.count[int]) -> None:
        message.version = next(versions)
        heapq.heappush(self.hidden, (until, message.version, message.message_id))
        if len(self.hidden) > 2 * len(self.messages) + STALE_ENTRIES_KEPT:
            # Entries a visibility change or a delete superseded would stay until their time came:
            # dropped once they outnumber the messages, so that repeated changes cannot grow the heap.
            self.hidden = [entry for entry in self.hidden if self._current(entry)]
            heapq.heapify(self.hidden)

    def _current(self, entry: tuple[float, int, str]) -> bool:
        message = self.messages.get(entry[2])
        return message is not None and message.version == entry[1]

    def reveal_due(self, now: float) -> None:
        """Messages whose visibility timeout or delay has run out become visible, in that order."""
        while self.hidden and self.hidden[0][0] <= now:
            entry = heapq.heappop(self.hidden)
            if self._current(entry):
                self.messages[entry[2]].version = 0
                self.visible.append(entry[2])

    def next_reveal(self) -> float | None:
        return self.hidden[0][0] if self.hidden else None

    def notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


class QueueService:
    """The queues and the actions on them; ``call`` answers one request's JSON."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time
    ) -> None:
        self.queues: dict[str, Queue] = {}
        self.clock = clock
        self.wall_clock = wall_clock  # for the timestamps shown only
        self.held_bytes = 0
        self._versions = itertools.count(1)

    def queue(self, url: Any) -> Queue:
        name = str(url or "").rstrip("/").rsplit("/", 1)[-1]
        found = self.queues.get(name)
        if found is None:
            raise QueueError("QueueDoesNotExist", "The specified queue does not exist.")
        return found

    async def call(self, action: str, request: dict[str, Any], base_url: str) -> dict[str, Any]:
        if action == "ReceiveMessage":
            return await self.receive_message(request)
        handler = {
            "CreateQueue": self.create_queue,
            "GetQueueUrl": self.get_queue_url,
            "GetQueueAttributes": self.get_queue_attributes,
            "SendMessage": self.send_message,
            "DeleteMessage": self.delete_message,
            "ChangeMessageVisibility": self.change_message_visibility,
            "PurgeQueue": self.purge_queue,
        }.get(action)
        if handler is None:
            raise QueueError("UnsupportedOperation", f"The local queue does not implement {action}.")
        answer: dict[str, Any] = handler(request)
        if "QueueUrl" in answer:
            answer["QueueUrl"] = f"{base_url}/{ACCOUNT}/{answer['QueueUrl']}"
        return answer

    def create_queue(self, request: dict[str, Any]) -> dict[str, Any]:
        name = str(request.get("QueueName", ""))
        if not name or len(name) > 80 or not all(c.isalnum() or c in "-_" for c in name):
            raise QueueError("InvalidParameterValue", "A queue's name is 1 to 80 letters, digits, - or _.")
        attributes = {str(k): str(v) for k, v in (request.get("Attributes") or {}).items()}
        existing = self.queues.get(name)
        if existing is not None:
            if attributes and attributes != existing.attributes:
                raise QueueError("QueueAlreadyExists", f"A queue named {name} exists with other attributes.")
            return {"QueueUrl": name}
        if len(self.queues) >= MAX_QUEUES:
            raise QueueError("OverLimit", f"This queue server keeps at most {MAX_QUEUES} queues.")
        queue = Queue(
            name,
            attributes,
            visibility_timeout=_whole(
                attributes.get("VisibilityTimeout", 30), "VisibilityTimeout", MAX_VISIBILITY_SECONDS
            ),
            delay_seconds=_whole(attributes.get("DelaySeconds", 0), "DelaySeconds", MAX_DELAY_SECONDS),
            retention_seconds=_whole(
                attributes.get("MessageRetentionPeriod", DEFAULT_RETENTION_SECONDS),
                "MessageRetentionPeriod",
                MAX_RETENTION_SECONDS,
                least=MIN_RETENTION_SECONDS,
            ),
        )
        if "RedrivePolicy" in attributes:
            queue.dead_letter_queue, queue.max_receive_count = _redrive_policy(attributes["RedrivePolicy"])
            if queue.dead_letter_queue not in self.queues:
                raise QueueError(
                    "InvalidParameterValue", f"The dead-letter queue {queue.dead_letter_queue} does not exist."
                )
        self.queues[name] = queue
        return {"QueueUrl": name}

    def get_queue_url(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"QueueUrl": self.queue(request.get("QueueName")).name}

    def get_queue_attributes(self, request: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue(request.get("QueueUrl"))
        self._expire(queue, self.clock())
        queue.reveal_due(self.clock())
        known = queue.attributes | {
            "QueueArn": queue.arn,
            "ApproximateNumberOfMessages": str(len(queue.visible)),
            "ApproximateNumberOfMessagesNotVisible": str(len(queue.messages) - len(queue.visible)),
            "VisibilityTimeout": str(queue.visibility_timeout),
        }
        names = request.get("AttributeNames") or ["All"]
        return {"Attributes": known if "All" in names else {n: known[n] for n in names if n in known}}

    def send_message(self, request: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue(request.get("QueueUrl"))
        body = request.get("MessageBody")
        if not isinstance(body, str) or not body:
            raise QueueError("MissingParameter", "The request must contain the parameter MessageBody.")
        size = len(body.encode())
        if size > MAX_BODY_BYTES:
            raise QueueError("InvalidParameterValue", "The message is longer than 262,144 bytes.")
        if self.held_bytes + size > MAX_HELD_BYTES:
            raise QueueError("OverLimit", f"This queue server holds at most {MAX_HELD_BYTES:,} bytes of messages.")
        delay = _whole(request.get("DelaySeconds", queue.delay_seconds), "DelaySeconds", MAX_DELAY_SECONDS)
        now = self.clock()
        message = StoredMessage(str(uuid.uuid4()), body, size, now, int(self.wall_clock() * 1000))
        self.held_bytes += size
        queue.messages[message.message_id] = message
        if delay:
            queue.hide(message, now + delay, self._versions)
        else:
            queue.visible.append(message.message_id)
        queue.notify()
        return {"MessageId": message.message_id, "MD5OfMessageBody": _md5(body)}

    async def receive_message(self, request: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue(request.get("QueueUrl"))
        wanted = _whole(request.get("MaxNumberOfMessages", 1), "MaxNumberOfMessages", 10, least=1)
        wait = _whole(request.get("WaitTimeSeconds", 0), "WaitTimeSeconds", MAX_WAIT_SECONDS)
        names = set(request.get("MessageSystemAttributeNames") or []) | set(request.get("AttributeNames") or [])
        deadline = self.clock() + wait
        while True:
            received = self._take(queue, wanted, request.get("VisibilityTimeout"))
            now = self.clock()
            if received or now >= deadline:
                return {"Messages": [_shown(m, names) for m in received]} if received else {}
            changed = queue.changed
            next_reveal = queue.next_reveal()
            until = deadline if next_reveal is None else min(deadline, next_reveal)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=max(0.0, until - now))

    def _take(self, queue: Queue, wanted: int, visibility: Any) -> list[StoredMessage]:
        now = self.clock()
        self._expire(queue, now)
        queue.reveal_due(now)
        timeout = (
            queue.visibility_timeout
            if visibility is None
            else _whole(visibility, "VisibilityTimeout", MAX_VISIBILITY_SECONDS)
        )
        dead_letters = self.queues.get(queue.dead_letter_queue or "")
        taken: list[StoredMessage] = []
        while queue.visible and len(taken) < wanted:
            message = queue.messages[queue.visible.popleft()]
            if dead_letters is not None and message.receive_count >= queue.max_receive_count:
                # Received maxReceiveCount times and back again: SQS moves it, as it is, to the DLQ.
                del queue.messages[message.message_id]
                queue.receipts.pop(message.receipt_handle, None)
                dead_letters.messages[message.message_id] = message
                dead_letters.visible.append(message.message_id)
                dead_letters.notify()
                continue
            queue.receipts.pop(message.receipt_handle, None)
            message.receive_count += 1
            message.first_received_timestamp = message.first_received_timestamp or int(self.wall_clock() * 1000)
            message.received_at = now
            message.receipt_handle = f"{message.message_id}#{uuid.uuid4().hex}"
            queue.receipts[message.receipt_handle] = message.message_id
            queue.hide(message, now + timeout, self._versions)
            taken.append(message)
        return taken

    def _received(self, queue: Queue, receipt_handle: Any) -> StoredMessage | None:
        """The message this handle was last given for; None for an older one, or a message gone."""
        handle = str(receipt_handle or "")
        message_id = queue.receipts.get(handle)
        if message_id is not None:
            return queue.messages[message_id]
        if RECEIPT_HANDLE.fullmatch(handle):
            return None
        raise QueueError("ReceiptHandleIsInvalid", "The receipt handle is not valid.")

    def delete_message(self, request: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue(request.get("QueueUrl"))
        message = self._received(queue, request.get("ReceiptHandle"))
        # An older receipt handle succeeds but deletes nothing, as in SQS: the message was received
        # again, or is gone already.
        if message is not None:
            self._remove(queue, message)
        return {}

    def _remove(self, queue: Queue, message: StoredMessage) -> None:
        del queue.messages[message.message_id]
        self.held_bytes -= message.size
        queue.receipts.pop(message.receipt_handle, None)
        if message.version == 0:  # visible (its heap entries, if any, are no longer current)
            queue.visible.remove(message.message_id)

    def _expire(self, queue: Queue, now: float) -> None:
        """Delete the messages kept longer than the queue's retention period, as SQS does: they are
        held in the order they came (a dead letter in the order it moved), the oldest first."""
        expired = []
        for message in queue.messages.values():
            if now < message.sent_at + queue.retention_seconds:
                break
            expired.append(message)
        for message in expired:
            self._remove(queue, message)

    def change_message_visibility(self, request: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue(request.get("QueueUrl"))
        timeout = _whole(request.get("VisibilityTimeout"), "VisibilityTimeout", MAX_VISIBILITY_SECONDS)
        message = self._received(queue, request.get("ReceiptHandle"))
        if message is None or message.version == 0:
            raise QueueError("MessageNotInflight", "The message is not in flight.")
        if self.clock() + timeout > message.received_at + MAX_VISIBILITY_SECONDS:
            raise QueueError("InvalidParameterValue", "A message stays hidden at most 12 hours from its receive.")
        queue.hide(message, self.clock() + timeout, self._versions)
        queue.reveal_due(self.clock())
        queue.notify()  # a long poll waiting for the old timeout wakes for the new one
        return {}

    def purge_queue(self, request: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue(request.get("QueueUrl"))
        self.held_bytes -= sum(message.size for message in queue.messages.values())
        queue.messages.clear()
        queue.visible.clear()
        queue.hidden.clear()
        queue.receipts.clear()
        return {}


def _redrive_policy(policy: str) -> tuple[str, int]:
    """The dead-letter queue's name and maxReceiveCount of a RedrivePolicy attribute."""
    try:
        parsed = json.loads(policy)
        target, max_receives = str(parsed["deadLetterTargetArn"]).rsplit(":", 1)[-1], parsed["maxReceiveCount"]
    except (ValueError, TypeError, KeyError, RecursionError):  # RecursionError: arrays nested too deep
        raise QueueError(
            "InvalidParameterValue", "RedrivePolicy needs deadLetterTargetArn and maxReceiveCount."
        ) from None
    return target, _whole(max_receives, "maxReceiveCount", 1000, least=1)


def _whole(value: Any, name: str, most: int, least: int = 0) -> int:
    """A parameter that is a whole number from ``least`` to ``most`` (seconds, a count): a JSON
    number or a string of digits, as SQS takes them, not a boolean or a fraction."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise QueueError("InvalidParameterValue", f"{name} must be a whole number.")
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: JSON's 1e999 is an infinity
        raise QueueError("InvalidParameterValue", f"{name} must be a whole number.") from None
    if not least <= number <= most:
        raise QueueError("InvalidParameterValue", f"{name} is from {least} to {most}.")
    return number


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _shown(message: StoredMessage, names: set[str]) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "MessageId": message.message_id,
        "ReceiptHandle": message.receipt_handle,
        "MD5OfBody": _md5(message.body),
        "Body": message.body,
    }
    if names:
        attributes = {
            "ApproximateReceiveCount": str(message.receive_count),
            "SentTimestamp": str(message.sent_timestamp),
            "ApproximateFirstReceiveTimestamp": str(message.first_received_timestamp),
        }
        shown["Attributes"] = attributes if "All" in names else {n: v for n, v in attributes.items() if n in names}
    return shown
