"""What the emulator's tests share: one emulator process per test module, started the way the
Rust tests start it, a JSON helper for its HTTP endpoints, and boto3 clients for it."""

import json
from functools import cache
import subprocess
import sys
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

SERVER = Path(__file__).with_name("server.py")


@pytest.fixture(scope="module")
def url():
    proc = subprocess.Popen([sys.executable, str(SERVER), "--port", "0"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline().strip()
    assert line.startswith("listening on "), line
    yield line.removeprefix("listening on ")
    proc.stdin.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def http(url: str, method: str, path: str, body: dict | None = None):
    """One JSON request to the emulator; the decoded answer, None when it is empty."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method=method,
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request) as response:
        text = response.read()
    return json.loads(text) if text.strip() else None


@cache
def client(url: str, service: str, region: str = "us-east-1", validate: bool = True, retries: int = 3):
    """A boto3 client of `service` for the emulator at `url`."""
    config = Config(parameter_validation=validate, retries={"total_max_attempts": retries, "mode": "standard"})
    return boto3.client(service, endpoint_url=url, region_name=region, aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=config)
