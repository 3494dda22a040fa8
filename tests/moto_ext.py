"""moto 5.2.5 lacks Lambda's provisioned-concurrency API (server mode answers 404). This adds the REST route
``/2019-09-30/functions/{name}/provisioned-concurrency`` to moto's Lambda URL map, keeping the configs on the Lambda
backend so ``/moto-api/reset`` clears them (verified recipe, ../shared/RECIPES.md). Import it before the server
starts. It depends on moto internals, which is why moto is pinned."""

import json
import re
from urllib.parse import parse_qs, unquote, urlparse

import moto.awslambda.urls as lurls
from moto.awslambda.models import lambda_backends
from moto.core import DEFAULT_ACCOUNT_ID


def _region(h) -> str:  # noqa: ANN001
    m = re.search(r"Credential=[^/]+/\d+/([^/]+)/", h.get("Authorization", ""))
    return m.group(1) if m else "us-east-1"


def provisioned_concurrency(request, full_url, headers):  # noqa: ANN001, ANN201 - moto's handler signature
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


lurls.url_paths[r"{0}/(?P<api_version>[^/]+)/functions/(?P<function_name>[\w_:%-]+)/provisioned-concurrency/?$"] = \
    provisioned_concurrency
