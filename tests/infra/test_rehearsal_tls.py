"""Deploy rehearsal, TLS and DNS: what a real `pulumi up` needs for HTTPS to work.

Before: every stack file carried AWS's documentation example certificate ARN (account 123456789012), so the HTTPS
listener failed, the Ingress never got an address and `up` timed out; dev and the previews exported
https://<ALB DNS name>, which no certificate can cover; and nothing created a DNS record. Each test encodes the
documented rule it rehearses and cites it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import ConfigError
from infra.workloads import MAX_GROUP_NAME, group_name
from tests.infra.harness import (
    ACCOUNT_ID,
    ALB_HOSTED_ZONE_IDS,
    FORK_ZONE,
    GET_ZONE,
    HOSTED_ZONES,
    REGION,
    ROOT,
    Recording,
    Resource,
    qualified,
    run_stack,
)
from tests.support.stacks import STACKS

INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
CERTIFICATE = "aws:acm/certificate:Certificate"
VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
RECORD = "aws:route53/record:Record"
ALB = "alb.ingress.kubernetes.io/"
# What a placeholder looks like where a real value belongs: AWS's documentation example account and certificate id
# (IAM User Guide, "AWS account identifiers"; ACM API examples), and the domains reserved for documentation and
# testing, which no one can own (RFC 2606 3, RFC 6761 6.2-6.4).
PLACEHOLDERS = re.compile(
    r"123456789012|12345678-1234-1234-1234-123456789012"
    r"|\b[a-z0-9.-]*\bexample\.(com|net|org)\b|\b[a-z0-9-]+(\.[a-z0-9-]+)*\.(example|test|invalid|localhost)\b"
)
SHIPPED = sorted(ROOT.glob("Pulumi*.yaml")) + sorted((ROOT / "docs").glob("**/*.md")) + [ROOT / "README.md"]


def covers(name: str, host: str) -> bool:
    """Whether a certificate name covers `host` (RFC 6125 6.4.3, as browsers and ALB clients apply it): a
    wildcard is the whole leftmost label and stands for exactly one non-empty label; anything else matches exactly."""
    if name.startswith("*."):
        label, _, rest = host.partition(".")
        return bool(label) and rest == name[2:]
    return "*" not in name and name == host


def _annotations(ingress: Resource) -> dict[str, str]:
    annotations: dict[str, str] = ingress.inputs["metadata"]["annotations"]
    return annotations


def _https(ingress: Resource) -> bool:
    return {"HTTPS": 443} in json.loads(_annotations(ingress).get(f"{ALB}listen-ports", "[]"))


def _inference_ingress(rec: Recording) -> Resource:
    (ingress,) = [r for r in rec.find(INGRESS) if r.inputs["metadata"]["name"] == "inference"]
    return ingress


def _validated(rec: Recording, arn: str) -> Resource:
    """The stack's certificate whose validation yields `arn`."""
    assert [v.outputs["certificateArn"] for v in rec.find(VALIDATION)].count(arn) == 1, arn
    (certificate,) = [c for c in rec.find(CERTIFICATE) if c.outputs["arn"] == arn]
    return certificate


def _names(certificate: Resource) -> list[str]:
    return [certificate.inputs["domainName"], *(certificate.inputs.get("subjectAlternativeNames") or [])]


def _host(url: str) -> str:
    match = re.fullmatch(r"https://([a-z0-9.-]+)", url)
    assert match, url
    return match[1]


@pytest.fixture(scope="module")
def previews(recordings: dict[str, Recording]) -> dict[int, Recording]:
    """Two pull requests' previews on the recorded dev stack, as the delivery workflow writes their stack files."""
    template = yaml.safe_load((ROOT / "Pulumi.preview.yaml").read_text())["config"]
    on_dev = {qualified("dev"): recordings["dev"]}
    return {
        pr: run_stack(f"pr-{pr}", {**template, "platform:preview.prNumber": pr}, references=on_dev) for pr in (7, 8)
    }


# ------------------------------------------------------------------------------------------- placeholders


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_stack_file_or_doc_carries_a_placeholder(path: Path) -> None:
    """A placeholder that passes validation reaches AWS: the ALB controller's CreateListener fails on a certificate
    of another account (ELB API reference, CreateListener: CertificateNotFound), and the Ingress never gets an
    address. Values a fork must supply are left unset and named by the config check instead."""
    found = [m[0] for m in PLACEHOLDERS.finditer(path.read_text())]
    assert not found, f"{path.relative_to(ROOT)}: {found}"


@pytest.mark.parametrize("stack", STACKS)
def test_a_shipped_stack_fails_its_config_check_naming_the_key_a_fork_sets(stack: str) -> None:
    """Until the fork names its Route 53 zone, `pulumi up` stops before creating anything, naming the key."""
    with pytest.raises(ConfigError) as err:
        run_stack(stack, fork=False)
    assert str(err.value).startswith("platform:dns.zone must be set to the domain of the Route 53 public hosted zone")
    assert "docs/forking.md" in str(err.value)


# -------------------------------------------------------------------------------------------- certificates


def test_every_stack_issues_and_validates_the_certificate_its_https_listener_uses(recording: Recording) -> None:
    """ACM issues a DNS-validated certificate only once the CNAME from its DomainValidationOptions resolves (ACM
    user guide, "DNS validation"); an HTTPS listener refuses a certificate that is not ISSUED (ELB API reference,
    CreateListener). So the Ingress must take the ARN from `aws.acm.CertificateValidation` (Pulumi registry,
    aws.acm.CertificateValidation: it "waits for validation to complete"), never from the Certificate itself, and
    name it in `alb.ingress.kubernetes.io/certificate-arn` (LB controller v2.14.1 annotations.md)."""
    ingress = _inference_ingress(recording)
    assert _https(ingress)
    arn = _annotations(ingress)[f"{ALB}certificate-arn"]
    certificate = _validated(recording, arn)
    (validation,) = [v for v in recording.find(VALIDATION) if v.outputs["certificateArn"] == arn]
    assert recording.depends_on(ingress, validation)
    assert validation.inputs["certificateArn"] == certificate.outputs["arn"]
    assert certificate.inputs["validationMethod"] == "DNS"


def test_validation_records_are_acms_cnames_in_the_zone_and_the_validation_waits_for_them(
    recordings: dict[str, Recording],
) -> None:
    """One record per DomainValidationOption, with its resourceRecordName/Type/Value, in the zone of the name;
    `allow_overwrite` because ACM gives every certificate of a name the same CNAME (Pulumi registry,
    aws.acm.CertificateValidation "DNS Validation with Route 53"; ACM API reference, DomainValidation)."""
    for rec in recordings.values():
        zone_id = HOSTED_ZONES[FORK_ZONE]
        for certificate in rec.find(CERTIFICATE):
            (validation,) = [
                v for v in rec.find(VALIDATION) if v.inputs["certificateArn"] == certificate.outputs["arn"]
            ]
            fqdns = validation.inputs["validationRecordFqdns"]
            for option in certificate.outputs["domainValidationOptions"]:
                (record,) = [r for r in rec.find(RECORD) if r.inputs["name"] == option["resourceRecordName"]]
                assert record.inputs["zoneId"] == zone_id
                assert record.inputs["type"] == option["resourceRecordType"] == "CNAME"
                assert record.inputs["records"] == [option["resourceRecordValue"]]
                assert record.inputs["allowOverwrite"] is True
                assert record.outputs["fqdn"] in fqdns and rec.depends_on(validation, record)


def test_every_certificate_the_stacks_request_fits_acms_domain_name_limit(recordings: dict[str, Recording]) -> None:
    """ACM RequestCertificate: DomainName (the common name, RFC 5280 ub-common-name) is at most 64 characters."""
    requested = [c.inputs["domainName"] for rec in recordings.values() for c in rec.find(CERTIFICATE)]
    assert requested and all(len(name) <= 64 for name in requested), requested


def test_the_exported_url_is_a_host_the_listeners_certificate_covers(recording: Recording) -> None:
    """Clients verify the server certificate against the host they called (RFC 6125 6.4): the exported URL must
    name a host of the certificate, never the ALB's generated DNS name, which no certificate of ours covers."""
    host = _host(recording.exports["inferenceUrl"])
    certificate = _validated(recording, _annotations(_inference_ingress(recording))[f"{ALB}certificate-arn"])
    assert any(covers(name, host) for name in _names(certificate)), (host, _names(certificate))
    assert not host.endswith(".elb.amazonaws.com")


def test_a_configured_certificate_of_the_stacks_region_is_used_as_given() -> None:
    """An explicit ingress.certificateArn still works; the stack then issues none (ALB certificates come from the
    load balancer's own region: ELB user guide, "SSL certificates for your Application Load Balancer")."""
    arn = f"arn:aws:acm:{REGION}:{ACCOUNT_ID}:certificate/0b1d2c3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
    rec = run_stack("prod", {"platform:ingress.certificateArn": arn})
    assert _annotations(_inference_ingress(rec))[f"{ALB}certificate-arn"] == arn
    assert not rec.find(CERTIFICATE) and not rec.find(VALIDATION)
    assert rec.exports["inferenceUrl"] == f"https://inference.{FORK_ZONE}"


# ------------------------------------------------------------------------------------------------- DNS


def _alias(rec: Recording, host: str) -> dict[str, Any]:
    (record,) = [r for r in rec.find(RECORD) if r.inputs["type"] == "A" and r.inputs["name"] == host]
    inputs: dict[str, Any] = record.inputs
    return inputs


def test_the_host_is_a_route53_alias_of_the_ingress_alb(recording: Recording) -> None:
    """A Route 53 alias to an ALB names the ALB's DNS name and the ELB's canonical hosted zone of the region, not
    the record's zone (Route 53 developer guide, "Routing traffic to an ELB load balancer"; ELB endpoints table,
    docs.aws.amazon.com/general/latest/gr/elb.html); the DNS name is the one the LB controller reports in the
    Ingress status."""
    ingress = _inference_ingress(recording)
    hostname = ingress.outputs["status"]["loadBalancer"]["ingress"][0]["hostname"]
    alias = _alias(recording, _host(recording.exports["inferenceUrl"]))
    assert alias["zoneId"] == HOSTED_ZONES[FORK_ZONE]
    (target,) = alias["aliases"]
    assert target["name"] == hostname == recording.exports["inferenceAlbHostname"]
    assert target["zoneId"] == ALB_HOSTED_ZONE_IDS[REGION]
    # The zone was looked up as a public one: ACM validates through public DNS.
    lookups = [i.args for i in recording.invokes if i.token == GET_ZONE]
    assert lookups and all(a.get("privateZone") is False and a.get("name") == FORK_ZONE for a in lookups)


# ---------------------------------------------------------------------------------------------- previews


def test_each_preview_has_its_own_host_under_the_wildcard_certificate_dev_issued(
    previews: dict[int, Recording], recordings: dict[str, Recording]
) -> None:
    """A preview's host pr-<N>.<preview domain> is one label under the wildcard *.<preview domain> (RFC 6125
    6.4.3), which dev issues once; a preview issues no certificate and names dev's validated one."""
    dev = recordings["dev"]
    shared = dev.exports["previewIngress"]
    wildcard = _validated(dev, shared["certificateArn"])
    assert _names(wildcard) == [f"*.{shared['domain']}"]
    hosts = set()
    for pr, rec in previews.items():
        host = _host(rec.exports["inferenceUrl"])
        assert host == f"pr-{pr}.{shared['domain']}" and covers(f"*.{shared['domain']}", host)
        assert _annotations(_inference_ingress(rec))[f"{ALB}certificate-arn"] == shared["certificateArn"]
        assert not rec.find(CERTIFICATE)
        (rule,) = _inference_ingress(rec).inputs["spec"]["rules"]
        assert rule["host"] == host
        alias = _alias(rec, host)
        assert alias["zoneId"] == shared["hostedZoneId"]
        assert alias["aliases"][0]["name"] == rec.exports["inferenceAlbHostname"]
        hosts.add(host)
    assert len(hosts) == len(previews)


# The annotations an IngressGroup's ALB takes from its Ingresses that must agree on every one of them (LB
# controller v2.14.1 docs/guide/ingress/annotations.md, MergeBehavior "Exclusive"; tags merge but a key with two
# values is refused: pkg/ingress/model_build_tags.go "conflicting tag").
GROUP_LEVEL = (
    "scheme",
    "load-balancer-attributes",
    "wafv2-acl-arn",
    "ssl-redirect",
    "inbound-cidrs",
    "ssl-policy",
    "ip-address-type",
    "subnets",
    "tags",
)


def test_previews_share_one_alb_through_an_ingress_group_without_conflicting_settings(
    previews: dict[int, Recording], preview: Recording
) -> None:
    """Every preview's Ingress joins one IngressGroup (`alb.ingress.kubernetes.io/group.name`), so open pull
    requests cost one ALB; a group-level annotation differing between two of them stops the group's reconcile."""
    ingresses = [_annotations(_inference_ingress(rec)) for rec in (*previews.values(), preview)]
    groups = {a[f"{ALB}group.name"] for a in ingresses}
    assert len(groups) == 1
    for key in GROUP_LEVEL:
        assert len({a.get(f"{ALB}{key}") for a in ingresses}) == 1, key
    assert len({rec.exports["inferenceAlbHostname"] for rec in (*previews.values(), preview)}) == 1


@pytest.mark.parametrize("name", ["mlp-dev-previews", "Team_Stack.Preview-previews", "x" * 120 + "-previews"])
def test_the_group_name_is_one_the_controller_accepts(name: str) -> None:
    """groupName: lowercase alphanumerics, '-' or '.', starting and ending with an alphanumeric, at most 63
    characters (LB controller v2.14.1 annotations.md, group.name)."""
    group = group_name(name)
    assert re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", group) and len(group) <= MAX_GROUP_NAME, group


# ------------------------------------------------------------------------------------------ config errors


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"platform:ingress.certificateArn": f"arn:aws:acm:eu-west-1:{ACCOUNT_ID}:certificate/" + "0" * 36},
            f"platform:ingress.certificateArn must be an ACM certificate of the stack's region {REGION}",
        ),
        (
            {
                "platform:dns.zone": "",
                "platform:ingress.subdomain": "",
                "platform:preview.hosting": "false",
                "platform:ingress.certificateArn": f"arn:aws:acm:{REGION}:{ACCOUNT_ID}:certificate/" + "0" * 36,
            },
            "platform:ingress.host must be set (or ingress.subdomain with dns.zone) when ingress.certificateArn is set",
        ),
        (
            {"platform:ingress.host": "inference.elsewhere.org"},
            f"platform:ingress.host must be a name in the hosted zone {FORK_ZONE}",
        ),
        (
            {"platform:ingress.subdomain": "a-very-long-label-for-the-inference-service-of-dev.dev"},
            "platform:ingress.host must be at most 64 characters for the stack to issue its certificate",
        ),
        (
            {
                "platform:dns.zone": "",
                "platform:ingress.host": f"inference.{FORK_ZONE}",
                "platform:preview.hosting": "false",
            },
            f"platform:ingress.hostedZone must be set (or platform:dns.zone) for the stack to issue and DNS-validate a "
            f"certificate for inference.{FORK_ZONE}",
        ),
        (
            {"platform:dns.zone": "", "platform:ingress.subdomain": "", "platform:ingress.allowPlainHttp": "true"},
            "platform:dns.zone must be set (or ingress.hostedZone) when preview.hosting is true",
        ),
        (
            {"platform:preview.domain": "previews-of-every-pull-request-of-this-platform-repo." + FORK_ZONE},
            "platform:preview.domain must be at most 62 characters",
        ),
        ({"platform:preview.domain": "previews.elsewhere.org"}, "platform:preview.domain must be a name in the hosted"),
        ({"platform:ingress.hostedZone": "Not a zone"}, "platform:ingress.hostedZone must be a Route 53 public hosted"),
        (
            {"platform:ingress.hostedZone": "Z0123456789ABCDEFGHIJ"},
            "platform:ingress.host must be set when ingress.hostedZone is a zone id",
        ),
    ],
)
def test_config_errors_name_the_keys(overrides: dict[str, object], message: str) -> None:
    """Every refusal happens at load time, before anything is created, naming the key (ACM and ELB limits as
    cited above; a record outside its zone is refused by Route 53, ChangeResourceRecordSets InvalidChangeBatch)."""
    with pytest.raises(ConfigError) as err:
        run_stack("dev", overrides)
    assert str(err.value).startswith(message), str(err.value)
