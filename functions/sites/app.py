"""Lambda handler for a project's published site: publish a version, read the site, take it down."""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types

from qai.api import COMMON_ERRORS, api_handlers, caller, create_app, dependencies, documented_responses, resource_id
from qai.models import Site
from qai.services import sites

logger = Logger()
app = create_app()


@app.post(
    "/projects/<projectId>/fragments/<fragmentId>/publish",
    summary="Publish that version as the project's site (a static export), as a job; no credit",
    responses=documented_responses(accepted=Site, errors=(*COMMON_ERRORS, 409)),
)
def publish(projectId: str, fragmentId: str) -> Response[Site]:  # noqa: N803 - the path parameters' public names
    site = sites.publish(
        dependencies(app),
        caller(app).user_id,
        resource_id(projectId, "Project"),
        resource_id(fragmentId, "Fragment"),
    )
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=site)


@app.get(
    "/projects/<projectId>/site",
    summary="The project's site: its URL, status, and the version it serves",
    responses=documented_responses(ok=Site),
)
def get_site(projectId: str) -> Site:  # noqa: N803
    return sites.get_site(dependencies(app), caller(app).user_id, resource_id(projectId, "Project"))


@app.delete(
    "/projects/<projectId>/site",
    summary="Take the project's site down: its URL answers 404 (204 too when it was never published)",
    responses=documented_responses(no_content=True),
)
def unpublish(projectId: str) -> Response[None]:  # noqa: N803
    sites.unpublish(dependencies(app), caller(app).user_id, resource_id(projectId, "Project"))
    return Response(status_code=204)


handle, lambda_handler = api_handlers(app, logger)
