"""The name, identifier, description and tag rules of the AWS APIs, and how Pulumi names what the program leaves
unnamed; each rule cites where it is written (Kubernetes and Helm: tests/infra/kubernetes_limits.py). Read by
tests/infra/test_rehearsal_names.py.

A rule is checked where the real system checks it: an API's documented constraint (the request fails), or the
validation of the Terraform provider that pulumi-aws 7.51.1 bridges (the preview fails). Where a program omits a
physical name, Pulumi makes one (see `AUTONAMES`), and fails if that name would pass the provider's maximum.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

EC2_API = "https://docs.aws.amazon.com/AWSEC2/latest/APIReference"
# A subnet's IPv4 prefix length, largest and smallest (Amazon VPC User Guide, "Subnet CIDR blocks": "between a /16
# netmask (65,536 IP addresses) and /28 netmask (16 IP addresses)").
SUBNET_PREFIX = (16, 28)
# An ALB's subnets (Elastic Load Balancing User Guide for Application Load Balancers, "Subnets for your load
# balancer": "at least a /27 bitmask (for example, 10.0.0.0/27) and at least 8 free IP addresses").
ALB_SUBNET_MAX_PREFIX = 27
RDS_API = "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference"
ELASTICACHE_API = "https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference"
IAM_API = "https://docs.aws.amazon.com/IAM/latest/APIReference"
TF_AWS = "hashicorp/terraform-provider-aws internal/service"


@dataclass(frozen=True)
class Rule:
    """What a name or description must be; `violations` says, in AWS's terms, what a value breaks."""

    what: str
    source: str
    max_length: int
    min_length: int = 1
    # The whole value must match (re.fullmatch).
    pattern: str | None = None
    pattern_says: str = ""
    forbidden_starts: tuple[str, ...] = ()
    forbidden_ends: tuple[str, ...] = ()
    no_double_hyphen: bool = False
    no_ip_address: bool = False
    forbidden_values: tuple[str, ...] = ()

    def violations(self, value: str) -> list[str]:
        found = []
        if not self.min_length <= len(value) <= self.max_length:
            found.append(f"length {len(value)} outside {self.min_length}-{self.max_length}")
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            # A charset pattern ("[...]*"): name the characters it refuses.
            is_charset = self.pattern.startswith("[") and self.pattern[-2:] in ("]*", "]+")
            single = self.pattern[:-1] if is_charset else None
            bad = sorted({c for c in value if not re.fullmatch(single, c)}) if single else []
            found.append(
                f"not {self.pattern_says or self.pattern}" + (f" (offending: {''.join(bad)!r})" if bad else "")
            )
        found += [f"starts with reserved {s!r}" for s in self.forbidden_starts if value.startswith(s)]
        found += [f"ends with reserved {s!r}" for s in self.forbidden_ends if value.endswith(s)]
        if self.no_double_hyphen and "--" in value:
            found.append("contains two consecutive hyphens")
        if self.no_ip_address and _is_ip(value):
            found.append("is formatted as an IP address")
        if value in self.forbidden_values:
            found.append(f"is the reserved value {value!r}")
        return [f"{self.what}: {v}" for v in found]


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def charset(chars: str) -> str:
    """A pattern of any number of characters from `chars` (letters, digits and space included)."""
    return "[a-zA-Z0-9 " + re.escape(chars) + "]*"


# RDS and ElastiCache identifiers: a letter first, then letters, digits and hyphens, no "--", no trailing "-".
_IDENTIFIER = r"[A-Za-z](?:[A-Za-z0-9]|-(?=[A-Za-z0-9]))*"
_IDENTIFIER_SAYS = "a letter, then letters, digits or single inner hyphens"

SG_DESCRIPTION = Rule(
    "EC2 security group description",
    f"{EC2_API}/API_CreateSecurityGroup.html (GroupDescription)",
    255,
    pattern=charset("._-:/()#,@[]+=&;{}!$*"),
    pattern_says="a-zA-Z0-9, spaces and ._-:/()#,@[]+=&;{}!$*",
)
SG_NAME = Rule(
    "EC2 security group name",
    f"{EC2_API}/API_CreateSecurityGroup.html (GroupName)",
    255,
    pattern=charset("._-:/()#,@[]+=&;{}!$*"),
    pattern_says="a-zA-Z0-9, spaces and ._-:/()#,@[]+=&;{}!$*",
    forbidden_starts=("sg-",),
)
# A rule that names a source security group is a UserIdGroupPair, whose description admits no "&"; a CIDR rule
# is an IpRange/Ipv6Range, which does.
SG_RULE_DESCRIPTION_GROUP = Rule(
    "security group rule description (source security group)",
    f"{EC2_API}/API_UserIdGroupPair.html (Description)",
    255,
    pattern=charset("._-:/()#,@[]+=;{}!$*"),
    pattern_says="a-zA-Z0-9, spaces and ._-:/()#,@[]+=;{}!$*",
)
SG_RULE_DESCRIPTION_CIDR = Rule(
    "security group rule description (CIDR)",
    f"{EC2_API}/API_IpRange.html and API_Ipv6Range.html (Description)",
    255,
    pattern=charset("._-:/()#,@[]+=&;{}!$*"),
    pattern_says="a-zA-Z0-9, spaces and ._-:/()#,@[]+=&;{}!$*",
)
LAUNCH_TEMPLATE_NAME = Rule(
    "EC2 launch template name",
    f"{EC2_API}/API_CreateLaunchTemplate.html (LaunchTemplateName)",
    128,
    min_length=3,
    pattern=r"[a-zA-Z0-9().\-/_]+",
)
LAUNCH_TEMPLATE_DESCRIPTION = Rule(
    "EC2 launch template version description",
    f"{EC2_API}/API_CreateLaunchTemplate.html (VersionDescription)",
    255,
    min_length=0,
)
RDS_IDENTIFIER = Rule(
    "RDS DB instance identifier",
    f"{RDS_API}/API_CreateDBInstance.html (DBInstanceIdentifier); {TF_AWS}/rds/validate.go validIdentifier",
    63,
    pattern=r"[a-z](?:[a-z0-9]|-(?=[a-z0-9]))*",
    pattern_says="lowercase " + _IDENTIFIER_SAYS,
    no_double_hyphen=True,
)
RDS_SNAPSHOT_IDENTIFIER = Rule(
    "RDS final DB snapshot identifier",
    f"{RDS_API}/API_DeleteDBInstance.html (FinalDBSnapshotIdentifier)",
    255,
    pattern=_IDENTIFIER,
    pattern_says=_IDENTIFIER_SAYS,
    no_double_hyphen=True,
)
RDS_MANUAL_SNAPSHOT_IDENTIFIER = Rule(
    "RDS DB snapshot identifier",
    f"{RDS_API}/API_CreateDBSnapshot.html (DBSnapshotIdentifier: 1 to 255 letters, numbers or hyphens, a letter "
    "first, no two consecutive hyphens, no trailing hyphen)",
    255,
    pattern=_IDENTIFIER,
    pattern_says=_IDENTIFIER_SAYS,
    no_double_hyphen=True,
)
RDS_SUBNET_GROUP_NAME = Rule(
    "RDS DB subnet group name",
    f"{RDS_API}/API_CreateDBSubnetGroup.html (DBSubnetGroupName); {TF_AWS}/rds/validate.go validSubnetGroupName",
    255,
    pattern=r"[a-z0-9 ._-]+",
    forbidden_values=("default",),
)
RDS_PARAMETER_GROUP_NAME = Rule(
    "RDS DB parameter group name",
    f"{RDS_API}/API_CreateDBParameterGroup.html (DBParameterGroupName); {TF_AWS}/rds/validate.go validParamGroupName",
    255,
    pattern=r"[a-z](?:[a-z0-9]|-(?=[a-z0-9]))*",
    pattern_says="lowercase " + _IDENTIFIER_SAYS,
    no_double_hyphen=True,
)
RDS_DB_NAME = Rule(
    "RDS PostgreSQL database name",
    f"{RDS_API}/API_CreateDBInstance.html (DBName, PostgreSQL)",
    63,
    pattern=r"[A-Za-z_][A-Za-z0-9_]*",
)
RDS_USERNAME = Rule(
    "RDS PostgreSQL master username",
    f"{RDS_API}/API_CreateDBInstance.html (MasterUsername, PostgreSQL)",
    63,
    pattern=r"[A-Za-z][A-Za-z0-9_]*",
    forbidden_values=("rdsadmin",),
)
ELASTICACHE_REPLICATION_GROUP_ID = Rule(
    "ElastiCache replication group id",
    f"{ELASTICACHE_API}/API_CreateReplicationGroup.html (ReplicationGroupId)",
    40,
    pattern=_IDENTIFIER,
    pattern_says=_IDENTIFIER_SAYS,
    no_double_hyphen=True,
)
ELASTICACHE_SUBNET_GROUP_NAME = Rule(
    "ElastiCache cache subnet group name",
    f"{ELASTICACHE_API}/API_CreateCacheSubnetGroup.html (CacheSubnetGroupName)",
    255,
    pattern=r"[a-zA-Z0-9-]+",
)
ELASTICACHE_PARAMETER_GROUP_NAME = Rule(
    "ElastiCache cache parameter group name",
    f"{ELASTICACHE_API}/API_CreateCacheParameterGroup.html; {TF_AWS}/elasticache/parameter_group.go",
    255,
    pattern=r"[a-z](?:[a-z0-9]|-(?=[a-z0-9]))*",
    pattern_says="lowercase " + _IDENTIFIER_SAYS,
    no_double_hyphen=True,
)
IAM_ROLE_NAME = Rule("IAM role name", f"{IAM_API}/API_CreateRole.html (RoleName)", 64, pattern=r"[\w+=,.@-]+")
IAM_ROLE_NAME_PREFIX = Rule(
    "IAM role name_prefix",
    f"{TF_AWS}/iam/role.go (name_prefix: 64 minus the 26-character unique suffix)",
    38,
    pattern=r"[\w+=,.@-]+",
)
IAM_ROLE_DESCRIPTION = Rule(
    "IAM role description",
    f"{IAM_API}/API_CreateRole.html (Description)",
    1000,
    min_length=0,
    pattern=r"[\t\n\r\x20-\x7e\xa1-\xff]*",
)
IAM_POLICY_NAME = Rule(
    "IAM policy name", f"{IAM_API}/API_PutRolePolicy.html and API_CreatePolicy.html", 128, pattern=r"[\w+=,.@-]+"
)
S3_BUCKET = Rule(
    "S3 bucket name",
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html",
    63,
    min_length=3,
    pattern=r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?",
    pattern_says="lowercase letters, digits, dots and hyphens, a letter or digit at each end",
    forbidden_starts=("xn--", "sthree-", "amzn-s3-demo-"),
    forbidden_ends=("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"),
    no_ip_address=True,
)
S3_BUCKET_PREFIX = Rule(
    "S3 bucket_prefix", f"{TF_AWS}/s3/bucket.go (bucket_prefix: 63 minus the 26-character suffix)", 37
)
EKS_CLUSTER_NAME = Rule(
    "EKS cluster name",
    "https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateCluster.html (name)",
    100,
    pattern=r"[0-9A-Za-z][A-Za-z0-9\-_]*",
)
EKS_NODE_GROUP_NAME = Rule(
    "EKS node group name",
    f"{TF_AWS}/eks/node_group.go (node_group_name: StringLenBetween(0, 63))",
    63,
    pattern=r"[0-9A-Za-z][A-Za-z0-9\-_]*",
)
SECRET_NAME = Rule(
    "Secrets Manager secret name",
    "https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html (Name)",
    512,
    pattern=r"[A-Za-z0-9/_+=.@-]+",
)
SECRET_DESCRIPTION = Rule(
    "Secrets Manager description",
    "https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html (Description)",
    2048,
    min_length=0,
)
KMS_ALIAS = Rule(
    "KMS alias name",
    "https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html (AliasName)",
    256,
    pattern=r"alias/[a-zA-Z0-9/_-]+",
    forbidden_starts=("alias/aws/",),
)
KMS_KEY_DESCRIPTION = Rule(
    "KMS key description",
    "https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html (Description)",
    8192,
    min_length=0,
)
LOG_GROUP_NAME = Rule(
    "CloudWatch Logs log group name",
    "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html",
    512,
    pattern=r"[.\-_/#A-Za-z0-9]+",
)
ECR_REPOSITORY = Rule(
    "ECR repository name",
    "https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepository.html (repositoryName)",
    256,
    min_length=2,
    pattern=r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*",
)
# A DNS name (Route 53 record, ACM domain): 255 octets in all, labels of at most 63 (RFC 1035 2.3.4).
DNS_NAME = Rule(
    "DNS name",
    "https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/DomainNameFormat.html",
    255,
    pattern=r"(?:\*\.)?(?:[a-zA-Z0-9_](?:[a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_])?\.)*[a-zA-Z0-9_-]{1,63}\.?",
    pattern_says="dot-separated labels of at most 63 letters, digits, _ or -",
)
ACM_DOMAIN = Rule(
    "ACM certificate domain name",
    "https://docs.aws.amazon.com/acm/latest/APIReference/API_RequestCertificate.html (DomainName)",
    253,
    pattern=DNS_NAME.pattern,
    pattern_says=DNS_NAME.pattern_says,
)
TAG_KEY = Rule(
    "tag key",
    "https://docs.aws.amazon.com/tag-editor/latest/userguide/best-practices-and-strats.html (tag naming limits)",
    128,
    pattern=r"[\w\s.:/=+\-@]+",
    forbidden_starts=("aws:",),
)
TAG_VALUE = Rule(
    "tag value",
    "https://docs.aws.amazon.com/tag-editor/latest/userguide/best-practices-and-strats.html (tag naming limits)",
    256,
    min_length=0,
    pattern=r"[\w\s.:/=+\-@]*",
)

# (resource type, input) -> rule, for inputs the program sets.
INPUT_RULES: dict[tuple[str, str], Rule] = {
    ("aws:ec2/securityGroup:SecurityGroup", "description"): SG_DESCRIPTION,
    ("aws:ec2/securityGroup:SecurityGroup", "name"): SG_NAME,
    ("aws:ec2/launchTemplate:LaunchTemplate", "name"): LAUNCH_TEMPLATE_NAME,
    ("aws:ec2/launchTemplate:LaunchTemplate", "description"): LAUNCH_TEMPLATE_DESCRIPTION,
    ("aws:rds/instance:Instance", "identifier"): RDS_IDENTIFIER,
    ("aws:rds/instance:Instance", "finalSnapshotIdentifier"): RDS_SNAPSHOT_IDENTIFIER,
    ("aws:rds/snapshot:Snapshot", "dbSnapshotIdentifier"): RDS_MANUAL_SNAPSHOT_IDENTIFIER,
    ("aws:rds/instance:Instance", "dbName"): RDS_DB_NAME,
    ("aws:rds/instance:Instance", "username"): RDS_USERNAME,
    ("aws:rds/subnetGroup:SubnetGroup", "name"): RDS_SUBNET_GROUP_NAME,
    ("aws:rds/parameterGroup:ParameterGroup", "name"): RDS_PARAMETER_GROUP_NAME,
    ("aws:elasticache/replicationGroup:ReplicationGroup", "replicationGroupId"): ELASTICACHE_REPLICATION_GROUP_ID,
    ("aws:elasticache/subnetGroup:SubnetGroup", "name"): ELASTICACHE_SUBNET_GROUP_NAME,
    ("aws:elasticache/parameterGroup:ParameterGroup", "name"): ELASTICACHE_PARAMETER_GROUP_NAME,
    ("aws:iam/role:Role", "name"): IAM_ROLE_NAME,
    ("aws:iam/role:Role", "namePrefix"): IAM_ROLE_NAME_PREFIX,
    ("aws:iam/role:Role", "description"): IAM_ROLE_DESCRIPTION,
    ("aws:iam/rolePolicy:RolePolicy", "name"): IAM_POLICY_NAME,
    ("aws:iam/policy:Policy", "name"): IAM_POLICY_NAME,
    ("aws:s3/bucket:Bucket", "bucket"): S3_BUCKET,
    ("aws:s3/bucket:Bucket", "bucketPrefix"): S3_BUCKET_PREFIX,
    ("aws:eks/cluster:Cluster", "name"): EKS_CLUSTER_NAME,
    ("aws:eks/nodeGroup:NodeGroup", "nodeGroupName"): EKS_NODE_GROUP_NAME,
    ("aws:secretsmanager/secret:Secret", "name"): SECRET_NAME,
    ("aws:secretsmanager/secret:Secret", "description"): SECRET_DESCRIPTION,
    ("aws:kms/alias:Alias", "name"): KMS_ALIAS,
    ("aws:kms/key:Key", "description"): KMS_KEY_DESCRIPTION,
    ("aws:cloudwatch/logGroup:LogGroup", "name"): LOG_GROUP_NAME,
    ("aws:ecr/repository:Repository", "name"): ECR_REPOSITORY,
    ("aws:route53/record:Record", "name"): DNS_NAME,
    ("aws:acm/certificate:Certificate", "domainName"): ACM_DOMAIN,
}

# Lists of names: (resource type, input) -> the rule for each item.
LIST_INPUT_RULES: dict[tuple[str, str], Rule] = {
    ("aws:acm/certificate:Certificate", "subjectAlternativeNames"): ACM_DOMAIN,
}


@dataclass(frozen=True)
class Autoname:
    """How Pulumi names a resource whose physical name the program omits: `<logical name>-<random>`.

    pulumi-aws bridges each name through `tfbridge.AutoName`/`AutoNameTransform` (pulumi-terraform-bridge
    `ComputeAutoNameDefault`): transform the logical name, append "-" and `random` hex digits, and fail
    (`resource.NewUniqueName`, pulumi/pulumi sdk/go/common/resource/resource_id.go) when that is longer than
    `max_length`. Resources with an input `name` get AutoName(255) (pulumi-aws provider/autonaming.go); the
    others are set in provider/resource_overrides.go at v7.51.1.
    """

    field: str
    max_length: int
    random: int = 7
    lowercase: bool = False

    def name(self, logical: str) -> str:
        base = logical.lower() if self.lowercase else logical
        # Hex digits (a letter last, so a rule about the final character judges the worst case fairly).
        return f"{base}-{'0123456789abcdef'[: self.random - 1]}a"

    def fits(self, logical: str) -> bool:
        return len(logical) + 1 + self.random <= self.max_length


AUTONAMES: dict[str, Autoname] = {
    "aws:ec2/securityGroup:SecurityGroup": Autoname("name", 255),
    "aws:ec2/launchTemplate:LaunchTemplate": Autoname("name", 255),
    "aws:iam/role:Role": Autoname("name", 64),
    "aws:iam/rolePolicy:RolePolicy": Autoname("name", 255),
    "aws:iam/policy:Policy": Autoname("name", 255),
    "aws:rds/instance:Instance": Autoname("identifier", 255),
    "aws:rds/subnetGroup:SubnetGroup": Autoname("name", 255),
    "aws:rds/parameterGroup:ParameterGroup": Autoname("name", 255),
    "aws:elasticache/replicationGroup:ReplicationGroup": Autoname("replicationGroupId", 40, lowercase=True),
    "aws:elasticache/subnetGroup:SubnetGroup": Autoname("name", 255),
    "aws:elasticache/parameterGroup:ParameterGroup": Autoname("name", 255),
    "aws:s3/bucket:Bucket": Autoname("bucket", 63, lowercase=True),
    "aws:eks/nodeGroup:NodeGroup": Autoname("nodeGroupName", 255),
    "aws:eks/cluster:Cluster": Autoname("name", 255),
    "aws:cloudwatch/logGroup:LogGroup": Autoname("name", 255),
    "aws:ecr/repository:Repository": Autoname("name", 255),
    "aws:secretsmanager/secret:Secret": Autoname("name", 255),
    "aws:kms/alias:Alias": Autoname("name", 238),
}

# A `<field>Prefix` input makes the Terraform provider name the resource `<prefix><26 characters>`
# (terraform-plugin-sdk helper/id PrefixedUniqueId, UniqueIDSuffixLength = 26).
PREFIX_SUFFIX_LENGTH = 26
NAME_PREFIXES: dict[str, tuple[str, str]] = {
    "aws:secretsmanager/secret:Secret": ("namePrefix", "name"),
    "aws:iam/role:Role": ("namePrefix", "name"),
    "aws:s3/bucket:Bucket": ("bucketPrefix", "bucket"),
    "aws:ec2/securityGroup:SecurityGroup": ("namePrefix", "name"),
    "aws:ec2/launchTemplate:LaunchTemplate": ("namePrefix", "name"),
    "aws:cloudwatch/logGroup:LogGroup": ("namePrefix", "name"),
    "aws:rds/instance:Instance": ("identifierPrefix", "identifier"),
    "aws:rds/parameterGroup:ParameterGroup": ("namePrefix", "name"),
    "aws:eks/nodeGroup:NodeGroup": ("nodeGroupNamePrefix", "nodeGroupName"),
}

# AWS resource types whose every AWS-visible name is a tag (or that have none): checked for tags only.
NAMELESS_AWS_TYPES = frozenset(
    {
        "aws:ec2/vpc:Vpc",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/eip:Eip",
        "aws:ec2/natGateway:NatGateway",
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/routeTable:RouteTable",
        "aws:ec2/route:Route",
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        "aws:ec2/flowLog:FlowLog",
        # Endpoints have an id and a service name AWS picks, and no name of their own (EC2 CreateVpcEndpoint).
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
        "aws:eks/addon:Addon",
        "aws:eks/accessEntry:AccessEntry",
        "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
        "aws:ecr/lifecyclePolicy:LifecyclePolicy",
        "aws:ecr/repositoryPolicy:RepositoryPolicy",
        "aws:secretsmanager/secretVersion:SecretVersion",
        "aws:acm/certificateValidation:CertificateValidation",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketVersioning:BucketVersioning",
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "aws:s3/bucketLogging:BucketLogging",
        "aws:s3/bucketPolicy:BucketPolicy",
    }
)
