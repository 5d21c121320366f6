"""Lambda handler for the /projects/{projectId}/git routes: the history to clone, and pushes."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body

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
from qai.models import GitPush, GitPushInput
from qai.services import git

logger = Logger()
app = create_app()


@app.get(
    "/projects/<projectId>/git",
    summary="The project's history as a git bundle of main, one commit per version: `git clone <file>` takes it",
    responses=file_responses(
        "A git bundle (v2) of refs/heads/main and HEAD", git.BUNDLE_TYPE, errors=(*COMMON_ERRORS, 409)
    ),
)
def get_git_bundle(projectId: str) -> Response[str]:  # noqa: N803 - the path parameter's public name
    bundle = git.git_bundle(dependencies(app), caller(app).user_id, resource_id(projectId, "Project"))
    return download_response(bundle, git.BUNDLE_TYPE)


@app.post(
    "/projects/<projectId>/git/push",
    summary="Push the project's history (main, up to its newest version) to a git remote's branch, as a job",
    responses=documented_responses(accepted=GitPush, errors=(*COMMON_ERRORS, 409)),
)
def push(projectId: str, body: Annotated[GitPushInput, Body()]) -> Response[GitPush]:  # noqa: N803
    started = git.start_push(dependencies(app), caller(app).user_id, resource_id(projectId, "Project"), body)
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=started)


@app.get(
    "/projects/<projectId>/git/push",
    summary="The project's last push: its status, and the commit once pushed",
    responses=documented_responses(ok=GitPush),
)
def get_push(projectId: str) -> GitPush:  # noqa: N803
    return git.get_push(dependencies(app), caller(app).user_id, resource_id(projectId, "Project"))


handle, lambda_handler = api_handlers(app, logger)
