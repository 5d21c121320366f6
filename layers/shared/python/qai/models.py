"""Pydantic models at the edges: request bodies, response bodies, the queue message.

JSON is camelCase (the original app's field names); Python attributes are snake_case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NotRequired

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    SecretStr,
    Tag,
    TypeAdapter,
    field_validator,
    with_config,
)
from pydantic.alias_generators import to_camel
from typing_extensions import TypeAliasType, TypedDict


def _as_utc(value: datetime) -> datetime:
    # Postgres TIMESTAMP(3) columns hold UTC without a zone (the Prisma convention).
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso_utc(value: datetime) -> str:
    """ISO-8601 in UTC with a Z, as the API writes timestamps (naive values are UTC)."""
    return _as_utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")


UtcDatetime = Annotated[
    datetime,
    AfterValidator(_as_utc),
    PlainSerializer(iso_utc, return_type=str, when_used="json"),
]
MessageRole = Literal["USER", "ASSISTANT"]
MessageType = Literal["RESULT", "ERROR"]
MessageMode = Literal["build", "ask"]


# What str.strip() strips, spelled out: regex engines disagree on \s (ECMA's leaves out \x85).
_SPACE = "\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
VALUE_PATTERN = f"^[{_SPACE}]*[^{_SPACE}\\x00](?:[^\\x00]{{0,998}}[^{_SPACE}\\x00])?[{_SPACE}]*$"


def storable_text(text: str) -> bool:
    """Whether PostgreSQL can store the text: no NUL, and no lone UTF-16 surrogate (valid JSON escapes
    such as "\\ud800" that UTF-8 cannot encode)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


ImageMediaType = Literal["image/png", "image/jpeg", "image/gif", "image/webp"]


class ImageInput(ApiModel):
    """An image sent with a prompt (a screenshot, a sketch): its type and its bytes in base64."""

    media_type: ImageMediaType
    data: str = Field(
        min_length=1,
        max_length=2_800_000,
        description="Base64 of the bytes, which must be an image of that type: at most IMAGE_MAX_BYTES (2 MiB) "
        "decoded, IMAGES_MAX_TOTAL_BYTES (4 MiB) for all of a message's",
    )


class PromptInput(ApiModel):
    """Body of ``POST /projects`` and ``POST /projects/{projectId}/messages``."""

    value: str = Field(
        description="What the user asks for: 1 to MAX_VALUE_LENGTH (1000) characters after trimming, no NUL.",
        # The rule in the schema, so that generated clients and API testers know it (the validator
        # below enforces it, with the limit as set): a character that is not white space, at most
        # the default limit of them from the first such character to the last.
        json_schema_extra={"minLength": 1, "pattern": VALUE_PATTERN},
    )

    @field_validator("value")
    @classmethod
    def _trimmed_within_limit(cls, value: str) -> str:
        trimmed = value.strip()
        if not trimmed:
            raise ValueError("must not be empty")
        if not storable_text(trimmed):
            raise ValueError("must not contain NUL characters or unpaired surrogates")
        return trimmed  # its length is checked against MAX_VALUE_LENGTH by the service

    images: list[ImageInput] = Field(
        default_factory=list, max_length=4, description="At most IMAGES_MAX_COUNT (4), shown to the model with the text"
    )


class Selection(ApiModel):
    """An element the user pointed at in the preview: where the newest version's source writes it."""

    file: str = Field(min_length=1, max_length=500, description="A file of the newest version (app/page.tsx)")
    line: int = Field(ge=1, le=1_000_000)
    column: int = Field(ge=1, le=100_000)


class FollowUpInput(PromptInput):
    """Body of ``POST /projects/{projectId}/messages``."""

    mode: MessageMode = "build"
    selection: Selection | None = Field(
        default=None, description="The element the request is about: the model is shown its lines"
    )


class Project(ApiModel):
    id: str
    name: str
    created_at: UtcDatetime
    updated_at: UtcDatetime


class ProjectPage(ApiModel):
    items: list[Project]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page.")


class FragmentSummary(ApiModel):
    id: str
    message_id: str
    sandbox_url: str
    title: str
    summary: str | None
    paths: list[str] = Field(description="The fragment's file paths, sorted, without their contents.")
    check_error: str | None = Field(
        default=None, description="What the agent's build check found broken in this app; null when it passed."
    )
    created_at: UtcDatetime
    updated_at: UtcDatetime


class Fragment(FragmentSummary):
    files: dict[str, str] = Field(
        description=(
            "Path → file content: the whole app as it differs from the template. A file that is not UTF-8 "
            "text is its bytes in base64 after the prefix 'data:application/octet-stream;base64,'."
        )
    )


FileStatus = Literal["added", "modified", "deleted"]


class FileDiff(ApiModel):
    path: str
    status: FileStatus
    additions: int
    deletions: int
    patch: str | None = Field(
        description="A unified diff (3 lines of context, --- a/<path> / +++ b/<path>, /dev/null for the missing "
        "side); null for a binary file or one left out (truncated)."
    )
    binary: bool = False
    truncated: bool = Field(default=False, description="The patch was too large for this response: left out.")


class VersionDiff(ApiModel):
    base_id: str | None = Field(description="The version compared with; null: the app template.")
    files: list[FileDiff]
    additions: int
    deletions: int


RunStatus = Literal["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"]


class RunRef(ApiModel):
    id: str
    status: RunStatus


class MessageImage(ApiModel):
    id: str
    media_type: ImageMediaType
    url: str = Field(description="The image, through the API (same auth): its bytes, or a redirect to a link")


class Message(ApiModel):
    id: str
    project_id: str
    content: str
    role: MessageRole
    type: MessageType
    mode: MessageMode = Field(
        description="build: the agent changes the app; ask: it answers about the app without changing it "
        "(the reply is a RESULT without a fragment)."
    )
    created_at: UtcDatetime
    updated_at: UtcDatetime
    fragment: FragmentSummary | None
    run: RunRef | None = Field(default=None, description="The run a USER message asked for; null otherwise.")
    images: list[MessageImage] = Field(default_factory=list, description="The images sent with a USER message")
    selection: Selection | None = Field(default=None, description="The element a USER message pointed at")


# A run's events, one model per kind, each with the data the agent records for it (qai_agent's
# run_log.py, worker.py and loop.py). The data keep the keys as recorded (camelCase where the agent
# wrote them so) and allow more: an event stored by an older or newer agent is still served.


@with_config(ConfigDict(extra="allow"))
class StatusEventData(TypedDict):
    """The run's status when it changed; at the start of the work, how the sandbox was had."""

    status: NotRequired[RunStatus]
    attempt: NotRequired[Annotated[int, Field(description="Which delivery of the run this is, from 1.")]]
    attached: NotRequired[Annotated[bool, Field(description="The project's earlier sandbox was reconnected.")]]
    installed: NotRequired[Annotated[bool, Field(description="npm packages were installed into a new sandbox.")]]


@with_config(ConfigDict(extra="allow"))
class ModelEventData(TypedDict):
    """One model turn and its token usage."""

    turn: int
    inputTokens: int
    outputTokens: int


@with_config(ConfigDict(extra="allow"))
class CommandStartedData(TypedDict):
    """A command that is running now: a later event with the same text says how it ended."""

    status: Literal["running"]


@with_config(ConfigDict(extra="allow"))
class CommandEndedData(TypedDict):
    """A command that ended, with the last of its output."""

    status: Annotated[str, Field(description="'exit code N', 'timed out' or 'stopped'.")]
    output: str
    error: bool


@with_config(ConfigDict(extra="allow"))
class FilesEventData(TypedDict):
    """Files written, edited or read by the model (at most 50 paths), or one left out of the saved app."""

    written: NotRequired[list[str]]
    edited: NotRequired[list[str]]
    read: NotRequired[list[str]]
    error: NotRequired[bool]
    skipped: NotRequired[Annotated[str, Field(description="The path not saved; the text says why.")]]
    searched: NotRequired[Annotated[str, Field(description="The pattern searched for (ask mode).")]]


@with_config(ConfigDict(extra="allow"))
class CheckEventData(TypedDict):
    """The agent's build check of the app: passed, or what it found broken."""

    passed: bool
    problem: Annotated[str, Field(description="What the check found (its first 2000 characters); empty when passed.")]


@with_config(ConfigDict(extra="allow"))
class WritingEventData(TypedDict):
    """What the model is writing while its reply streams (at most one such event a second)."""

    turn: int
    tool: Annotated[str | None, Field(description="The tool whose input is being written; null for text.")]
    path: Annotated[str | None, Field(description="The file it is about, once its input names one.")]
    bytes: Annotated[int, Field(description="How much of this block has arrived so far.")]


@with_config(ConfigDict(extra="allow"))
class ErrorEventData(TypedDict):
    """Nothing: the event's text says what went wrong."""


class _RunEventBase(ApiModel):
    seq: int
    at: UtcDatetime
    text: str


class StatusEvent(_RunEventBase):
    kind: Literal["status"]
    data: StatusEventData


class ModelEvent(_RunEventBase):
    kind: Literal["model"]
    data: ModelEventData


class CommandEvent(_RunEventBase):
    kind: Literal["command"]
    data: CommandStartedData | CommandEndedData


class FilesEvent(_RunEventBase):
    kind: Literal["files"]
    data: FilesEventData


class CheckEvent(_RunEventBase):
    kind: Literal["check"]
    data: CheckEventData


class ErrorEvent(_RunEventBase):
    kind: Literal["error"]
    data: ErrorEventData


class WritingEvent(_RunEventBase):
    kind: Literal["writing"]
    data: WritingEventData


# A named alias, so that the OpenAPI document has one "RunEvent" schema: oneOf the kinds, by "kind".
RunEvent = TypeAliasType(
    "RunEvent",
    Annotated[
        StatusEvent | ModelEvent | CommandEvent | FilesEvent | CheckEvent | ErrorEvent | WritingEvent,
        Field(discriminator="kind"),
    ],
)


class RunUsage(ApiModel):
    """What a run's model calls used, over every attempt: the agent's turns, the title and the reply."""

    input_tokens: int = Field(description="Input tokens not read from the prompt cache.")
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    model_calls: int
    cost_usd: float | None = Field(description="At the agent's prices (AGENT_PRICES); null when a model had none.")


class Run(ApiModel):
    id: str
    message_id: str
    status: RunStatus
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None
    usage: RunUsage
    events: list[RunEvent] = Field(description="In seq order, after the requested seq.")
    next_after: int = Field(description="Pass as ?after= next time for the newer events only.")


class MessageList(ApiModel):
    items: list[Message]


class ErrorDetail(ApiModel):
    code: str
    message: str


class ErrorResponse(ApiModel):
    error: ErrorDetail


class Usage(ApiModel):
    limit: int = Field(description="Credits per rolling period for the caller's plan.")
    remaining: int
    resets_at: UtcDatetime | None = Field(description="When the next spent credit comes back; null if none is spent.")


class Caller(BaseModel):
    """The authenticated user, from the JWT claims API Gateway verified."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    plan: str | None = None


class PreviewState(ApiModel):
    """Whether a fragment's preview answers now (GET and POST …/preview)."""

    status: Literal["READY", "STARTING", "FAILED"] = Field(
        description="READY: it answers; STARTING: it is coming back; FAILED: it does not (see error) "
        "until POST …/preview brings it back."
    )
    sandbox_url: str | None
    error: str | None


PushStatus = Literal["PUSHING", "PUSHED", "FAILED"]
_PRINTABLE = "^[^\\x00-\\x1f\\x7f]+$"


class GitPushInput(ApiModel):
    """Body of ``POST /projects/{projectId}/git/push``: where to push the history, and as whom."""

    url: str = Field(
        max_length=2000,
        pattern="^[hH][tT][tT][pP][sS]?://[^\\x00-\\x20\\x7f]+$",
        description="The remote repository: https:// to a public address (GIT_PUSH_ALLOW_PRIVATE=true also "
        "allows http:// and private addresses), with no credentials in it.",
    )
    branch: str = Field(
        "main", min_length=1, max_length=200, description="The remote branch to update; git's rules for names."
    )
    username: str = Field(
        "x-access-token",
        min_length=1,
        max_length=200,
        pattern="^[^:\\x00-\\x1f\\x7f]+$",
        description="The user for HTTP basic auth (GitHub takes any with a token; GitLab oauth2).",
    )
    token: SecretStr = Field(
        min_length=1,
        max_length=1000,
        description="A token that may push to the repository: sealed at once, used by the push job, then "
        "forgotten; never returned.",
    )

    @field_validator("branch")
    @classmethod
    def _a_branch_git_takes(cls, branch: str) -> str:
        from dulwich.refs import Ref, check_ref_format

        # git's own rules for a ref, and those it adds for a branch (git check-ref-format --branch).
        refused = branch.startswith("-") or branch in ("@", "HEAD") or not storable_text(branch)
        if refused or not check_ref_format(Ref(f"refs/heads/{branch}".encode())):
            raise ValueError("is not a branch name git takes")
        return branch

    @field_validator("token")
    @classmethod
    def _printable_token(cls, token: SecretStr) -> SecretStr:
        if not re.fullmatch(_PRINTABLE, token.get_secret_value()):
            raise ValueError("must be printable characters only")
        return token


class GitPush(ApiModel):
    """A project's last push of its history (``GET``/``POST /projects/{projectId}/git/push``)."""

    status: PushStatus = Field(description="PUSHING until the job ends, then PUSHED or FAILED (see error)")
    url: str
    branch: str
    username: str
    fragment_id: str = Field(description="The newest version when the push was asked: the history up to it")
    commit: str | None = Field(description="The commit the branch points at once pushed")
    error: str | None
    requested_at: UtcDatetime
    finished_at: UtcDatetime | None


SiteStatus = Literal["PUBLISHING", "PUBLISHED", "FAILED", "UNPUBLISHED"]


class Site(ApiModel):
    """A project's published site (``GET /projects/{projectId}/site``)."""

    status: SiteStatus = Field(
        description="PUBLISHING until the job ends, then PUBLISHED or FAILED (the last published version, if any, "
        "still serves); UNPUBLISHED once taken down"
    )
    url: str = Field(description="The site's address: the same for the project across publishes")
    fragment_id: str = Field(description="The version being published, or the last one asked for")
    live_fragment_id: str | None = Field(description="The version the URL serves now (null: none)")
    published_at: UtcDatetime | None
    error: str | None


@dataclass(frozen=True)
class Download:
    """A download answered inline (``data``) or as a short-lived link (``url``)."""

    filename: str
    data: bytes | None = None
    url: str | None = None


class AgentRunRequest(ApiModel):
    """Body of a message on the agent queue: the USER message to answer (no ``kind``, as ever)."""

    project_id: str
    message_id: str


class PreviewJobRequest(ApiModel):
    """A job on the agent queue to bring a fragment's preview back (resume or rebuild its sandbox)."""

    kind: Literal["preview"] = "preview"
    project_id: str
    fragment_id: str


class PushJobRequest(ApiModel):
    """A job on the agent queue to push a project's history to its remote (the token stays in the database, sealed)."""

    kind: Literal["push"] = "push"
    project_id: str
    push_id: str


class PublishJobRequest(ApiModel):
    """A job on the agent queue to export a version and make it the project's site."""

    kind: Literal["publish"] = "publish"
    project_id: str
    job_id: str


def _job_kind(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("kind", "run"))
    return str(getattr(value, "kind", "run"))


# A body without ``kind`` is an agent run, so messages sent before jobs had kinds stay valid.
QueueJob = TypeAdapter(
    Annotated[
        Annotated[AgentRunRequest, Tag("run")]
        | Annotated[PreviewJobRequest, Tag("preview")]
        | Annotated[PushJobRequest, Tag("push")]
        | Annotated[PublishJobRequest, Tag("publish")],
        Discriminator(_job_kind),
    ]
)


class CustomResourceEvent(BaseModel):
    """A CloudFormation custom resource request (Create, Update or Delete), in CloudFormation's names."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    request_type: Literal["Create", "Update", "Delete"] = Field(alias="RequestType")
    response_url: str = Field(alias="ResponseURL", pattern=r"^https?://")
    stack_id: str = Field(alias="StackId")
    request_id: str = Field(alias="RequestId")
    logical_resource_id: str = Field(alias="LogicalResourceId")
    physical_resource_id: str | None = Field(default=None, alias="PhysicalResourceId")
    resource_properties: dict[str, Any] = Field(default_factory=dict, alias="ResourceProperties")
