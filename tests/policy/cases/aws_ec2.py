"""The rules of `policy/rules/aws_ec2.py` on the compliant launch template, security groups and rules, subnet and flow
log: each row one change and the messages it must produce."""

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
from tests.policy.cases.common import TAGS, fails, passes, table
from tests.policy.cases.stacks import drop, link, stack_table, vpc
from tests.policy.support import DELETE

DEFAULT_SG = {"vpcId": "vpc-0a1b2c3d4e5f60718", "ingress": [], "egress": [], "tags": TAGS}
OPEN = {"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}

CASES = [
    *table(
        LAUNCH_TEMPLATE_T,
        LAUNCH_TEMPLATE,
        {
            "aws-ec2-launchtemplate-enable-imdsv2": [
                fails("metadataOptions.httpTokens", "optional", "httpTokens must be 'required'"),
                passes(
                    {"metadataOptions.httpEndpoint": "disabled", "metadataOptions.httpTokens": "optional"},
                    id="imds-off",
                ),
            ],
            "aws-ec2-launchtemplate-configure-metadata-hop-limit": [
                fails("metadataOptions.httpPutResponseHopLimit", 2, "must be 1 (got 2)"),
                fails("metadataOptions.httpPutResponseHopLimit", DELETE, "EKS then uses 2", id="unset"),
                passes(
                    {"metadataOptions.httpEndpoint": "disabled", "metadataOptions.httpPutResponseHopLimit": 2},
                    id="imds-off",
                ),
            ],
            "aws-ec2-launchtemplate-enable-ebs-encryption": [
                fails("blockDeviceMappings.0.ebs.encrypted", "false", "(/dev/xvda) must set ebs.encrypted"),
                fails("blockDeviceMappings", DELETE, "must define the root volume", id="ami-default-volume"),
                fails("blockDeviceMappings.0.ebs.encrypted", DELETE, "(/dev/xvda) must set ebs.encrypted", id="unset"),
                passes({"blockDeviceMappings.0.ebs": DELETE, "blockDeviceMappings.0.noDevice": ""}, id="no-ebs"),
            ],
            "aws-ec2-launchtemplate-disallow-public-ip": [
                fails(
                    "networkInterfaces",
                    [{"deviceIndex": 0, "associatePublicIpAddress": "true"}],
                    "associatePublicIpAddress must not be true",
                ),
            ],
        },
    ),
    *table(
        SG_T,
        SG,
        {
            "aws-ec2-securitygroup-disallow-public-ingress": [
                fails("ingress.0.fromPort", 22, "ingress[0] admits 0.0.0.0/0, ::/0 on tcp 22-443"),
                fails("ingress.0.protocol", "-1", "ingress[0] admits 0.0.0.0/0, ::/0 on all ports", id="all-protocols"),
                fails("ingress.0.protocol", "udp", "ingress[0] admits 0.0.0.0/0, ::/0 on udp 443-443", id="udp"),
                passes({"ingress.0.protocol": "6"}, id="tcp-by-number"),
                passes(
                    {
                        "ingress.0.fromPort": 22,
                        "ingress.0.toPort": 22,
                        "ingress.0.cidrBlocks": ["10.30.0.0/16"],
                        "ingress.0.ipv6CidrBlocks": DELETE,
                    },
                    id="ssh-from-the-vpc",
                ),
                fails(
                    "toPort",
                    65535,
                    "the rule admits 0.0.0.0/0 on tcp 80-65535",
                    id="rule-range",
                    on=(SG_RULE_T, SG_RULE),
                ),
                fails(
                    "fromPort", DELETE, "the rule admits 0.0.0.0/0 on tcp;", id="rule-no-port", on=(SG_RULE_T, SG_RULE)
                ),
                passes({"type": "egress", "toPort": 65535}, id="egress-rule", on=(SG_RULE_T, SG_RULE)),
                fails(
                    "cidrIpv4",
                    "0.0.0.0/0",
                    "the rule admits 0.0.0.0/0 on tcp 6379-6379",
                    id="vpc-rule",
                    on=(INGRESS_RULE_T, INGRESS_RULE),
                ),
                fails(
                    "cidrIpv6",
                    "::/0",
                    "the rule admits ::/0 on tcp 6379-6379",
                    id="vpc-rule-ipv6",
                    on=(INGRESS_RULE_T, INGRESS_RULE),
                ),
                fails(
                    None,
                    None,
                    "only TCP [80] may be open",
                    id="configured-ports",
                    config={"allowedPublicPorts": [80]},
                ),
                passes(
                    {"fromPort": 8443, "toPort": 8443},
                    id="configured-port",
                    on=(SG_RULE_T, SG_RULE),
                    config={"allowedPublicPorts": [443, 8443]},
                ),
            ],
        },
    ),
    *table(
        DEFAULT_SG_T,
        DEFAULT_SG,
        {
            "aws-ec2-defaultsecuritygroup-disallow-rules": [
                fails("egress", [OPEN], "egress must be empty"),
                fails("ingress", [OPEN], "ingress must be empty"),
            ],
        },
    ),
    *table(
        SUBNET_T,
        SUBNET,
        {
            "aws-ec2-subnet-disallow-public-ip-on-launch": [
                fails("mapPublicIpOnLaunch", True, "mapPublicIpOnLaunch must be false"),
            ],
        },
    ),
    *table(
        FLOW_LOG_T,
        FLOW_LOG,
        {
            "aws-ec2-flowlog-configure-traffic-type": [
                fails("trafficType", "ACCEPT", "must be ALL or REJECT (got 'ACCEPT')"),
                passes({"trafficType": "REJECT"}, id="reject"),
            ],
        },
    ),
]


# The stack rules: what every VPC has.
STACK_CASES = stack_table(
    vpc,
    {
        "aws-ec2-vpc-enable-flow-logs": [
            drop("flow-log").fails("VPC vpc has no aws.ec2.FlowLog"),
            link("flow-log", "vpcId").fails("VPC vpc has no aws.ec2.FlowLog", id="flow-log-of-another-vpc"),
        ],
        "aws-ec2-vpc-configure-closed-default-security-group": [
            drop("default-sg").fails("VPC vpc has no aws.ec2.DefaultSecurityGroup stripping its rules"),
        ],
    },
)
