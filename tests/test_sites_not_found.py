"""A missing file of a published site, deployed: the function behind the sites distribution's origin
group answers the site's own 404.html (S3 through moto), and the template wires it in."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from qai.sites_not_found import not_found_key
from qai.sites_store import REVALIDATE
from qai_local.stack.functions import load_function
from qai_tools.template import load_template
from tests.conftest import LambdaContextStub

EVENTS = Path(__file__).parent.parent / "events"
BUCKET = "qai-sites"
SHOP, SHOP_PREFIX = "shop-1a2b3c4d", "0123456789abcdef"
BLOG, BLOG_PREFIX = "blog-5e6f7a8b", "fedcba9876543210"
PAGE = "<h1>Lost? ✨</h1>".encode()


def url_event(raw_path: str) -> dict[str, Any]:
    """A Lambda function URL request (payload format 2.0) as CloudFront sends it after failing over."""
    event = json.loads((EVENTS / "sites_not_found" / "missing.json").read_text())
    event["rawPath"] = raw_path
    event["requestContext"]["http"]["path"] = raw_path
    return event


def invoke(raw_path: str, s3: Any, bucket: str = BUCKET) -> dict[str, Any]:
    response: dict[str, Any] = load_function("sites_not_found").handle(
        url_event(raw_path), LambdaContextStub(), bucket, s3
    )
    return response


def body_of(response: dict[str, Any]) -> bytes:
    body = response["body"]
    return base64.b64decode(body) if response["isBase64Encoded"] else body.encode()


def assert_plain(response: dict[str, Any]) -> None:
    assert response["statusCode"] == 404
    assert response["headers"]["Content-Type"] == "text/plain; charset=utf-8"
    assert body_of(response) == b"Not found\n"


@pytest.fixture
def s3(aws: None) -> Any:
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    client.put_object(Bucket=BUCKET, Key=f"{SHOP}/{SHOP_PREFIX}/index.html", Body=b"<h1>Shop</h1>")
    client.put_object(Bucket=BUCKET, Key=f"{SHOP}/{SHOP_PREFIX}/404.html", Body=PAGE)
    client.put_object(Bucket=BUCKET, Key=f"{BLOG}/{BLOG_PREFIX}/index.html", Body=b"<h1>Blog</h1>")
    return client


def test_a_missing_page_of_a_site_with_a_404_page_is_that_page(s3: Any) -> None:
    for path in ("nope/index.html", "deep/er/x.js", "index.html", ""):
        response = invoke(f"/{SHOP}/{SHOP_PREFIX}/{path}", s3)
        assert response["statusCode"] == 404 and body_of(response) == PAGE, path
        assert response["headers"] == {
            "Content-Type": "text/html; charset=utf-8",
            "Cache-Control": REVALIDATE,
            "X-Content-Type-Options": "nosniff",
        }


def test_a_site_without_a_404_page_answers_a_plain_404(s3: Any) -> None:
    assert_plain(invoke(f"/{BLOG}/{BLOG_PREFIX}/nope/index.html", s3))
    response = invoke(f"/{BLOG}/{BLOG_PREFIX}/nope/index.html", s3)
    assert response["headers"]["X-Content-Type-Options"] == "nosniff"
    assert_plain(invoke("/never-published/0000aaaa/index.html", s3))


@pytest.mark.parametrize(
    "path",
    [
        f"/{SHOP}/{SHOP_PREFIX}/../../{BLOG}/{BLOG_PREFIX}/index.html",
        f"/{SHOP}/{SHOP_PREFIX}/%2e%2e/%2E%2E/etc/passwd",
        f"/{SHOP}/{SHOP_PREFIX}/./x.html",
        f"/{SHOP}/{SHOP_PREFIX}/.env",
        f"/{SHOP}/{SHOP_PREFIX}/a/..%2f..%2fx",
        f"/{SHOP}/{SHOP_PREFIX}/a%5c..%5cx",
        f"/{SHOP}/{SHOP_PREFIX}/a%00.html",
        f"/{SHOP}/../{SHOP}/{SHOP_PREFIX}/x.html",
        f"/{SHOP}/%2e%2e/x.html",
        f"/{SHOP}/current/x.html",
        f"/{SHOP}/{SHOP_PREFIX.upper()}/x.html",
        f"/{SHOP}/{SHOP_PREFIX}%2f..%2fx/x.html",
        f"/Shop-1a2b3c4d/{SHOP_PREFIX}/x.html",
        f"/-shop/{SHOP_PREFIX}/x.html",
        f"/{'a' * 82}/{SHOP_PREFIX}/x.html",
        f"/%2e%2e/{SHOP_PREFIX}/x.html",
        f"//{SHOP}/{SHOP_PREFIX}/x.html",
        f"{SHOP}/{SHOP_PREFIX}/x.html",
        "/",
        "",
    ],
)
def test_a_path_the_router_never_makes_is_a_plain_404(s3: Any, path: str) -> None:
    assert not_found_key(path) is None
    assert_plain(invoke(path, s3))


def test_another_sites_prefix_is_looked_for_only_within_the_slug(s3: Any) -> None:
    """The key is made of the path's slug and prefix alone: another site's prefix under this slug
    names nothing, and no path reads outside ``<slug>/<prefix>/``."""
    assert not_found_key(f"/{SHOP}/{BLOG_PREFIX}/x.html") == f"{SHOP}/{BLOG_PREFIX}/404.html"
    assert_plain(invoke(f"/{SHOP}/{BLOG_PREFIX}/x.html", s3))
    s3.put_object(Bucket=BUCKET, Key=f"{BLOG}/{BLOG_PREFIX}/404.html", Body=b"blog's own")
    assert body_of(invoke(f"/{BLOG}/{BLOG_PREFIX}/x.html", s3)) == b"blog's own"
    assert body_of(invoke(f"/{SHOP}/{SHOP_PREFIX}/x.html", s3)) == PAGE


def test_an_s3_failure_is_a_plain_404(s3: Any, caplog: pytest.LogCaptureFixture) -> None:
    assert_plain(invoke(f"/{SHOP}/{SHOP_PREFIX}/x.html", s3, bucket="no-such-bucket"))
    assert_plain(invoke(f"/{SHOP}/{SHOP_PREFIX}/x.html", s3, bucket=""))

    class Broken:
        def get_object(self, **_: str) -> None:
            raise ConnectionError("S3 is not answering")

    assert_plain(invoke(f"/{SHOP}/{SHOP_PREFIX}/x.html", Broken()))
    assert "S3 is not answering" in caplog.text


def test_a_page_too_large_for_a_function_url_is_a_plain_404(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key=f"{BLOG}/{BLOG_PREFIX}/404.html", Body=b"x" * 4_000_001)
    assert_plain(invoke(f"/{BLOG}/{BLOG_PREFIX}/x.html", s3))


def test_the_handler_reads_the_bucket_from_its_settings(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    module = load_function("sites_not_found")
    monkeypatch.setenv("SITES_BUCKET", BUCKET)
    module.environment_bucket.cache_clear()
    try:
        response = module.lambda_handler(url_event(f"/{SHOP}/{SHOP_PREFIX}/x.html"), LambdaContextStub())
    finally:
        module.environment_bucket.cache_clear()
    assert response["statusCode"] == 404 and body_of(response) == PAGE


def test_the_distribution_fails_over_to_the_function_url_on_403_and_404() -> None:
    resources = load_template()["Resources"]
    config = resources["SitesDistribution"]["Properties"]["DistributionConfig"]
    origins = {origin["Id"]: origin for origin in config["Origins"]}
    (group,) = config["OriginGroups"]["Items"]
    assert config["OriginGroups"]["Quantity"] == 1
    assert config["DefaultCacheBehavior"]["TargetOriginId"] == group["Id"]
    assert group["FailoverCriteria"]["StatusCodes"] == {"Quantity": 2, "Items": [403, 404]}
    members = [member["OriginId"] for member in group["Members"]["Items"]]
    assert group["Members"]["Quantity"] == 2 and members == ["sites", "sites-not-found"]  # the bucket first
    assert origins["sites"]["DomainName"] == {"GetAtt": "SitesBucket.RegionalDomainName"}

    function_origin = origins["sites-not-found"]
    assert "SitesNotFoundFunctionUrl.FunctionUrl" in json.dumps(function_origin["DomainName"])
    assert function_origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert function_origin["OriginAccessControlId"] == {"GetAtt": "SitesNotFoundOriginAccessControl.Id"}
    oac = resources["SitesNotFoundOriginAccessControl"]["Properties"]["OriginAccessControlConfig"]
    assert oac["OriginAccessControlOriginType"] == "lambda" and oac["SigningBehavior"] == "always"

    function = resources["SitesNotFoundFunction"]["Properties"]
    assert function["FunctionUrlConfig"] == {"AuthType": "AWS_IAM"}
    assert function["CodeUri"] == "functions/sites_not_found" and "Events" not in function  # not an API route
    statements = [s for policy in function["Policies"] for s in policy["Statement"]]
    assert statements == [
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": {"Sub": "${SitesBucket.Arn}/*/*/404.html"}}
    ]
    assert function["Environment"]["Variables"]["SITES_URL"] == ""  # no cycle through the distribution
    assert resources["SitesNotFoundLogGroup"]["Properties"]["LogGroupName"] == {
        "Sub": "/aws/lambda/${SitesNotFoundFunction}"
    }


def test_only_the_sites_distribution_may_call_the_function_url() -> None:
    resources = load_template()["Resources"]
    permissions = {
        r["Properties"]["Action"]: r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Permission"
        and r["Properties"]["FunctionName"] == {"Ref": "SitesNotFoundFunction"}
    }
    assert set(permissions) == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
    distribution = {"Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${SitesDistribution}"}
    for permission in permissions.values():
        assert permission["Principal"] == "cloudfront.amazonaws.com"
        assert permission["SourceArn"] == distribution
    assert permissions["lambda:InvokeFunctionUrl"]["FunctionUrlAuthType"] == "AWS_IAM"
    assert permissions["lambda:InvokeFunction"]["InvokedViaFunctionUrl"] is True
