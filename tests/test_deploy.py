"""What a deployment relies on beyond the functions: the Cognito token script, against moto."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from qai_tools import cognito_token
from qai_tools.template import load_template

ROOT = Path(__file__).parent.parent


def test_the_token_script_creates_the_user_once_and_prints_an_id_token(
    aws: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cognito = boto3.client("cognito-idp", region_name="us-east-1")
    pool = cognito.create_user_pool(PoolName="qai-dev", UsernameAttributes=["email"])["UserPool"]["Id"]
    client = cognito.create_user_pool_client(
        UserPoolId=pool, ClientName="qai-dev-web", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    outputs = [
        {"OutputKey": "UserPoolId", "OutputValue": pool},
        {"OutputKey": "UserPoolClientId", "OutputValue": client},
    ]
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    body = {"Resources": {"Nothing": {"Type": "AWS::SQS::Queue"}}, "Outputs": {}}
    for output in outputs:
        body["Outputs"][output["OutputKey"]] = {"Value": output["OutputValue"]}
    cloudformation.create_stack(StackName="qai-dev", TemplateBody=json.dumps(body))

    args = ["--stack", "qai-dev", "--email", "ada@example.com"]
    with pytest.raises(SystemExit):  # never on the command line, where the process list shows it
        cognito_token.main([*args, "--password", "Str0ng!pass"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: "Str0ng!pass")
    assert cognito_token.main(args) == 0
    monkeypatch.setenv("QAI_PASSWORD", "Str0ng!pass")
    assert cognito_token.main(args) == 0  # a second time: the user exists, a new token
    tokens = capsys.readouterr().out.split()
    assert len(tokens) == 2 and all(token.count(".") == 2 for token in tokens)
    users = cognito.list_users(UserPoolId=pool)["Users"]
    assert [u["UserStatus"] for u in users] == ["CONFIRMED"]


def test_env_json_example_names_every_function_and_its_variables() -> None:
    example = json.loads((ROOT / "env.json.example").read_text())
    functions = {
        name
        for name, resource in load_template()["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert set(example) == functions
    for variables in example.values():
        assert {"DATABASE_URL", "POWERTOOLS_SERVICE_NAME"} <= set(variables)
    assert {"AGENT_QUEUE_URL"} <= set(example["ProjectsFunction"]) and "SANDBOX_PROVIDER" in example["AgentFunction"]


def test_alarms_and_dashboard_read_metrics_the_code_emits() -> None:
    """A renamed metric would leave its alarm silent: every QAI metric they name is emitted somewhere."""
    template = load_template()
    resources = template["Resources"]
    code = "\n".join(p.read_text() for p in (ROOT / "functions").rglob("*.py"))
    alarms = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert {
        "DeadLetterQueueAlarm",
        "AgentErrorsAlarm",
        "AgentThrottlesAlarm",
        "AgentDurationAlarm",
        "FailedRunsAlarm",
        "Api5xxRateAlarm",
    } <= set(alarms)
    named = [p["MetricName"] for p in alarms.values() if p.get("Namespace") == "QAI"]
    dashboard = resources["Dashboard"]["Properties"]["DashboardBody"]["Sub"][0]
    for widget in json.loads(dashboard)["widgets"]:
        rows = widget["properties"]["metrics"]
        if rows[0][0] == "QAI":  # "." repeats the row above; "..." the whole metric
            named += [row[1] for row in rows if row[0] in ("QAI", ".")]
    assert "AppsFailingCheck" in named and "RunsFailed" in named
    assert all(f'"{metric}"' in code for metric in named), [m for m in named if f'"{m}"' not in code]
    assert template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "qai"
    for properties in alarms.values():  # the optional email topic, wired the same way everywhere
        assert properties["AlarmActions"] == {"If": ["HasAlarmEmail", [{"Ref": "AlarmTopic"}], {"Ref": "AWS::NoValue"}]}


def test_the_api_is_throttled_by_parameters() -> None:
    template = load_template()
    settings = template["Resources"]["HttpApi"]["Properties"]["DefaultRouteSettings"]
    assert settings == {
        "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"},
        "ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
    }
    assert template["Parameters"]["ApiThrottlingRateLimit"]["Default"] == 50


def test_the_web_client_is_hosted_only_when_asked_and_signs_in_with_pkce() -> None:
    template = load_template()
    resources, conditions = template["Resources"], template["Conditions"]
    hosted = [name for name, r in resources.items() if r.get("Condition") == "HostWeb"]
    assert set(hosted) == {
        "WebBucket",
        "WebOriginAccessControl",
        "WebDistribution",
        "WebBucketPolicy",
        "WebSecurityHeaders",
    }
    assert conditions["HostWeb"] == {"Equals": [{"Ref": "HostWebClient"}, "true"]}
    assert template["Parameters"]["HostWebClient"]["Default"] == "false"
    client = resources["UserPoolClient"]["Properties"]
    assert client["AllowedOAuthFlows"] == ["code"] and client["GenerateSecret"] is False  # PKCE, no secret
    callbacks = json.dumps(client["CallbackURLs"])
    assert "WebDistribution.DomainName" in callbacks
    bucket = resources["WebBucket"]["Properties"]["PublicAccessBlockConfiguration"]
    assert all(bucket.values())  # private: CloudFront reads it through its origin access control


def test_publishing_the_web_client_uploads_it_with_its_config(aws: None, tmp_path: Path) -> None:
    from qai_tools.publish_web import publish, web_config

    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<div id=root></div>")
    (dist / "assets" / "index-abc123.js").write_text("console.log(1)")
    s3, cloudfront = boto3.client("s3"), boto3.client("cloudfront")
    s3.create_bucket(Bucket="qai-web")
    distribution = cloudfront.create_distribution(
        DistributionConfig={
            "CallerReference": "test",
            "Comment": "",
            "Enabled": True,
            "Origins": {"Quantity": 1, "Items": [{"Id": "web", "DomainName": "qai-web.s3.amazonaws.com"}]},
            "DefaultCacheBehavior": {"TargetOriginId": "web", "ViewerProtocolPolicy": "redirect-to-https"},
        }
    )["Distribution"]
    outputs = {
        "ApiUrl": "https://abc.execute-api.us-east-1.amazonaws.com",
        "OidcIssuer": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pool",
        "UserPoolClientId": "client123",
        "WebBucketName": "qai-web",
        "WebDistributionId": distribution["Id"],
        "WebUrl": "https://d111.cloudfront.net/",
    }
    written = publish(dist, outputs, s3=s3, cloudfront=cloudfront)
    assert written == ["assets/index-abc123.js", "index.html", "config.json"]
    index = s3.get_object(Bucket="qai-web", Key="index.html")
    asset = s3.get_object(Bucket="qai-web", Key="assets/index-abc123.js")
    assert index["ContentType"] == "text/html" and index["CacheControl"] == "no-cache"
    assert asset["CacheControl"].endswith("immutable")
    config = json.loads(s3.get_object(Bucket="qai-web", Key="config.json")["Body"].read())
    assert config == {
        "apiUrl": "https://abc.execute-api.us-east-1.amazonaws.com",
        "auth": {
            "mode": "oidc",
            "authority": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pool",
            "clientId": "client123",
            "scope": "openid email profile",
        },
    }
    invalidations = cloudfront.list_invalidations(DistributionId=distribution["Id"])["InvalidationList"]
    assert invalidations["Quantity"] == 1
    with pytest.raises(ValueError, match="HostWebClient=true"):
        publish(dist, {k: v for k, v in outputs.items() if not k.startswith("Web")}, s3=s3, cloudfront=cloudfront)
    with pytest.raises(ValueError, match="--client-id"):  # an external issuer: its client is not an output
        web_config({k: v for k, v in outputs.items() if k != "UserPoolClientId"})


def test_buckets_take_tls_only_and_functions_reach_only_their_own_prefix() -> None:
    resources = load_template()["Resources"]
    for policy in ("WebBucketPolicy", "DownloadsBucketPolicy", "UploadsBucketPolicy", "SitesBucketPolicy"):
        statements = resources[policy]["Properties"]["PolicyDocument"]["Statement"]
        denied = [s for s in statements if s["Effect"] == "Deny"]
        assert denied and denied[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, policy
        assert denied[0]["Principal"] == "*" and denied[0]["Action"] == "s3:*"
    for name, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        policies = json.dumps(resource["Properties"].get("Policies", []))
        assert "S3CrudPolicy" not in policies and "s3:*" not in policies, name
    messages_s3 = {
        json.dumps(statement["Resource"]): (statement["Action"], statement.get("Condition"))
        for policy in resources["MessagesFunction"]["Properties"]["Policies"]
        if "Statement" in policy
        for statement in policy["Statement"]
    }
    # Images are listed and removed (a refused request's) under uploads/ only.
    only_uploads = {"StringLike": {"s3:prefix": "uploads/*"}}
    assert messages_s3 == {
        json.dumps({"Sub": "${DownloadsBucket.Arn}/downloads/*"}): (["s3:PutObject", "s3:GetObject"], None),
        json.dumps({"Sub": "${UploadsBucket.Arn}/uploads/*"}): (
            ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
            None,
        ),
        json.dumps({"GetAtt": "UploadsBucket.Arn"}): (["s3:ListBucket"], only_uploads),
    }
    code = (ROOT / "layers/shared/python/qai/downloads.py").read_text()
    assert 'f"downloads/{token}/{filename}"' in code  # the prefix the policy names
    assert 'f"uploads/{project_id}/"' in (ROOT / "layers/shared/python/qai/images.py").read_text()


def test_the_api_logs_each_request_and_the_web_client_sends_security_headers() -> None:
    resources = load_template()["Resources"]
    logs = resources["HttpApi"]["Properties"]["AccessLogSettings"]
    assert logs["DestinationArn"] == {"GetAtt": "ApiAccessLogGroup.Arn"}
    fields = json.loads(logs["Format"])
    assert {"requestId", "status", "routeKey", "ip"} <= set(fields)
    assert "authorization" not in logs["Format"].lower()  # no credential is ever logged
    headers = resources["WebSecurityHeaders"]["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000
    behavior = resources["WebDistribution"]["Properties"]["DistributionConfig"]["DefaultCacheBehavior"]
    assert behavior["ResponseHeadersPolicyId"] == {"Ref": "WebSecurityHeaders"}
