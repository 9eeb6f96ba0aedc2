"""Passing and failing cases for every resource rule, built from realistic props (camelCase, as the engine sends
them): each compliant resource below is what the platform's components register; each failing case changes the one
thing a rule guards."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tests.policy.support import DELETE, changed

ACCOUNT = "123456789012"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
TAGS = {"Project": "mlp", "Environment": "prod", "ManagedBy": "pulumi", "Name": "mlp-prod-x"}
OIDC = "oidc.eks.us-east-1.amazonaws.com/id/5E1A2B3C4D5E6F708192A3B4C5D6E7F8"


@dataclass(frozen=True)
class Case:
    """`rule` on a resource of `type` with `props`: passes when `expect` is None, else reports a message
    containing `expect`."""

    rule: str
    type: str
    props: dict[str, Any]
    expect: str | None = None
    config: dict[str, Any] | None = None
    provider: dict[str, Any] | None = None
    id: str = field(default="")

    @property
    def label(self) -> str:
        outcome = "passes" if self.expect is None else "fails"
        return f"{self.rule}-{outcome}{'-' + self.id if self.id else ''}"


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


# --------------------------------------------------------------------------------------------- AWS

CLUSTER_T = "aws:eks/cluster:Cluster"
CLUSTER = {
    "name": "mlp-prod",
    "version": "1.33",
    "roleArn": f"arn:aws:iam::{ACCOUNT}:role/mlp-prod-cluster-role",
    "vpcConfig": {
        "subnetIds": ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"],
        "endpointPrivateAccess": True,
        "endpointPublicAccess": False,
    },
    "accessConfig": {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": True},
    "encryptionConfig": {"provider": {"keyArn": KEY_ARN}, "resources": ["secrets"]},
    "enabledClusterLogTypes": ["api", "audit", "authenticator", "controllerManager", "scheduler"],
    "bootstrapSelfManagedAddons": False,
    "tags": TAGS,
}
NODE_GROUP_T = "aws:eks/nodeGroup:NodeGroup"
NODE_GROUP = {
    "clusterName": "mlp-prod",
    "nodeRoleArn": f"arn:aws:iam::{ACCOUNT}:role/mlp-prod-node-role",
    "subnetIds": ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"],
    "instanceTypes": ["m6i.large"],
    "scalingConfig": {"minSize": 2, "desiredSize": 3, "maxSize": 6},
    "launchTemplate": {"id": "lt-0123456789abcdef0", "version": "1"},
    "tags": TAGS,
}
ADDON_T = "aws:eks/addon:Addon"
CNI = {
    "clusterName": "mlp-prod",
    "addonName": "vpc-cni",
    "addonVersion": "v1.20.1-eksbuild.3",
    "configurationValues": json.dumps({"enableNetworkPolicy": "true"}),
    "tags": TAGS,
}
LAUNCH_TEMPLATE_T = "aws:ec2/launchTemplate:LaunchTemplate"
LAUNCH_TEMPLATE = {
    "description": "Nodes of EKS cluster mlp-prod",
    "updateDefaultVersion": True,
    "vpcSecurityGroupIds": ["sg-0cluster000000000", "sg-0node00000000000"],
    "metadataOptions": {
        "httpEndpoint": "enabled",
        "httpTokens": "required",
        "httpPutResponseHopLimit": 1,
        "instanceMetadataTags": "disabled",
    },
    "blockDeviceMappings": [
        {"deviceName": "/dev/xvda", "ebs": {"volumeSize": 50, "volumeType": "gp3", "encrypted": "true"}}
    ],
    "tags": TAGS,
}
SG_T = "aws:ec2/securityGroup:SecurityGroup"
SG = {
    "vpcId": "vpc-0a1b2c3d4e5f60718",
    "description": "ALB",
    "ingress": [
        {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"], "ipv6CidrBlocks": ["::/0"]}
    ],
    "tags": TAGS,
}
SG_RULE_T = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_RULE = {
    "type": "ingress",
    "securityGroupId": "sg-0a1b2c3d4e5f60718",
    "protocol": "tcp",
    "fromPort": 80,
    "toPort": 80,
    "cidrBlocks": ["0.0.0.0/0"],
}
INGRESS_RULE_T = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
INGRESS_RULE = {
    "securityGroupId": "sg-0redis00000000000",
    "referencedSecurityGroupId": "sg-0node00000000000",
    "ipProtocol": "tcp",
    "fromPort": 6379,
    "toPort": 6379,
    "tags": TAGS,
}
DEFAULT_SG_T = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SUBNET_T = "aws:ec2/subnet:Subnet"
SUBNET = {"vpcId": "vpc-0a1b2c3d4e5f60718", "cidrBlock": "10.30.128.0/20", "mapPublicIpOnLaunch": False, "tags": TAGS}
FLOW_LOG_T = "aws:ec2/flowLog:FlowLog"
FLOW_LOG = {
    "vpcId": "vpc-0a1b2c3d4e5f60718",
    "trafficType": "ALL",
    "logDestinationType": "cloud-watch-logs",
    "logDestination": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/vpc/mlp-prod/flow-logs",
    "tags": TAGS,
}
REDIS_T = "aws:elasticache/replicationGroup:ReplicationGroup"
REDIS = {
    "description": "Prediction cache of mlp-prod",
    "engine": "redis",
    "engineVersion": "7.1",
    "nodeType": "cache.t4g.medium",
    "numCacheClusters": 2,
    "port": 6379,
    "automaticFailoverEnabled": True,
    "multiAzEnabled": True,
    "atRestEncryptionEnabled": True,
    "kmsKeyId": KEY_ARN,
    "transitEncryptionEnabled": True,
    "transitEncryptionMode": "required",
    "authToken": "mock-0123456789abcdef0123456789abcdef",
    "subnetGroupName": "mlp-prod-redis-subnets",
    "securityGroupIds": ["sg-0redis00000000000"],
    "snapshotRetentionLimit": 7,
    "tags": TAGS,
}
PAB_T = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
PAB = {
    "bucket": "mlp-prod-artifacts-1a2b3c4",
    "blockPublicAcls": True,
    "blockPublicPolicy": True,
    "ignorePublicAcls": True,
    "restrictPublicBuckets": True,
}
SSE_T = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
SSE = {
    "bucket": "mlp-prod-artifacts-1a2b3c4",
    "rules": [
        {
            "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_ARN},
            "bucketKeyEnabled": True,
        }
    ],
}
VERSIONING_T = "aws:s3/bucketVersioning:BucketVersioning"
VERSIONING = {"bucket": "mlp-prod-artifacts-1a2b3c4", "versioningConfiguration": {"status": "Enabled"}}
BUCKET_ARN = "arn:aws:s3:::mlp-prod-artifacts-1a2b3c4"
TLS_ONLY = {
    "Sid": "DenyInsecureTransport",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
BUCKET_POLICY_T = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_POLICY = {"bucket": "mlp-prod-artifacts-1a2b3c4", "policy": doc(TLS_ONLY)}
LOG_DELIVERY = {
    "Sid": "S3ServerAccessLogs",
    "Effect": "Allow",
    "Principal": {"Service": "logging.s3.amazonaws.com"},
    "Action": "s3:PutObject",
    "Resource": "arn:aws:s3:::mlp-prod-access-logs-9f8e7d6/artifacts/*",
    "Condition": {"ArnLike": {"aws:SourceArn": BUCKET_ARN}, "StringEquals": {"aws:SourceAccount": ACCOUNT}},
}
OWNERSHIP_T = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
OWNERSHIP = {"bucket": "mlp-prod-artifacts-1a2b3c4", "rule": {"objectOwnership": "BucketOwnerEnforced"}}
LIFECYCLE_T = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
LIFECYCLE = {
    "bucket": "mlp-prod-artifacts-1a2b3c4",
    "rules": [
        {
            "id": "abort-incomplete-multipart-uploads",
            "status": "Enabled",
            "filter": {"prefix": ""},
            "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7},
        },
        {
            "id": "expire-noncurrent-versions",
            "status": "Enabled",
            "filter": {"prefix": ""},
            "noncurrentVersionExpiration": {"noncurrentDays": 90},
        },
    ],
}
BUCKET_T = "aws:s3/bucket:Bucket"
BUCKET_ACL_T = "aws:s3/bucketAcl:BucketAcl"
RDS_T = "aws:rds/instance:Instance"
RDS = {
    "engine": "postgres",
    "engineVersion": "16.4",
    "instanceClass": "db.t4g.medium",
    "allocatedStorage": 20,
    "storageEncrypted": True,
    "kmsKeyId": KEY_ARN,
    "dbName": "mlflow",
    "username": "mlflow",
    "password": "mock-0123456789abcdef0123456789abcdef",
    "port": 5432,
    "dbSubnetGroupName": "mlp-prod-db-subnets",
    "vpcSecurityGroupIds": ["sg-0db000000000000000"],
    "parameterGroupName": "mlp-prod-db-params",
    "publiclyAccessible": False,
    "multiAz": True,
    "backupRetentionPeriod": 7,
    "deletionProtection": True,
    "skipFinalSnapshot": False,
    "finalSnapshotIdentifier": "mlp-prod-mlflow-final",
    "tags": TAGS,
}
PARAMS_T = "aws:rds/parameterGroup:ParameterGroup"
PARAMS = {"family": "postgres16", "parameters": [{"name": "rds.force_ssl", "value": "1"}], "tags": TAGS}
IAM_POLICY_T = "aws:iam/rolePolicy:RolePolicy"
MLFLOW_S3 = {
    "Effect": "Allow",
    "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
    "Resource": f"{BUCKET_ARN}/mlflow/*",
}
ROLE_T = "aws:iam/role:Role"
IRSA_TRUST = {
    "Effect": "Allow",
    "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{OIDC}"},
    "Action": "sts:AssumeRoleWithWebIdentity",
    "Condition": {
        "StringEquals": {
            f"{OIDC}:sub": "system:serviceaccount:mlflow:mlflow",
            f"{OIDC}:aud": "sts.amazonaws.com",
        }
    },
}
ROLE = {"assumeRolePolicy": doc(IRSA_TRUST), "description": "IRSA role of mlflow/mlflow", "tags": TAGS}
ATTACHMENT_T = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ECR_T = "aws:ecr/repository:Repository"
ECR = {
    "name": "mlp-prod/inference",
    "imageTagMutability": "IMMUTABLE",
    "imageScanningConfiguration": {"scanOnPush": True},
    "tags": TAGS,
}
KMS_T = "aws:kms/key:Key"
KMS = {
    "description": "Secrets of mlp-prod",
    "enableKeyRotation": True,
    "deletionWindowInDays": 30,
    "policy": '{"Version": "2012-10-17", "Statement": []}',
    "tags": TAGS,
}
LOG_GROUP_T = "aws:cloudwatch/logGroup:LogGroup"
LOG_GROUP = {
    "name": "/aws/eks/mlp-prod/cluster",
    "retentionInDays": 90,
    "kmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "tags": TAGS,
}

AWS_CASES = [
    Case("aws-eks-cluster-enable-private-endpoint", CLUSTER_T, CLUSTER),
    Case(
        "aws-eks-cluster-enable-private-endpoint",
        CLUSTER_T,
        changed(CLUSTER, {"vpcConfig.endpointPrivateAccess": False}),
        "endpointPrivateAccess must be true",
    ),
    Case("aws-eks-cluster-disallow-unrestricted-public-endpoint", CLUSTER_T, CLUSTER),
    Case(
        "aws-eks-cluster-disallow-unrestricted-public-endpoint",
        CLUSTER_T,
        changed(CLUSTER, {"vpcConfig.endpointPublicAccess": True, "vpcConfig.publicAccessCidrs": ["203.0.113.0/24"]}),
        id="restricted-cidrs",
    ),
    Case(
        "aws-eks-cluster-disallow-unrestricted-public-endpoint",
        CLUSTER_T,
        changed(CLUSTER, {"vpcConfig.endpointPublicAccess": DELETE}),
        "open to 0.0.0.0/0",
        id="provider-default-is-public",
    ),
    Case(
        "aws-eks-cluster-disallow-unrestricted-public-endpoint",
        CLUSTER_T,
        changed(CLUSTER, {"vpcConfig.endpointPublicAccess": True, "vpcConfig.publicAccessCidrs": ["0.0.0.0/0"]}),
        "contains 0.0.0.0/0",
    ),
    Case("aws-eks-cluster-enable-secrets-encryption", CLUSTER_T, CLUSTER),
    Case(
        "aws-eks-cluster-enable-secrets-encryption",
        CLUSTER_T,
        changed(CLUSTER, {"encryptionConfig": DELETE}),
        "encryptionConfig is missing",
    ),
    Case(
        "aws-eks-cluster-enable-secrets-encryption",
        CLUSTER_T,
        changed(CLUSTER, {"encryptionConfig.resources": []}),
        "must include 'secrets'",
        id="no-secrets",
    ),
    Case("aws-eks-cluster-enable-control-plane-logging", CLUSTER_T, CLUSTER),
    Case(
        "aws-eks-cluster-enable-control-plane-logging",
        CLUSTER_T,
        changed(CLUSTER, {"enabledClusterLogTypes": ["api", "audit"]}),
        "missing authenticator, controllerManager, scheduler",
    ),
    Case("aws-eks-cluster-configure-api-access-entries", CLUSTER_T, CLUSTER),
    Case(
        "aws-eks-cluster-configure-api-access-entries",
        CLUSTER_T,
        changed(CLUSTER, {"accessConfig.authenticationMode": "CONFIG_MAP"}),
        "must be 'API'",
    ),
    Case("aws-eks-nodegroup-disallow-remote-access", NODE_GROUP_T, NODE_GROUP),
    Case(
        "aws-eks-nodegroup-disallow-remote-access",
        NODE_GROUP_T,
        changed(NODE_GROUP, {"remoteAccess": {"ec2SshKey": "ops"}}),
        "opens SSH",
    ),
    Case("aws-eks-nodegroup-configure-launch-template", NODE_GROUP_T, NODE_GROUP),
    Case(
        "aws-eks-nodegroup-configure-launch-template",
        NODE_GROUP_T,
        changed(NODE_GROUP, {"launchTemplate": DELETE}),
        "launchTemplate (id or name",
    ),
    Case(
        "aws-eks-nodegroup-configure-launch-template",
        NODE_GROUP_T,
        changed(NODE_GROUP, {"launchTemplate.version": DELETE}),
        "launchTemplate.version must be set",
        id="unversioned",
    ),
    Case("aws-eks-addon-enable-vpc-cni-network-policy", ADDON_T, CNI),
    Case(
        "aws-eks-addon-enable-vpc-cni-network-policy",
        ADDON_T,
        changed(CNI, {"addonName": "coredns", "configurationValues": DELETE}),
        id="other-addon",
    ),
    Case(
        "aws-eks-addon-enable-vpc-cni-network-policy",
        ADDON_T,
        changed(CNI, {"configurationValues": DELETE}),
        "enableNetworkPolicy",
    ),
    Case("aws-eks-addon-configure-pinned-version", ADDON_T, CNI),
    Case("aws-eks-addon-configure-pinned-version", ADDON_T, changed(CNI, {"addonVersion": DELETE}), "pin the vpc-cni"),
    Case("aws-ec2-launchtemplate-enable-imdsv2", LAUNCH_TEMPLATE_T, LAUNCH_TEMPLATE),
    Case(
        "aws-ec2-launchtemplate-enable-imdsv2",
        LAUNCH_TEMPLATE_T,
        changed(LAUNCH_TEMPLATE, {"metadataOptions.httpTokens": "optional"}),
        "httpTokens must be 'required'",
    ),
    Case("aws-ec2-launchtemplate-configure-metadata-hop-limit", LAUNCH_TEMPLATE_T, LAUNCH_TEMPLATE),
    Case(
        "aws-ec2-launchtemplate-configure-metadata-hop-limit",
        LAUNCH_TEMPLATE_T,
        changed(LAUNCH_TEMPLATE, {"metadataOptions.httpPutResponseHopLimit": 2}),
        "must be 1 (got 2)",
    ),
    Case(
        "aws-ec2-launchtemplate-configure-metadata-hop-limit",
        LAUNCH_TEMPLATE_T,
        changed(LAUNCH_TEMPLATE, {"metadataOptions.httpPutResponseHopLimit": DELETE}),
        "EKS then uses 2",
        id="unset",
    ),
    Case("aws-ec2-launchtemplate-enable-ebs-encryption", LAUNCH_TEMPLATE_T, LAUNCH_TEMPLATE),
    Case(
        "aws-ec2-launchtemplate-enable-ebs-encryption",
        LAUNCH_TEMPLATE_T,
        changed(LAUNCH_TEMPLATE, {"blockDeviceMappings.0.ebs.encrypted": "false"}),
        "(/dev/xvda) must set ebs.encrypted",
    ),
    Case(
        "aws-ec2-launchtemplate-enable-ebs-encryption",
        LAUNCH_TEMPLATE_T,
        changed(LAUNCH_TEMPLATE, {"blockDeviceMappings": DELETE}),
        "must define the root volume",
        id="ami-default-volume",
    ),
    Case("aws-ec2-launchtemplate-disallow-public-ip", LAUNCH_TEMPLATE_T, LAUNCH_TEMPLATE),
    Case(
        "aws-ec2-launchtemplate-disallow-public-ip",
        LAUNCH_TEMPLATE_T,
        changed(LAUNCH_TEMPLATE, {"networkInterfaces": [{"deviceIndex": 0, "associatePublicIpAddress": "true"}]}),
        "associatePublicIpAddress must not be true",
    ),
    Case("aws-ec2-securitygroup-disallow-public-ingress", SG_T, SG, id="https-open"),
    Case("aws-ec2-securitygroup-disallow-public-ingress", SG_RULE_T, SG_RULE, id="http-open-rule"),
    Case("aws-ec2-securitygroup-disallow-public-ingress", INGRESS_RULE_T, INGRESS_RULE, id="from-node-sg"),
    Case(
        "aws-ec2-securitygroup-disallow-public-ingress",
        SG_T,
        changed(SG, {"ingress": [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}]}),
        "admits 0.0.0.0/0 on tcp 22-22",
    ),
    Case(
        "aws-ec2-securitygroup-disallow-public-ingress",
        SG_T,
        changed(SG, {"ingress": [{"protocol": "-1", "fromPort": 0, "toPort": 0, "ipv6CidrBlocks": ["::/0"]}]}),
        "admits ::/0 on all ports",
        id="all-ipv6",
    ),
    Case(
        "aws-ec2-securitygroup-disallow-public-ingress",
        SG_RULE_T,
        changed(SG_RULE, {"fromPort": 0, "toPort": 65535}),
        "tcp 0-65535",
        id="rule-range",
    ),
    Case(
        "aws-ec2-securitygroup-disallow-public-ingress",
        INGRESS_RULE_T,
        changed(INGRESS_RULE, {"referencedSecurityGroupId": DELETE, "cidrIpv4": "0.0.0.0/0"}),
        "admits 0.0.0.0/0 on tcp 6379-6379",
        id="vpc-rule",
    ),
    Case(
        "aws-ec2-securitygroup-disallow-public-ingress",
        SG_RULE_T,
        changed(SG_RULE, {"fromPort": 8443, "toPort": 8443}),
        config={"allowedPublicPorts": [443, 8443]},
        id="configured-port",
    ),
    Case("aws-ec2-defaultsecuritygroup-disallow-rules", DEFAULT_SG_T, {"vpcId": "vpc-1", "ingress": [], "egress": []}),
    Case(
        "aws-ec2-defaultsecuritygroup-disallow-rules",
        DEFAULT_SG_T,
        {
            "vpcId": "vpc-1",
            "ingress": [],
            "egress": [{"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}],
        },
        "egress must be empty",
    ),
    Case("aws-ec2-subnet-disallow-public-ip-on-launch", SUBNET_T, SUBNET),
    Case(
        "aws-ec2-subnet-disallow-public-ip-on-launch",
        SUBNET_T,
        changed(SUBNET, {"mapPublicIpOnLaunch": True}),
        "mapPublicIpOnLaunch must be false",
    ),
    Case("aws-ec2-flowlog-configure-traffic-type", FLOW_LOG_T, FLOW_LOG),
    Case(
        "aws-ec2-flowlog-configure-traffic-type",
        FLOW_LOG_T,
        changed(FLOW_LOG, {"trafficType": "ACCEPT"}),
        "must be ALL or REJECT (got 'ACCEPT')",
    ),
    Case("aws-elasticache-replicationgroup-enable-transit-encryption", REDIS_T, REDIS),
    Case(
        "aws-elasticache-replicationgroup-enable-transit-encryption",
        REDIS_T,
        changed(REDIS, {"transitEncryptionEnabled": False, "transitEncryptionMode": DELETE}),
        "transitEncryptionEnabled must be true",
    ),
    Case(
        "aws-elasticache-replicationgroup-enable-transit-encryption",
        REDIS_T,
        changed(REDIS, {"transitEncryptionMode": "preferred"}),
        "'preferred' still accepts plaintext",
        id="preferred",
    ),
    Case("aws-elasticache-replicationgroup-enable-at-rest-encryption", REDIS_T, REDIS),
    Case(
        "aws-elasticache-replicationgroup-enable-at-rest-encryption",
        REDIS_T,
        changed(REDIS, {"kmsKeyId": DELETE}),
        "kmsKeyId must name a customer-managed KMS key",
    ),
    Case("aws-elasticache-replicationgroup-enable-auth-token", REDIS_T, REDIS),
    Case(
        "aws-elasticache-replicationgroup-enable-auth-token",
        REDIS_T,
        changed(REDIS, {"authToken": DELETE, "userGroupIds": ["mlp-prod-users"]}),
        id="rbac",
    ),
    Case(
        "aws-elasticache-replicationgroup-enable-auth-token",
        REDIS_T,
        changed(REDIS, {"authToken": DELETE}),
        "Redis must require AUTH",
    ),
    Case("aws-elasticache-replicationgroup-enable-automatic-failover", REDIS_T, REDIS),
    Case(
        "aws-elasticache-replicationgroup-enable-automatic-failover",
        REDIS_T,
        changed(REDIS, {"numCacheClusters": 1, "automaticFailoverEnabled": False, "multiAzEnabled": False}),
        "numCacheClusters must be >= 2 (got 1)",
    ),
    Case("aws-elasticache-replicationgroup-configure-snapshot-retention", REDIS_T, REDIS),
    Case(
        "aws-elasticache-replicationgroup-configure-snapshot-retention",
        REDIS_T,
        changed(REDIS, {"snapshotRetentionLimit": 0}),
        "snapshotRetentionLimit must be >= 1 (got 0)",
    ),
    Case("aws-elasticache-replicationgroup-configure-subnet-group", REDIS_T, REDIS),
    Case(
        "aws-elasticache-replicationgroup-configure-subnet-group",
        REDIS_T,
        changed(REDIS, {"subnetGroupName": DELETE, "securityGroupIds": DELETE}),
        "default security group",
    ),
    Case("aws-s3-bucketpublicaccessblock-enable-all-flags", PAB_T, PAB),
    Case(
        "aws-s3-bucketpublicaccessblock-enable-all-flags",
        PAB_T,
        changed(PAB, {"restrictPublicBuckets": False}),
        "restrictPublicBuckets must be true",
    ),
    Case("aws-s3-bucketserversideencryptionconfiguration-enable-bucket-key", SSE_T, SSE),
    Case(
        "aws-s3-bucketserversideencryptionconfiguration-enable-bucket-key",
        SSE_T,
        changed(SSE, {"rules.0.bucketKeyEnabled": False}),
        "bucketKeyEnabled must be true with aws:kms",
    ),
    Case(
        "aws-s3-bucketserversideencryptionconfiguration-enable-bucket-key",
        SSE_T,
        changed(SSE, {"rules": []}),
        "must set applyServerSideEncryptionByDefault",
        id="no-rule",
    ),
    Case("aws-s3-bucketversioning-enable-versioning", VERSIONING_T, VERSIONING),
    Case(
        "aws-s3-bucketversioning-enable-versioning",
        VERSIONING_T,
        changed(VERSIONING, {"versioningConfiguration.status": "Suspended"}),
        "got 'Suspended'",
    ),
    Case("aws-s3-bucketpolicy-enable-tls-only", BUCKET_POLICY_T, BUCKET_POLICY),
    Case(
        "aws-s3-bucketpolicy-enable-tls-only",
        BUCKET_POLICY_T,
        changed(BUCKET_POLICY, {"policy": doc(LOG_DELIVERY)}),
        "needs a Deny of s3:*",
    ),
    Case(
        "aws-s3-bucketpolicy-enable-tls-only",
        BUCKET_POLICY_T,
        changed(BUCKET_POLICY, {"policy": doc({**TLS_ONLY, "Condition": {"Bool": {"aws:SecureTransport": "true"}}})}),
        "needs a Deny of s3:*",
        id="inverted-condition",
    ),
    Case(
        "aws-s3-bucketpolicy-disallow-public-principal",
        BUCKET_POLICY_T,
        changed(BUCKET_POLICY, {"policy": doc(TLS_ONLY, LOG_DELIVERY)}),
    ),
    Case(
        "aws-s3-bucketpolicy-disallow-public-principal",
        BUCKET_POLICY_T,
        changed(
            BUCKET_POLICY,
            {
                "policy": doc(
                    TLS_ONLY, {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject", "Resource": "*"}
                )
            },
        ),
        'Statement[1] allows s3:GetObject to Principal "*"',
    ),
    Case("aws-s3-bucketownershipcontrols-configure-bucket-owner-enforced", OWNERSHIP_T, OWNERSHIP),
    Case(
        "aws-s3-bucketownershipcontrols-configure-bucket-owner-enforced",
        OWNERSHIP_T,
        changed(OWNERSHIP, {"rule.objectOwnership": "ObjectWriter"}),
        "got 'ObjectWriter'",
    ),
    Case("aws-s3-bucketlifecycleconfiguration-configure-abort-multipart", LIFECYCLE_T, LIFECYCLE),
    Case(
        "aws-s3-bucketlifecycleconfiguration-configure-abort-multipart",
        LIFECYCLE_T,
        changed(LIFECYCLE, {"rules.0.status": "Disabled"}),
        "abortIncompleteMultipartUpload",
    ),
    Case("aws-s3-bucket-disallow-public-acl", BUCKET_T, {"tags": TAGS}),
    Case(
        "aws-s3-bucket-disallow-public-acl", BUCKET_T, {"acl": "public-read", "tags": TAGS}, "makes the bucket public"
    ),
    Case(
        "aws-s3-bucket-disallow-public-acl",
        BUCKET_ACL_T,
        {
            "bucket": "mlp-prod-artifacts-1a2b3c4",
            "accessControlPolicy": {
                "owner": {"id": "abc"},
                "grants": [
                    {
                        "permission": "READ",
                        "grantee": {"type": "Group", "uri": "http://acs.amazonaws.com/groups/global/AllUsers"},
                    }
                ],
            },
        },
        "grants READ to http://acs.amazonaws.com/groups/global/AllUsers",
        id="grant",
    ),
    Case("aws-rds-instance-enable-storage-encryption", RDS_T, RDS),
    Case(
        "aws-rds-instance-enable-storage-encryption",
        RDS_T,
        changed(RDS, {"storageEncrypted": False}),
        "storageEncrypted must be true",
    ),
    Case("aws-rds-instance-configure-backup-retention", RDS_T, RDS),
    Case(
        "aws-rds-instance-configure-backup-retention",
        RDS_T,
        changed(RDS, {"backupRetentionPeriod": 1}),
        "must be >= 7 (got 1)",
    ),
    Case(
        "aws-rds-instance-configure-backup-retention",
        RDS_T,
        RDS,
        "must be >= 14 (got 7)",
        config={"minimumDays": 14},
        id="configured-minimum",
    ),
    Case("aws-rds-instance-enable-deletion-protection", RDS_T, RDS),
    Case(
        "aws-rds-instance-enable-deletion-protection",
        RDS_T,
        changed(RDS, {"deletionProtection": False}),
        "deletionProtection must be true",
    ),
    Case("aws-rds-instance-configure-final-snapshot", RDS_T, RDS),
    Case(
        "aws-rds-instance-configure-final-snapshot",
        RDS_T,
        changed(RDS, {"skipFinalSnapshot": True, "finalSnapshotIdentifier": DELETE}),
        "skipFinalSnapshot must be false",
    ),
    Case(
        "aws-rds-instance-configure-final-snapshot",
        RDS_T,
        changed(RDS, {"finalSnapshotIdentifier": DELETE}),
        "finalSnapshotIdentifier must be set",
        id="no-identifier",
    ),
    Case("aws-rds-instance-disallow-public-access", RDS_T, RDS),
    Case(
        "aws-rds-instance-disallow-public-access",
        RDS_T,
        changed(RDS, {"publiclyAccessible": True}),
        "publiclyAccessible must be false",
    ),
    Case("aws-rds-instance-enable-multi-az", RDS_T, RDS),
    Case("aws-rds-instance-enable-multi-az", RDS_T, changed(RDS, {"multiAz": False}), "multiAz must be true"),
    Case("aws-rds-instance-configure-subnet-group", RDS_T, RDS),
    Case(
        "aws-rds-instance-configure-subnet-group",
        RDS_T,
        changed(RDS, {"dbSubnetGroupName": DELETE}),
        "dbSubnetGroupName must name a subnet group",
    ),
    Case("aws-rds-parametergroup-enable-force-ssl", PARAMS_T, PARAMS),
    Case(
        "aws-rds-parametergroup-enable-force-ssl",
        PARAMS_T,
        changed(PARAMS, {"parameters": [{"name": "rds.force_ssl", "value": "0"}]}),
        "rds.force_ssl = 1",
    ),
    Case("aws-iam-policy-disallow-wildcard-actions", IAM_POLICY_T, {"role": "mlflow", "policy": doc(MLFLOW_S3)}),
    Case(
        "aws-iam-policy-disallow-wildcard-actions",
        IAM_POLICY_T,
        {"role": "mlflow", "policy": doc({**MLFLOW_S3, "Action": "s3:*"})},
        "allows 's3:*'",
    ),
    Case(
        "aws-iam-policy-disallow-wildcard-actions",
        "aws:iam/policy:Policy",
        {"policy": doc({"Effect": "Allow", "Action": "*", "Resource": "*"})},
        "allows '*'",
        id="admin",
    ),
    Case(
        "aws-iam-policy-disallow-wildcard-actions",
        "aws:iam/policy:Policy",
        {"policy": doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})},
        "NotAction",
        id="not-action",
    ),
    Case(
        "aws-iam-policy-disallow-wildcard-actions",
        ROLE_T,
        changed(
            ROLE,
            {
                "inlinePolicies": [
                    {"name": "all", "policy": doc({"Effect": "Allow", "Action": "ec2:*", "Resource": "*"})}
                ]
            },
        ),
        "inline policy all Statement[0] allows 'ec2:*'",
        id="role-inline",
    ),
    Case(
        "aws-iam-policy-disallow-wildcard-actions",
        IAM_POLICY_T,
        {"role": "x", "policy": doc({"Effect": "Deny", "Action": "s3:*", "Resource": "*"})},
        id="deny-wildcard",
    ),
    Case(
        "aws-iam-role-disallow-admin-policies",
        ATTACHMENT_T,
        {"role": "mlp-prod-node-role", "policyArn": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"},
    ),
    Case(
        "aws-iam-role-disallow-admin-policies",
        ATTACHMENT_T,
        {"role": "mlp-prod-node-role", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
        "grants administrator rights",
    ),
    Case(
        "aws-iam-role-disallow-admin-policies",
        ROLE_T,
        changed(ROLE, {"managedPolicyArns": ["arn:aws:iam::aws:policy/PowerUserAccess"]}),
        "PowerUserAccess grants administrator rights",
        id="managed-arns",
    ),
    Case("aws-iam-role-configure-trusted-principals", ROLE_T, ROLE),
    Case(
        "aws-iam-role-configure-trusted-principals",
        ROLE_T,
        changed(
            ROLE,
            {
                "assumeRolePolicy": doc(
                    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
                )
            },
        ),
        id="service",
    ),
    Case(
        "aws-iam-role-configure-trusted-principals",
        ROLE_T,
        changed(
            ROLE, {"assumeRolePolicy": doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})}
        ),
        'lets any principal ("*") assume the role',
    ),
    Case(
        "aws-iam-role-configure-trusted-principals",
        ROLE_T,
        changed(
            ROLE,
            {
                "assumeRolePolicy": doc(
                    {**IRSA_TRUST, "Condition": {"StringLike": {f"{OIDC}:sub": "system:serviceaccount:mlflow:*"}}}
                )
            },
        ),
        "uses StringLike",
        id="irsa-wildcard-subject",
    ),
    Case(
        "aws-iam-role-configure-trusted-principals",
        ROLE_T,
        changed(
            ROLE,
            {
                "assumeRolePolicy": doc(
                    {
                        **IRSA_TRUST,
                        "Condition": {"StringEquals": {f"{OIDC}:sub": "system:serviceaccount:mlflow:mlflow"}},
                    }
                )
            },
        ),
        "aud with StringEquals to sts.amazonaws.com",
        id="irsa-no-audience",
    ),
    Case("aws-ecr-repository-enable-immutable-tags", ECR_T, ECR),
    Case(
        "aws-ecr-repository-enable-immutable-tags",
        ECR_T,
        changed(ECR, {"imageTagMutability": DELETE}),
        "got 'MUTABLE'",
    ),
    Case("aws-ecr-repository-enable-scan-on-push", ECR_T, ECR),
    Case(
        "aws-ecr-repository-enable-scan-on-push",
        ECR_T,
        changed(ECR, {"imageScanningConfiguration": DELETE}),
        "scanOnPush must be true",
    ),
    Case("aws-kms-key-enable-rotation", KMS_T, KMS),
    Case(
        "aws-kms-key-enable-rotation",
        KMS_T,
        changed(KMS, {"enableKeyRotation": DELETE, "customerMasterKeySpec": "RSA_2048", "keyUsage": "SIGN_VERIFY"}),
        id="asymmetric",
    ),
    Case(
        "aws-kms-key-enable-rotation",
        KMS_T,
        changed(KMS, {"enableKeyRotation": False}),
        "enableKeyRotation must be true",
    ),
    Case("aws-kms-key-configure-key-policy", KMS_T, KMS),
    Case("aws-kms-key-configure-key-policy", KMS_T, changed(KMS, {"policy": DELETE}), "policy must be set"),
    Case("aws-cloudwatch-loggroup-enable-kms-encryption", LOG_GROUP_T, LOG_GROUP),
    Case(
        "aws-cloudwatch-loggroup-enable-kms-encryption",
        LOG_GROUP_T,
        changed(LOG_GROUP, {"kmsKeyId": DELETE}),
        "kmsKeyId must name a KMS key",
    ),
    Case("aws-cloudwatch-loggroup-configure-retention", LOG_GROUP_T, LOG_GROUP),
    Case(
        "aws-cloudwatch-loggroup-configure-retention",
        LOG_GROUP_T,
        changed(LOG_GROUP, {"retentionInDays": DELETE}),
        "retentionInDays must be set",
    ),
    Case("aws-tagging-resource-configure-required-tags", RDS_T, RDS),
    Case(
        "aws-tagging-resource-configure-required-tags",
        RDS_T,
        changed(RDS, {"tags": {"Name": "db"}}),
        id="provider-default-tags",
        provider={
            "region": "us-east-1",
            "defaultTags": json.dumps({"tags": {"Project": "mlp", "Environment": "dev", "ManagedBy": "pulumi"}}),
        },
    ),
    Case(
        "aws-tagging-resource-configure-required-tags",
        KMS_T,
        changed(KMS, {"tags": {"Project": "mlp", "Name": "k"}}),
        "tags must include Environment, ManagedBy",
    ),
    Case(
        "aws-tagging-resource-configure-required-tags",
        KMS_T,
        changed(KMS, {"tags": DELETE}),
        "tags must include Project, Environment, ManagedBy",
        id="untagged",
    ),
]


# -------------------------------------------------------------------------------------- Kubernetes

DEPLOYMENT_T = "kubernetes:apps/v1:Deployment"
CRON_JOB_T = "kubernetes:batch/v1:CronJob"
NAMESPACE_T = "kubernetes:core/v1:Namespace"
SERVICE_T = "kubernetes:core/v1:Service"
INGRESS_T = "kubernetes:networking.k8s.io/v1:Ingress"
NETPOL_T = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
PDB_T = "kubernetes:policy/v1:PodDisruptionBudget"
HPA_T = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
RELEASE_T = "kubernetes:helm.sh/v3:Release"

LABELS = {"app.kubernetes.io/name": "inference", "app.kubernetes.io/part-of": "mlp"}
CERTIFICATE_ARN = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/1a2b3c4d-0000-1111-2222-333344445555"
IMAGE = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/mlp-prod/inference:1.4.2"
RESOURCES = {"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "256Mi"}
CONTAINER = {
    "name": "inference",
    "image": IMAGE,
    "imagePullPolicy": "IfNotPresent",
    "ports": [{"name": "http", "containerPort": 8000, "protocol": "TCP"}],
    "securityContext": {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    },
    "resources": {"requests": RESOURCES, "limits": {**RESOURCES, "cpu": "2"}},
    "startupProbe": {"httpGet": {"path": "/health/live", "port": "http"}, "periodSeconds": 5, "failureThreshold": 60},
    "readinessProbe": {"httpGet": {"path": "/health/ready", "port": "http"}, "periodSeconds": 5},
    "livenessProbe": {"httpGet": {"path": "/health/live", "port": "http"}, "periodSeconds": 10},
    "lifecycle": {"preStop": {"exec": {"command": ["sleep", "10"]}}},
    "env": [{"name": "INFERENCE_MODEL_NAME", "valueFrom": {"configMapKeyRef": {"name": "inference", "key": "model"}}}],
    "volumeMounts": [
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "secrets", "mountPath": "/var/run/secrets/platform", "readOnly": True},
    ],
}
POD_SPEC: dict[str, Any] = {
    "serviceAccountName": "inference",
    "automountServiceAccountToken": False,
    "terminationGracePeriodSeconds": 45,
    "securityContext": {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    },
    "containers": [CONTAINER],
    "volumes": [
        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
        {"name": "secrets", "secret": {"secretName": "inference"}},
    ],
    "topologySpreadConstraints": [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": LABELS},
        },
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": LABELS},
        },
    ],
}
DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "inference", "namespace": "inference", "labels": LABELS},
    "spec": {
        "selector": {"matchLabels": LABELS},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "template": {"metadata": {"labels": LABELS}, "spec": POD_SPEC},
    },
}
C = "spec.template.spec.containers.0."
POD = "spec.template.spec."
CRON_JOB = {
    "apiVersion": "batch/v1",
    "kind": "CronJob",
    "metadata": {"name": "train", "namespace": "training"},
    "spec": {
        "schedule": "0 3 * * *",
        "jobTemplate": {
            "spec": {
                "template": {
                    "spec": {
                        **{k: v for k, v in POD_SPEC.items() if k != "topologySpreadConstraints"},
                        "restartPolicy": "Never",
                        "serviceAccountName": "training",
                        "containers": [{**CONTAINER, "name": "train", "image": IMAGE.replace("inference", "training")}],
                    }
                }
            }
        },
    },
}
JOB_C = "spec.jobTemplate.spec.template.spec.containers.0."
NAMESPACE = {
    "apiVersion": "v1",
    "kind": "Namespace",
    "metadata": {
        "name": "inference",
        "labels": {
            "pod-security.kubernetes.io/enforce": "restricted",
            "elbv2.k8s.aws/pod-readiness-gate-inject": "enabled",
        },
    },
}
SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "inference", "namespace": "inference"},
    "spec": {"type": "ClusterIP", "selector": LABELS, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
}
ALB_ANNOTATIONS = {
    "alb.ingress.kubernetes.io/scheme": "internet-facing",
    "alb.ingress.kubernetes.io/target-type": "ip",
    "alb.ingress.kubernetes.io/healthcheck-path": "/health/ready",
    "alb.ingress.kubernetes.io/listen-ports": json.dumps([{"HTTP": 80}, {"HTTPS": 443}]),
    "alb.ingress.kubernetes.io/certificate-arn": CERTIFICATE_ARN,
    "alb.ingress.kubernetes.io/ssl-policy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "alb.ingress.kubernetes.io/ssl-redirect": "443",
    "alb.ingress.kubernetes.io/load-balancer-attributes": ",".join(
        [
            "routing.http.drop_invalid_header_fields.enabled=true",
            "routing.http.desync_mitigation_mode=defensive",
            "deletion_protection.enabled=true",
            "access_logs.s3.enabled=true",
            "access_logs.s3.bucket=mlp-prod-alb-logs",
            "access_logs.s3.prefix=inference",
        ]
    ),
}
INGRESS = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "Ingress",
    "metadata": {"name": "inference", "namespace": "inference", "annotations": ALB_ANNOTATIONS},
    "spec": {
        "ingressClassName": "alb",
        "rules": [
            {
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "inference", "port": {"name": "http"}}},
                        }
                    ]
                }
            }
        ],
    },
}


def ingress(**annotations: str | None) -> dict[str, Any]:
    """The inference Ingress with ALB annotations changed (None removes one); keys without the prefix."""
    merged = dict(ALB_ANNOTATIONS)
    for key, value in annotations.items():
        full = "alb.ingress.kubernetes.io/" + key.replace("_", "-")
        if value is None:
            merged.pop(full, None)
        else:
            merged[full] = value
    return changed(INGRESS, {"metadata.annotations": merged})


def lb_attributes(**attributes: str | None) -> str:
    current = dict(
        pair.split("=", 1) for pair in ALB_ANNOTATIONS["alb.ingress.kubernetes.io/load-balancer-attributes"].split(",")
    )
    for key, value in attributes.items():
        full = key.replace("__", ".")
        if value is None:
            current.pop(full, None)
        else:
            current[full] = value
    return ",".join(f"{k}={v}" for k, v in current.items())


NETPOL = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "inference-allow", "namespace": "inference"},
    "spec": {
        "podSelector": {"matchLabels": LABELS},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [{"ipBlock": {"cidr": "10.30.0.0/16"}}], "ports": [{"port": 8000, "protocol": "TCP"}]}],
        "egress": [
            {
                "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mlflow"}}}],
                "ports": [{"port": 5000}],
            },
            {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
            {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443, "protocol": "TCP"}]},
        ],
    },
}
PDB = {
    "apiVersion": "policy/v1",
    "kind": "PodDisruptionBudget",
    "metadata": {"name": "inference", "namespace": "inference"},
    "spec": {"maxUnavailable": 1, "selector": {"matchLabels": LABELS}, "unhealthyPodEvictionPolicy": "AlwaysAllow"},
}
HPA = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "inference", "namespace": "inference"},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "inference"},
        "minReplicas": 2,
        "maxReplicas": 10,
        "metrics": [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
            }
        ],
    },
}
LB_CONTROLLER = {
    "name": "aws-load-balancer-controller",
    "chart": "aws-load-balancer-controller",
    "version": "1.14.1",
    "repositoryOpts": {"repo": "https://aws.github.io/eks-charts"},
    "namespace": "kube-system",
    "values": {
        "clusterName": "mlp-prod",
        "region": "us-east-1",
        "vpcId": "vpc-0a1b2c3d4e5f60718",
        "serviceAccount": {
            "create": True,
            "name": "aws-load-balancer-controller",
            "annotations": {"eks.amazonaws.com/role-arn": f"arn:aws:iam::{ACCOUNT}:role/mlp-prod-lb-controller"},
        },
    },
}

KUBERNETES_CASES = [
    Case("kubernetes-core-podspec-enable-run-as-non-root", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-core-podspec-enable-run-as-non-root",
        DEPLOYMENT_T,
        changed(
            DEPLOYMENT,
            {
                C + "securityContext.runAsUser": 0,
                POD + "securityContext.runAsNonRoot": False,
                C + "securityContext.runAsNonRoot": DELETE,
            },
        ),
        "runAsNonRoot must be true",
    ),
    Case(
        "kubernetes-core-podspec-enable-run-as-non-root",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {C + "securityContext.runAsUser": 1000}),
        "runAsUser must be >= 10000 (got 1000)",
        id="low-uid",
    ),
    Case(
        "kubernetes-core-podspec-enable-run-as-non-root",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {C + "securityContext.runAsUser": DELETE}),
        id="uid-from-pod",
    ),
    Case(
        "kubernetes-core-podspec-enable-run-as-non-root",
        CRON_JOB_T,
        changed(
            CRON_JOB,
            {
                "spec.jobTemplate.spec.template.spec.securityContext.runAsUser": DELETE,
                JOB_C + "securityContext.runAsUser": DELETE,
            },
        ),
        "container train: securityContext.runAsUser must be >= 10000 (got unset)",
        id="cronjob",
    ),
    Case("kubernetes-core-podspec-enable-read-only-root-filesystem", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-core-podspec-enable-read-only-root-filesystem",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {C + "securityContext.readOnlyRootFilesystem": False}),
        "container inference: securityContext.readOnlyRootFilesystem must be true",
    ),
    Case("kubernetes-core-podspec-disallow-privilege-escalation", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-core-podspec-disallow-privilege-escalation",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {C + "securityContext.allowPrivilegeEscalation": DELETE}),
        "allowPrivilegeEscalation must be false",
    ),
    Case(
        "kubernetes-core-podspec-disallow-privilege-escalation",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {C + "securityContext.privileged": True}),
        "privileged must not be true",
        id="privileged",
    ),
    Case("kubernetes-core-podspec-configure-drop-all-capabilities", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-core-podspec-configure-drop-all-capabilities",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {C + "securityContext.capabilities": {"drop": ["NET_RAW"], "add": ["SYS_ADMIN"]}}),
        "capabilities.add must be empty (got ['SYS_ADMIN'])",
    ),
    Case("kubernetes-core-podspec-configure-seccomp-runtime-default", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-core-podspec-configure-seccomp-runtime-default",
        DEPLOYMENT_T,
        changed(
            DEPLOYMENT,
            {
                C + "securityContext.seccompProfile": DELETE,
                POD + "securityContext.seccompProfile": {"type": "Unconfined"},
            },
        ),
        "(got 'Unconfined')",
    ),
    Case("kubernetes-core-podspec-disallow-host-access", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-core-podspec-disallow-host-access",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {POD + "hostNetwork": True}),
        "hostNetwork must not be true",
    ),
    Case(
        "kubernetes-core-podspec-disallow-host-access",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {POD + "volumes": [{"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}}]}),
        "volume docker mounts a hostPath",
        id="host-path",
    ),
    Case("kubernetes-core-podspec-configure-resources", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-core-podspec-configure-resources",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {C + "resources.limits": {"memory": "1Gi"}}),
        "resources.limits must set cpu, ephemeral-storage",
    ),
    Case("kubernetes-core-podspec-configure-probes", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-core-podspec-configure-probes",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {C + "startupProbe": DELETE}),
        "startupProbe must be set",
    ),
    Case(
        "kubernetes-core-podspec-configure-probes",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {C + "livenessProbe": CONTAINER["readinessProbe"]}),
        "livenessProbe must differ from readinessProbe",
        id="identical",
    ),
    Case("kubernetes-core-podspec-disallow-latest-image", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-core-podspec-disallow-latest-image",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {C + "image": f"{IMAGE.split(':')[0]}@sha256:{'a' * 64}"}),
        id="digest",
    ),
    Case(
        "kubernetes-core-podspec-disallow-latest-image",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {C + "image": "localhost:5000/mlp/inference"}),
        "has no tag (means latest)",
        id="registry-port-no-tag",
    ),
    Case(
        "kubernetes-core-podspec-disallow-latest-image",
        CRON_JOB_T,
        changed(CRON_JOB, {JOB_C + "image": "ghcr.io/mlp/training:latest"}),
        "uses the latest tag",
    ),
    Case("kubernetes-core-podspec-disallow-secrets-in-env", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-core-podspec-disallow-secrets-in-env",
        DEPLOYMENT_T,
        changed(
            DEPLOYMENT,
            {C + "env": [{"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "redis", "key": "token"}}}]},
        ),
        "env REDIS_PASSWORD comes from a Secret",
    ),
    Case(
        "kubernetes-core-podspec-disallow-secrets-in-env",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {C + "envFrom": [{"secretRef": {"name": "mlflow-db"}}]}),
        "envFrom loads Secret mlflow-db",
        id="env-from",
    ),
    Case("kubernetes-core-podspec-configure-dedicated-service-account", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-core-podspec-configure-dedicated-service-account",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {POD + "serviceAccountName": DELETE}),
        "dedicated ServiceAccount (not default)",
    ),
    Case("kubernetes-core-podspec-disallow-token-automount", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-core-podspec-disallow-token-automount",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {POD + "automountServiceAccountToken": DELETE}),
        "automountServiceAccountToken must be false",
    ),
    Case("kubernetes-core-podspec-configure-topology-spread", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-core-podspec-configure-topology-spread",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {POD + "topologySpreadConstraints": [POD_SPEC["topologySpreadConstraints"][1]]}),
        "must spread over topology.kubernetes.io/zone",
    ),
    Case("kubernetes-core-podspec-configure-graceful-shutdown", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-core-podspec-configure-graceful-shutdown",
        DEPLOYMENT_T,
        changed(
            DEPLOYMENT,
            {C + "lifecycle": {"preStop": {"sleep": {"seconds": 15}}}, POD + "terminationGracePeriodSeconds": DELETE},
        ),
        id="native-sleep-default-grace",
    ),
    Case(
        "kubernetes-core-podspec-configure-graceful-shutdown",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {C + "lifecycle": DELETE}),
        "lifecycle.preStop must sleep",
    ),
    Case(
        "kubernetes-core-podspec-configure-graceful-shutdown",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {C + "lifecycle.preStop.exec.command": ["/bin/sh", "-c", "sleep 60"]}),
        "terminationGracePeriodSeconds (45) must exceed the preStop sleep (60s)",
        id="grace-too-short",
    ),
    Case("kubernetes-apps-deployment-configure-rolling-update", DEPLOYMENT_T, DEPLOYMENT),
    Case(
        "kubernetes-apps-deployment-configure-rolling-update",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {"spec.strategy": DELETE}),
        "maxUnavailable must be 0 (the default is 25%)",
    ),
    Case(
        "kubernetes-apps-deployment-configure-rolling-update",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {"spec.strategy": {"type": "Recreate"}}),
        "got 'Recreate'",
        id="recreate",
    ),
    Case("kubernetes-networking-ingress-enable-https", INGRESS_T, INGRESS),
    Case(
        "kubernetes-networking-ingress-enable-https",
        INGRESS_T,
        ingress(listen_ports=json.dumps([{"HTTP": 80}]), certificate_arn=None, ssl_redirect=None),
        'listen-ports must include {"HTTPS": 443}',
    ),
    Case(
        "kubernetes-networking-ingress-enable-https",
        INGRESS_T,
        ingress(ssl_redirect=None),
        "ssl-redirect must be '443'",
        id="no-redirect",
    ),
    Case(
        "kubernetes-networking-ingress-enable-https",
        INGRESS_T,
        changed(ingress(listen_ports=None), {"spec.ingressClassName": "nginx"}),
        id="not-alb",
    ),
    Case("kubernetes-networking-ingress-configure-tls-policy", INGRESS_T, INGRESS),
    Case(
        "kubernetes-networking-ingress-configure-tls-policy",
        INGRESS_T,
        ingress(ssl_policy="ELBSecurityPolicy-TLS13-1-0-2021-06"),
        "must be a TLS 1.3 policy",
    ),
    Case("kubernetes-networking-ingress-enable-drop-invalid-headers", INGRESS_T, INGRESS),
    Case(
        "kubernetes-networking-ingress-enable-drop-invalid-headers",
        INGRESS_T,
        ingress(load_balancer_attributes=lb_attributes(routing__http__drop_invalid_header_fields__enabled=None)),
        "drop_invalid_header_fields.enabled=true",
    ),
    Case("kubernetes-networking-ingress-configure-desync-mitigation", INGRESS_T, INGRESS),
    Case(
        "kubernetes-networking-ingress-configure-desync-mitigation",
        INGRESS_T,
        ingress(load_balancer_attributes=lb_attributes(routing__http__desync_mitigation_mode="monitor")),
        "must be defensive (got monitor)",
    ),
    Case("kubernetes-networking-ingress-enable-access-logs", INGRESS_T, INGRESS),
    Case(
        "kubernetes-networking-ingress-enable-access-logs",
        INGRESS_T,
        ingress(load_balancer_attributes=lb_attributes(access_logs__s3__enabled=None, access_logs__s3__bucket=None)),
        "access_logs.s3.enabled=true",
    ),
    Case("kubernetes-networking-ingress-enable-deletion-protection", INGRESS_T, INGRESS),
    Case(
        "kubernetes-networking-ingress-enable-deletion-protection",
        INGRESS_T,
        ingress(load_balancer_attributes=lb_attributes(deletion_protection__enabled="false")),
        "deletion_protection.enabled=true",
    ),
    Case("kubernetes-networking-ingress-configure-ip-targets", INGRESS_T, INGRESS),
    Case(
        "kubernetes-networking-ingress-configure-ip-targets",
        INGRESS_T,
        ingress(target_type="instance"),
        "target-type must be 'ip'",
    ),
    Case("kubernetes-networking-ingress-disallow-internet-facing", INGRESS_T, INGRESS),
    Case(
        "kubernetes-networking-ingress-disallow-internet-facing",
        INGRESS_T,
        changed(INGRESS, {"spec.rules.0.http.paths.0.backend.service.name": "mlflow"}),
        "routes to Service mlflow",
    ),
    Case(
        "kubernetes-networking-ingress-disallow-internet-facing",
        INGRESS_T,
        changed(ingress(scheme="internal"), {"spec.rules.0.http.paths.0.backend.service.name": "mlflow"}),
        id="internal-mlflow",
    ),
    Case("kubernetes-networking-networkpolicy-disallow-unrestricted-peers", NETPOL_T, NETPOL),
    Case(
        "kubernetes-networking-networkpolicy-disallow-unrestricted-peers",
        NETPOL_T,
        changed(NETPOL, {"spec.ingress": [{"ports": [{"port": 8000}]}]}),
        "spec.ingress[0] has no 'from': it admits any source",
    ),
    Case(
        "kubernetes-networking-networkpolicy-disallow-unrestricted-peers",
        NETPOL_T,
        changed(NETPOL, {"spec.egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]}),
        "allows egress to 0.0.0.0/0 on every port",
        id="egress-anywhere",
    ),
    Case("kubernetes-core-service-disallow-external-types", SERVICE_T, SERVICE),
    Case(
        "kubernetes-core-service-disallow-external-types",
        SERVICE_T,
        changed(SERVICE, {"spec.type": "LoadBalancer"}),
        "spec.type LoadBalancer exposes the Service",
    ),
    Case("kubernetes-core-namespace-configure-pod-security-restricted", NAMESPACE_T, NAMESPACE),
    Case(
        "kubernetes-core-namespace-configure-pod-security-restricted",
        NAMESPACE_T,
        changed(NAMESPACE, {"metadata.labels": {"pod-security.kubernetes.io/enforce": "baseline"}}),
        "must be 'restricted' (got 'baseline')",
    ),
    Case("kubernetes-core-resource-disallow-default-namespace", SERVICE_T, SERVICE),
    Case(
        "kubernetes-core-resource-disallow-default-namespace",
        SERVICE_T,
        changed(SERVICE, {"metadata.namespace": DELETE}),
        id="provider-namespace",
        provider={"kubeconfig": "{}", "namespace": "inference"},
    ),
    Case(
        "kubernetes-core-resource-disallow-default-namespace",
        DEPLOYMENT_T,
        changed(DEPLOYMENT, {"metadata.namespace": DELETE}),
        "it is 'default' or unset",
    ),
    Case("kubernetes-autoscaling-hpa-configure-min-replicas", HPA_T, HPA),
    Case(
        "kubernetes-autoscaling-hpa-configure-min-replicas",
        HPA_T,
        changed(HPA, {"spec.minReplicas": 1}),
        "must be >= 2 (got 1)",
    ),
    Case("kubernetes-autoscaling-hpa-configure-max-above-min", HPA_T, HPA),
    Case(
        "kubernetes-autoscaling-hpa-configure-max-above-min",
        HPA_T,
        changed(HPA, {"spec.maxReplicas": 2}),
        "maxReplicas (2) must be greater than spec.minReplicas (2)",
    ),
    Case("kubernetes-policy-poddisruptionbudget-configure-eviction", PDB_T, PDB),
    Case(
        "kubernetes-policy-poddisruptionbudget-configure-eviction",
        PDB_T,
        changed(PDB, {"spec.maxUnavailable": 0}),
        "maxUnavailable is 0",
    ),
    Case(
        "kubernetes-policy-poddisruptionbudget-configure-eviction",
        PDB_T,
        changed(PDB, {"spec.unhealthyPodEvictionPolicy": DELETE}),
        "must be AlwaysAllow (got None)",
        id="default-eviction",
    ),
    Case("kubernetes-helm-release-configure-pinned-version", RELEASE_T, LB_CONTROLLER),
    Case(
        "kubernetes-helm-release-configure-pinned-version",
        RELEASE_T,
        changed(LB_CONTROLLER, {"version": "1.x"}),
        "exact chart version (got '1.x')",
    ),
    Case("kubernetes-helm-release-configure-lb-controller-values", RELEASE_T, LB_CONTROLLER),
    Case(
        "kubernetes-helm-release-configure-lb-controller-values",
        RELEASE_T,
        changed(LB_CONTROLLER, {"values.region": DELETE, "values.vpcId": DELETE}),
        "values must set region, vpcId",
    ),
]
