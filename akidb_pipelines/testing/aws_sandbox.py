"""A local AWS sandbox for the demo, the chaos replay and the tests: moto in server mode on 127.0.0.1 with the
Lambda provisioned-concurrency API that moto 5.2.5 lacks (verified recipe, ../shared/RECIPES.md; it patches moto's
URL table, which is why moto is pinned), and the AkiDB resources the runbooks act on. moto comes with the dev extra
and is imported only when a sandbox starts: without it, :class:`SandboxUnavailable` says what to install."""

from __future__ import annotations

import io
import json
import logging
import re
import urllib.request
import zipfile
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import boto3
import yaml

from akidb_pipelines.config.loader import load_yaml
from akidb_pipelines.runbooks.actuator import Actuator
from akidb_pipelines.runbooks.config import DEFAULT_PATH, RunbookConfigError, load_runbooks

MISSING_MOTO = ("the local AWS sandbox needs moto, which comes with the dev extra: "
                "pip install 'akidb-pipelines[dev]'")


class SandboxUnavailable(RuntimeError):
    pass


def _region(h) -> str:  # noqa: ANN001
    m = re.search(r"Credential=[^/]+/\d+/([^/]+)/", h.get("Authorization", ""))
    return m.group(1) if m else "us-east-1"


def provisioned_concurrency(request, full_url, headers):  # noqa: ANN001, ANN201 - moto's handler signature
    from moto.awslambda.models import lambda_backends
    from moto.core import DEFAULT_ACCOUNT_ID

    u = urlparse(full_url)
    fn = unquote(u.path.split("/functions/")[1].split("/")[0])
    q = parse_qs(u.query)
    be = lambda_backends[DEFAULT_ACCOUNT_ID][_region(headers)]
    store = be.__dict__.setdefault("_pc_store", {})
    try:
        be.get_function(fn)
    except Exception as e:  # noqa: BLE001
        return 404, {"x-amzn-ErrorType": "ResourceNotFoundException"}, json.dumps({"message": str(e)})
    if request.method == "GET" and "List" in q:
        return 200, {}, json.dumps({"ProvisionedConcurrencyConfigs": [dict(v, FunctionArn=k) for k, v in store.items()
                                                                       if k.split(":")[-2] == fn]})
    qual = q.get("Qualifier", [None])[0]
    if not qual or qual == "$LATEST":
        return 400, {"x-amzn-ErrorType": "InvalidParameterValueException"}, json.dumps(
            {"message": "Provisioned Concurrency Configs cannot be applied to unpublished function versions."})
    key = f"{be.get_function(fn).function_arn}:{qual}"
    if request.method == "PUT":
        n = json.loads(request.data or b"{}")["ProvisionedConcurrentExecutions"]
        store[key] = {"RequestedProvisionedConcurrentExecutions": n, "AvailableProvisionedConcurrentExecutions": n,
                      "AllocatedProvisionedConcurrentExecutions": n, "Status": "READY",
                      "LastModified": "2026-01-01T00:00:00.000+0000"}
        return 202, {}, json.dumps(store[key])
    if request.method == "GET":
        if key not in store:
            return 404, {"x-amzn-ErrorType": "ProvisionedConcurrencyConfigNotFoundException"}, json.dumps(
                {"message": "No Provisioned Concurrency Config found"})
        return 200, {}, json.dumps(store[key])
    if request.method == "DELETE":
        store.pop(key, None)
        return 204, {}, ""
    return 405, {}, ""


PC_ROUTE = r"{0}/(?P<api_version>[^/]+)/functions/(?P<function_name>[\w_:%-]+)/provisioned-concurrency/?$"


def require_moto() -> None:
    """Raise :class:`SandboxUnavailable` (what to install, in one line) when moto is not installed."""
    try:
        import moto  # noqa: F401 - a dev extra, imported only where a sandbox is needed
    except ImportError:
        raise SandboxUnavailable(MISSING_MOTO) from None


def extend_moto() -> None:
    """Add the provisioned-concurrency route to moto's Lambda URL table (before a server starts); idempotent."""
    try:
        import moto.awslambda.urls as lurls
    except ImportError:
        raise SandboxUnavailable(MISSING_MOTO) from None
    lurls.url_paths[PC_ROUTE] = provisioned_concurrency


def start_server():  # noqa: ANN201 - a moto ThreadedMotoServer, started; stop() it when done
    extend_moto()
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    srv = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    srv.start()
    return srv


def seed_akidb(endpoint: str, region: str = "us-east-1") -> dict[str, str]:
    """The resources the shipped runbooks name: the on-demand Auto Scaling group, the predictive-scaling flag, a
    CloudFront distribution whose /v1/* behaviour runs the edge function, and the regional function alias.
    Returns {'distribution': id}."""
    kw = {"endpoint_url": endpoint, "region_name": region, "aws_access_key_id": "testing",
          "aws_secret_access_key": "testing"}
    asg = boto3.client("autoscaling", **kw)
    asg.create_launch_configuration(LaunchConfigurationName="akidb-rest", ImageId="ami-12345678",
                                    InstanceType="c6i.xlarge")
    asg.create_auto_scaling_group(AutoScalingGroupName="akidb-rest-ondemand", LaunchConfigurationName="akidb-rest",
                                  MinSize=0, MaxSize=12, DesiredCapacity=2, AvailabilityZones=[f"{region}a"])
    boto3.client("ssm", **kw).put_parameter(Name="/akidb/autoscaling/predictive-enabled", Value="true",
                                            Type="String")
    origin = lambda i: {"Id": i, "DomainName": f"{i}.example.com",  # noqa: E731
                        "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"}}
    policy = "658327ea-f89d-4fab-a63d-7e88639e58f6"
    edge_fn = {"Quantity": 1, "Items": [{"LambdaFunctionARN": f"arn:aws:lambda:{region}:123456789012:function:"
                                                             "akidb-edge-router:3", "EventType": "origin-request"}]}
    dist = boto3.client("cloudfront", **kw).create_distribution(DistributionConfig={
        "CallerReference": "akidb", "Comment": "akidb", "Enabled": True,
        "Origins": {"Quantity": 2, "Items": [origin("akidb-alb"), origin("akidb-alb-direct")]},
        "DefaultCacheBehavior": {"TargetOriginId": "akidb-alb", "ViewerProtocolPolicy": "https-only",
                                 "CachePolicyId": policy},
        "CacheBehaviors": {"Quantity": 1, "Items": [{"PathPattern": "/v1/*", "TargetOriginId": "akidb-alb",
                                                     "ViewerProtocolPolicy": "https-only", "CachePolicyId": policy,
                                                     "LambdaFunctionAssociations": edge_fn}]}})["Distribution"]
    role = boto3.client("iam", **kw).create_role(RoleName="akidb-edge", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.py", "def handler(event, context):\n    return event\n")
    lam = boto3.client("lambda", **kw)
    lam.create_function(FunctionName="akidb-edge-router-regional", Runtime="python3.12", Role=role,
                        Handler="index.handler", Code={"ZipFile": buf.getvalue()})
    version = lam.publish_version(FunctionName="akidb-edge-router-regional")["Version"]
    lam.create_alias(FunctionName="akidb-edge-router-regional", Name="live", FunctionVersion=version)
    return {"distribution": dist["Id"]}


def sandbox_runbooks(ids: dict[str, str], out, source=None) -> list:  # noqa: ANN001
    """The shipped runbooks (or ``source``), every one enabled and pointed at the sandbox's resources, written to
    ``out`` and loaded from there."""
    doc = load_yaml(source or DEFAULT_PATH, RunbookConfigError)
    for rb in doc["runbooks"]:
        rb["enabled"] = True
        if rb["action"]["type"] == "cloudfront_bypass_edge":
            rb["action"]["distribution"] = ids["distribution"]
            rb["guardrails"]["allow"] = [f"{ids['distribution']}:{rb['action']['path_pattern']}"]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_runbooks(out)


class Sandbox:
    """``with Sandbox(workdir) as sb``: a seeded moto server, the runbooks enabled against it (``sb.runbooks``) and
    an ``sb.actuator``; ``sb.reset()`` wipes and re-seeds it (a fresh account for the next replay)."""

    def __init__(self, workdir) -> None:  # noqa: ANN001
        self.workdir = Path(workdir)
        self.srv = None
        self.endpoint = ""
        self.runbooks: list = []
        self.actuator = None

    def __enter__(self) -> Sandbox:
        self.srv = start_server()
        host, port = self.srv.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.actuator = Actuator(endpoint_url=self.endpoint, access_key_id="testing", secret_access_key="testing")
        self.reset()  # moto's backends are per process: an earlier sandbox's resources would still be there
        return self

    def _seed(self) -> None:
        self.runbooks = sandbox_runbooks(seed_akidb(self.endpoint), self.workdir / "runbooks.sandbox.yaml")

    def reset(self) -> None:
        """Wipe every resource of the moto backends (in this process) and seed the AkiDB ones again."""
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"),
                               timeout=30).read()
        self._seed()

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        if self.srv is not None:
            self.srv.stop()
            self.srv = None
