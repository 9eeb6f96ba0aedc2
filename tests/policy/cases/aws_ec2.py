"""Passing and failing cases for the rules of `policy/rules/aws_ec2.py`."""

from __future__ import annotations

from tests.policy.cases.aws_resources import (
    DEFAULT_SG_T,
    FLOW_LOG,
    FLOW_LOG_T,
    INGRESS_RULE,
    INGRESS_RULE_T,
    LAUNCH_TEMPLATE,
    LAUNCH_TEMPLATE_T,
    SG,
    SG_RULE,
    SG_RULE_T,
    SG_T,
    SUBNET,
    SUBNET_T,
)
from tests.policy.cases.common import Case
from tests.policy.support import DELETE, changed

CASES = [
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
]
