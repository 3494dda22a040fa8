"""The AWS calls of the runbook action types (boto3): read the current state of a target, write a new one."""

from __future__ import annotations

import copy
from typing import Any

from akidb_pipelines.config import aws_region


class Actuator:
    """The AWS calls of the action types (boto3; endpoint and credentials from the environment)."""

    def __init__(self, region: str | None = None, endpoint_url: str | None = None,
                 access_key_id: str | None = None, secret_access_key: str | None = None):
        import boto3

        self._kw: dict[str, Any] = {"region_name": region or aws_region(default_region=False)}
        if endpoint_url:
            self._kw["endpoint_url"] = endpoint_url
        if access_key_id and secret_access_key:  # else boto3's chain (environment, profile, instance role)
            self._kw.update(aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key)
        self._boto3, self._clients = boto3, {}
        self.asg, self.ssm = self.client("autoscaling"), self.client("ssm")

    def client(self, service: str):  # noqa: ANN201
        if service not in self._clients:
            self._clients[service] = self._boto3.client(service, **self._kw)
        return self._clients[service]

    def _behaviour(self, action: dict) -> tuple[dict, str, dict]:
        got = self.client("cloudfront").get_distribution_config(Id=action["distribution"])
        cfg = got["DistributionConfig"]
        if action["path_pattern"] == "default":
            return cfg, got["ETag"], cfg["DefaultCacheBehavior"]
        for b in (cfg.get("CacheBehaviors") or {}).get("Items") or []:
            if b["PathPattern"] == action["path_pattern"]:
                return cfg, got["ETag"], b
        raise LookupError(f"distribution {action['distribution']} has no cache behaviour {action['path_pattern']}")

    def read(self, action: dict) -> Any:
        t = action["type"]
        if t == "autoscaling_step":
            groups = self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[action["group"]])["AutoScalingGroups"]
            if not groups:
                raise LookupError(f"Auto Scaling group {action['group']} not found")
            g = groups[0]
            return {"desired": g["DesiredCapacity"], "max": g["MaxSize"]}
        if t == "ssm_flag":
            return self.ssm.get_parameter(Name=action["parameter"])["Parameter"]["Value"]
        if t == "cloudfront_bypass_edge":
            _, _, b = self._behaviour(action)
            return {"target_origin": b["TargetOriginId"],
                    "lambda_associations": copy.deepcopy(b.get("LambdaFunctionAssociations") or {"Quantity": 0})}
        lam = self.client("lambda")
        try:
            got = lam.get_provisioned_concurrency_config(FunctionName=action["function"],
                                                         Qualifier=action["qualifier"])
            return int(got["RequestedProvisionedConcurrentExecutions"])
        except lam.exceptions.ProvisionedConcurrencyConfigNotFoundException:
            return 0

    def write(self, action: dict, value: Any) -> None:
        t = action["type"]
        if t == "autoscaling_step":
            self.asg.set_desired_capacity(AutoScalingGroupName=action["group"], DesiredCapacity=int(value["desired"]),
                                          HonorCooldown=False)
        elif t == "ssm_flag":
            self.ssm.put_parameter(Name=action["parameter"], Value=str(value), Type="String", Overwrite=True)
        elif t == "cloudfront_bypass_edge":
            cfg, etag, b = self._behaviour(action)
            b["TargetOriginId"] = value["target_origin"]
            b["LambdaFunctionAssociations"] = value["lambda_associations"]
            self.client("cloudfront").update_distribution(Id=action["distribution"], IfMatch=etag,
                                                          DistributionConfig=cfg)
        else:
            lam = self.client("lambda")
            if int(value) > 0:
                lam.put_provisioned_concurrency_config(FunctionName=action["function"], Qualifier=action["qualifier"],
                                                       ProvisionedConcurrentExecutions=int(value))
            else:
                lam.delete_provisioned_concurrency_config(FunctionName=action["function"],
                                                          Qualifier=action["qualifier"])
