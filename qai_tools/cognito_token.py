"""A user in the stack's Cognito user pool, and an ID token for them to call the API with.

    python -m qai_tools.cognito_token --stack qai-dev --email you@example.com

The password is asked for (not echoed), or read from QAI_PASSWORD: never an argument, which any
user of the machine can read in the process list and which stays in the shell's history. Reads
the pool and its client from the stack's outputs (UserPoolId, UserPoolClientId), creates the user
with that password when they do not exist yet (no invitation email), signs in with
USER_PASSWORD_AUTH and prints the ID token (valid one hour): export QAI_TOKEN=$(python -m …).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import sys
from typing import Any


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    (described,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    return {output["OutputKey"]: output["OutputValue"] for output in described.get("Outputs", [])}


def ensure_user(cognito: Any, pool_id: str, email: str, password: str) -> None:
    with contextlib.suppress(cognito.exceptions.UsernameExistsException):  # a second run: a new token
        cognito.admin_create_user(
            UserPoolId=pool_id,
            Username=email,
            UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
            MessageAction="SUPPRESS",
        )
    cognito.admin_set_user_password(UserPoolId=pool_id, Username=email, Password=password, Permanent=True)


def id_token(cognito: Any, client_id: str, email: str, password: str) -> str:
    answer = cognito.initiate_auth(
        ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={"USERNAME": email, "PASSWORD": password}
    )
    return str(answer["AuthenticationResult"]["IdToken"])


def main(argv: list[str] | None = None) -> int:
    import boto3

    parser = argparse.ArgumentParser(prog="cognito_token", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="the deployed stack's name")
    parser.add_argument("--email", required=True)
    args = parser.parse_args(argv)
    # 8+ characters with upper and lower case, a digit, a symbol (the pool's policy).
    password = os.environ.get("QAI_PASSWORD") or getpass.getpass(f"Password for {args.email}: ")

    outputs = stack_outputs(boto3.client("cloudformation"), args.stack)
    if "UserPoolId" not in outputs:
        print("The stack has no Cognito user pool: it uses an external issuer (JwtIssuer).", file=sys.stderr)
        return 2
    cognito = boto3.client("cognito-idp")
    ensure_user(cognito, outputs["UserPoolId"], args.email, password)
    print(id_token(cognito, outputs["UserPoolClientId"], args.email, password))
    return 0


if __name__ == "__main__":
    sys.exit(main())
