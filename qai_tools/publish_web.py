"""``make publish-web STACK=<name>``: the built web client (web/dist) into the stack's WebBucket
(deployed with HostWebClient=true), with the config.json that points it at the stack's API and
sign-in, then a CloudFront invalidation of the two files that change in place.

Assets carry a content hash in their names and are cached for a year; index.html and config.json
are served no-cache, so a new publish shows at the next page load.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import sys
import time
from pathlib import Path
from typing import Any

import boto3

from qai_local.stack.web_client import WEB_DIST

CHANGING = ("index.html", "config.json")


def web_config(outputs: dict[str, str], client_id: str | None = None) -> dict[str, Any]:
    """The deployed client's settings: the API, and the OIDC issuer and client it signs in with."""
    client = client_id or outputs.get("UserPoolClientId")
    if not client:
        raise ValueError("the stack uses an external issuer: pass --client-id, its OAuth client for the web")
    return {
        "apiUrl": outputs["ApiUrl"],
        "auth": {
            "mode": "oidc",
            "authority": outputs["OidcIssuer"],
            "clientId": client,
            "scope": "openid email profile",
        },
    }


def publish(
    dist: Path, outputs: dict[str, str], *, s3: Any, cloudfront: Any, client_id: str | None = None
) -> list[str]:
    """Upload the client and its config; the keys written."""
    if "WebBucketName" not in outputs:
        raise ValueError("the stack does not host the web client: deploy it with HostWebClient=true")
    if not (dist / "index.html").is_file():
        raise ValueError(f"{dist} holds no built client: run `make web`")
    bucket = outputs["WebBucketName"]
    written = []
    for file in sorted(p for p in dist.rglob("*") if p.is_file()):
        key = file.relative_to(dist).as_posix()
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=file.read_bytes(),
            ContentType=mimetypes.guess_type(file.name)[0] or "application/octet-stream",
            CacheControl="no-cache" if key in CHANGING else "public, max-age=31536000, immutable",
        )
        written.append(key)
    config = json.dumps(web_config(outputs, client_id)).encode()
    s3.put_object(
        Bucket=bucket, Key="config.json", Body=config, ContentType="application/json", CacheControl="no-cache"
    )
    written.append("config.json")
    cloudfront.create_invalidation(
        DistributionId=outputs["WebDistributionId"],
        InvalidationBatch={
            "Paths": {"Quantity": len(CHANGING), "Items": [f"/{name}" for name in CHANGING]},
            "CallerReference": f"qai-{time.time_ns()}",
        },
    )
    return written


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="publish-web", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="the deployed stack's name")
    parser.add_argument("--client-id", help="the web's OAuth client id, with an external issuer")
    args = parser.parse_args(argv)
    outputs = stack_outputs(boto3.client("cloudformation"), args.stack)
    try:
        publish(
            WEB_DIST, outputs, s3=boto3.client("s3"), cloudfront=boto3.client("cloudfront"), client_id=args.client_id
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Published: {outputs['WebUrl']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
