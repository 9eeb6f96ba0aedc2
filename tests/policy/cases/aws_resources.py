"""Compliant AWS resources (props as the engine sends them), the starting point of the AWS rule cases."""

from __future__ import annotations

import json

from tests.policy.cases.common import ACCOUNT, KEY_ARN, OIDC, TAGS, doc

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
    "manageMasterUserPassword": True,
    "masterUserSecretKmsKeyId": KEY_ARN,
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
