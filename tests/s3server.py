"""A real S3 implementation for tests: moto's server mode, started as its own
process on a free 127.0.0.1 port.

Moto checks request signatures once its unauthenticated allowance is used
up (``INITIAL_NO_AUTH_ACTION_COUNT``): the fixture spends that allowance on
making an IAM user with an access key and an S3 policy, and a bucket; from
then on every request must carry a valid SigV4 signature of that key, so
a signing mistake of ours fails the test (S3 answers 403
SignatureDoesNotMatch). Objects are read back with boto3 (moto brings it),
a client independent of ours.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

from services import _wait_port, free_port

SETUP_CALLS = 4  # create_user, put_user_policy, create_access_key, create_bucket
POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": "*"}]}


@dataclass
class S3Server:
    endpoint: str
    bucket: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name=self.region)

    def objects(self, prefix: str = "") -> dict[str, bytes]:
        """Every object in the bucket under ``prefix``: key -> bytes."""
        s3 = self.client()
        found = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                found[item["Key"]] = s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
        return found

    def params(self, **more) -> dict:
        """LiteLLM-style s3_* settings pointing at this server."""
        return {"s3_bucket_name": self.bucket, "s3_region_name": self.region, "s3_endpoint_url": self.endpoint,
                "s3_aws_access_key_id": self.access_key, "s3_aws_secret_access_key": self.secret_key, **more}


def start_s3(bucket: str = "polyrelay-test-bucket"):
    """(S3Server, stop)."""
    import boto3

    port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_CALLS), "MOTO_PORT": str(port)}
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_port(port, process, "moto server", seconds=60)
    endpoint = f"http://127.0.0.1:{port}"
    setup = dict(endpoint_url=endpoint, aws_access_key_id="setup", aws_secret_access_key="setup",
                 region_name="us-east-1")
    iam = boto3.client("iam", **setup)
    iam.create_user(UserName="polyrelay")
    iam.put_user_policy(UserName="polyrelay", PolicyName="s3", PolicyDocument=json.dumps(POLICY))
    key = iam.create_access_key(UserName="polyrelay")["AccessKey"]
    server = S3Server(endpoint=endpoint, bucket=bucket, access_key=key["AccessKeyId"],
                      secret_key=key["SecretAccessKey"])
    boto3.client("s3", **setup).create_bucket(Bucket=bucket)

    def stop():
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()

    return server, stop
