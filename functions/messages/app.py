"""Lambda handler for the /projects/{projectId}/messages and fragment routes."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from qai.api import (
    COMMON_ERRORS,
    api_handlers,
    caller,
    create_app,
    dependencies,
    documented_responses,
    download_response,
    file_responses,
    resource_id,
)
from qai.models import FollowUpInput, Fragment, Message, MessageList, PreviewState, Run, VersionDiff
from qai.services import conversation, fragments, images, previews, runs

logger = Logger()
app = create_app()


def _fragment_ids(project_id: str, fragment_id: str) -> tuple[str, str, str]:
    """The caller, and the route's project and fragment ids (a malformed id is a 404)."""
    return caller(app).user_id, resource_id(project_id, "Project"), resource_id(fragment_id, "Fragment")


@app.get(
    "/projects/<projectId>/messages",
    summary="The conversation, oldest first, each message with its fragment (without file contents)",
    responses=documented_responses(ok=MessageList),
)
def list_messages(projectId: str) -> Response[str]:  # noqa: N803 - the path parameter's public name
    # The body comes serialised from the database (a MessageList, as documented above).
    body = conversation.list_messages_json(dependencies(app), caller(app).user_id, resource_id(projectId, "Project"))
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body)


@app.post(
    "/projects/<projectId>/messages",
    summary="Send a follow-up: build changes the same app, ask answers about it without changing it",
    responses=documented_responses(created=Message, errors=(*COMMON_ERRORS, 409, 429)),
)
def post_message(projectId: str, body: Annotated[FollowUpInput, Body()]) -> Response[Message]:  # noqa: N803
    project_id = resource_id(projectId, "Project")
    message = conversation.post_message(
        dependencies(app), caller(app), project_id, body.value, body.mode, body.images, body.selection
    )
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=message)


@app.get(
    "/projects/<projectId>/messages/<messageId>/run",
    summary="The run a USER message asked for, with what it did: ?after=<seq> gives the newer events only",
    responses=documented_responses(ok=Run),
)
def get_run(
    projectId: str,  # noqa: N803
    messageId: str,  # noqa: N803
    after: Annotated[int, Query(ge=0, le=2_147_483_647, description="The last seq already seen")] = 0,
) -> Run:
    user_id = caller(app).user_id
    return runs.get_run(
        dependencies(app), user_id, resource_id(projectId, "Project"), resource_id(messageId, "Message"), after=after
    )


@app.post(
    "/projects/<projectId>/messages/<messageId>/run/cancel",
    summary="Stop the run: a QUEUED one at once, a RUNNING one at its next step (its credit comes back)",
    responses=documented_responses(accepted=Run, errors=(*COMMON_ERRORS, 409)),
)
def cancel_run(projectId: str, messageId: str) -> Response[Run]:  # noqa: N803
    user_id = caller(app).user_id
    run = runs.cancel_run(
        dependencies(app), user_id, resource_id(projectId, "Project"), resource_id(messageId, "Message")
    )
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=run)


@app.get(
    "/projects/<projectId>/messages/<messageId>/images/<imageId>",
    summary="An image sent with a message: its bytes, or a short-lived link to them",
    responses=file_responses("The image", "image/*"),
)
def get_image(projectId: str, messageId: str, imageId: str) -> Response[str]:  # noqa: N803
    media_type, image = images.get_image(
        dependencies(app),
        caller(app).user_id,
        resource_id(projectId, "Project"),
        resource_id(messageId, "Message"),
        resource_id(imageId, "Image"),
    )
    response = download_response(image, media_type)
    response.headers["Content-Disposition"] = f'inline; filename="{image.filename}"'
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@app.get(
    "/projects/<projectId>/fragments/<fragmentId>",
    summary="One fragment with its files",
    responses=documented_responses(ok=Fragment),
)
def get_fragment(projectId: str, fragmentId: str) -> Fragment:  # noqa: N803
    return fragments.get_fragment(dependencies(app), *_fragment_ids(projectId, fragmentId))


@app.get(
    "/projects/<projectId>/fragments/<fragmentId>/preview",
    summary="Whether the fragment's preview answers now",
    responses=documented_responses(ok=PreviewState),
)
def get_preview(projectId: str, fragmentId: str) -> PreviewState:  # noqa: N803
    return previews.get_preview(dependencies(app), *_fragment_ids(projectId, fragmentId))


@app.post(
    "/projects/<projectId>/fragments/<fragmentId>/preview",
    summary="Make the fragment's preview answer again: resume or rebuild its sandbox (idempotent, no credit)",
    responses=documented_responses(ok=PreviewState, accepted=PreviewState),
)
def request_preview(projectId: str, fragmentId: str) -> Response[PreviewState]:  # noqa: N803
    state = previews.request_preview(dependencies(app), *_fragment_ids(projectId, fragmentId))
    status = 200 if state.status == "READY" else 202
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=state)


@app.post(
    "/projects/<projectId>/fragments/<fragmentId>/restore",
    summary="Make that version the newest again (a new ASSISTANT/RESULT message); no model run, no credit",
    responses=documented_responses(created=Message, errors=(*COMMON_ERRORS, 409)),
)
def restore_fragment(projectId: str, fragmentId: str) -> Response[Message]:  # noqa: N803
    user_id = caller(app).user_id
    message = fragments.restore_fragment(
        dependencies(app), user_id, resource_id(projectId, "Project"), resource_id(fragmentId, "Fragment")
    )
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=message)


@app.get(
    "/projects/<projectId>/fragments/<fragmentId>/diff",
    summary="What that version changed, file by file with unified patches: from ?base=<fragmentId>, by default "
    "from the version before it (the app template for the first)",
    responses=documented_responses(ok=VersionDiff),
)
def diff_fragment(
    projectId: str,  # noqa: N803
    fragmentId: str,  # noqa: N803
    base: Annotated[str | None, Query(max_length=64, description="Another version of the project")] = None,
) -> VersionDiff:
    user_id, project_id, fragment_id = _fragment_ids(projectId, fragmentId)
    base_id = resource_id(base, "Base fragment") if base is not None else None
    return fragments.diff_fragment(dependencies(app), user_id, project_id, fragment_id, base_id)


@app.get(
    "/projects/<projectId>/fragments/<fragmentId>/download",
    summary="Download that version of the app: `npm install && npm run dev` runs it",
    responses=file_responses(
        "The whole app (template and fragment files, no node_modules) as a zip", "application/zip"
    ),
)
def download_fragment(projectId: str, fragmentId: str) -> Response[str]:  # noqa: N803
    download = fragments.download_fragment(dependencies(app), *_fragment_ids(projectId, fragmentId))
    return download_response(download, "application/zip")


handle, lambda_handler = api_handlers(app, logger)
