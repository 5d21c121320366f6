"""Lambda handler for the /projects/{projectId}/git routes: the history to clone, and pushes."""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response

from qai.api import (
    COMMON_ERRORS,
    api_handlers,
    caller,
    create_app,
    dependencies,
    download_response,
    file_responses,
    resource_id,
)
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


handle, lambda_handler = api_handlers(app, logger)
