"""Tags: every taggable AWS resource says which project and environment own it, and that Pulumi manages it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyConfigSchema, ResourceValidationArgs

from .base import Props, config, get, json_document, resource_rule

REQUIRED_TAGS = ("Project", "Environment", "ManagedBy")

# The AWS types this platform creates (or is likely to) that take `tags`. tests/policy checks the list against
# pulumi-aws, and that every taggable type a stack registers is in it.
TAGGABLE = frozenset(
    {
        "aws:acm/certificate:Certificate",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "aws:ec2/eip:Eip",
        "aws:ec2/flowLog:FlowLog",
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:ec2/natGateway:NatGateway",
        "aws:ec2/routeTable:RouteTable",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/vpc:Vpc",
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        "aws:ecr/repository:Repository",
        "aws:eks/accessEntry:AccessEntry",
        "aws:eks/addon:Addon",
        "aws:eks/cluster:Cluster",
        "aws:eks/nodeGroup:NodeGroup",
        "aws:eks/podIdentityAssociation:PodIdentityAssociation",
        "aws:elasticache/parameterGroup:ParameterGroup",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "aws:elasticache/subnetGroup:SubnetGroup",
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
        "aws:iam/policy:Policy",
        "aws:iam/role:Role",
        "aws:kms/key:Key",
        "aws:rds/instance:Instance",
        "aws:rds/parameterGroup:ParameterGroup",
        "aws:rds/snapshot:Snapshot",
        "aws:rds/subnetGroup:SubnetGroup",
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketV2:BucketV2",
        "aws:secretsmanager/secret:Secret",
        "aws:ssm/parameter:Parameter",
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "aws:wafv2/webAcl:WebAcl",
    }
)


def _provider_default_tags(args: ResourceValidationArgs) -> Mapping[str, Any]:
    """The provider's `defaultTags.tags`; provider inputs of object type reach the engine as JSON strings."""
    if args.provider is None:
        return {}
    default_tags = json_document(get(args.provider.props, "defaultTags"))
    tags = default_tags.get("tags") if isinstance(default_tags, dict) else None
    return tags if isinstance(tags, dict) else {}


@resource_rule(
    "aws-tagging-resource-configure-required-tags",
    "Every taggable AWS resource carries the Project, Environment and ManagedBy tags (its own or the provider's).",
    controls=("Platform baseline: tags Project, Environment, ManagedBy",),
    types=TAGGABLE,
    config_schema=PolicyConfigSchema(
        properties={
            "requiredTags": {
                "type": "array",
                "items": {"type": "string"},
                "default": list(REQUIRED_TAGS),
                "description": "Tag keys every taggable resource must carry.",
            }
        }
    ),
)
def required_tags(props: Props, args: ResourceValidationArgs) -> Iterator[str]:
    required = list(config(args, "requiredTags", REQUIRED_TAGS))
    tags = {**_provider_default_tags(args), **dict(get(props, "tags", {}))}
    missing = [key for key in required if not tags.get(key)]
    if missing:
        yield f"tags must include {', '.join(missing)}"
