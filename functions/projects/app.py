"""Lambda handler for the /projects routes."""

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
    resource_id,
)
from qai.models import Project, ProjectPage, PromptInput, Usage
from qai.services import projects, usage

logger = Logger()
app = create_app()


@app.post(
    "/projects",
    summary="Create a project from a prompt and start building it",
    responses=documented_responses(created=Project, errors=(*COMMON_ERRORS, 429)),
)
def create_project(body: Annotated[PromptInput, Body()]) -> Response[Project]:
    project = projects.create_project(dependencies(app), caller(app), body.value, body.images)
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=project)


@app.get(
    "/projects",
    summary="The caller's projects, most recently updated first",
    responses=documented_responses(ok=ProjectPage),
)
def list_projects(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> ProjectPage:
    return projects.list_projects(dependencies(app), caller(app).user_id, limit=limit, cursor=cursor)


@app.get("/projects/<projectId>", summary="One project", responses=documented_responses(ok=Project))
def get_project(projectId: str) -> Project:  # noqa: N803 - the path parameter's public name
    return projects.get_project(dependencies(app), caller(app).user_id, resource_id(projectId, "Project"))


@app.delete(
    "/projects/<projectId>",
    summary="Delete a project with its messages and fragments",
    responses=documented_responses(no_content=True),
)
def delete_project(projectId: str) -> Response[None]:  # noqa: N803
    projects.delete_project(dependencies(app), caller(app).user_id, resource_id(projectId, "Project"))
    return Response(status_code=204)


@app.get(
    "/usage",
    summary="The caller's credits: limit, remaining, and when the next comes back",
    responses=documented_responses(ok=Usage, errors=(401, 500, 503)),
)
def get_usage() -> Usage:
    return usage.get_usage(dependencies(app), caller(app))


handle, lambda_handler = api_handlers(app, logger)
