"""The stack's names: ACM certificates it issues and validates through Route 53, and alias records to its ALBs.

`Certificates` requests each certificate for one name (a host, or `*.<domain>` for previews) with DNS
validation, writes ACM's validation CNAME into the hosted zone and waits for ACM to issue it
(`aws.acm.CertificateValidation`); an ARN is known only once its certificate is issued, so an Ingress naming it is
never created with a certificate an HTTPS listener would refuse. `Dns` points hosts at the ALBs the LB controller
reports in the Ingress status.

ACM DNS validation: docs.aws.amazon.com/acm/latest/userguide/dns-validation.html. Route 53 alias records:
docs.aws.amazon.com/Route53/latest/DeveloperGuide/resource-record-sets-choosing-alias-non-alias.html.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.config import HostedZone
from infra.config.dns import within

# How long resolvers cache the validation CNAME; ACM re-reads it at every renewal, so it never changes.
VALIDATION_TTL = 300


@dataclass(frozen=True)
class ZoneRef:
    """A looked-up public hosted zone: its id (what records need) and its domain name."""

    zone_id: pulumi.Output[str]
    name: pulumi.Output[str]


def lookup_zone(zone: HostedZone) -> ZoneRef:
    """The public hosted zone `zone` names (by domain or id); `pulumi up` fails here if the account has none."""
    found = aws.route53.get_zone_output(name=zone.name, zone_id=zone.zone_id, private_zone=False)
    return ZoneRef(zone_id=found.zone_id, name=found.name.apply(lambda n: n.removesuffix(".")))


def _in_zone(name: str, zone: str) -> str:
    """`name` if it is a name of `zone` (a record outside its zone is refused by Route 53), else an error."""
    bare = name.removeprefix("*.")
    if not within(bare, zone):
        raise ValueError(f"{name} is not a name in the hosted zone {zone}: its records cannot go there")
    return name


@dataclass(frozen=True)
class CertificatesArgs:
    # Each certificate's one name, by the key its ARN is found under: a host, or `*.<domain>` for every host one
    # label under `domain`.
    domains: Mapping[str, str]
    zone: ZoneRef
    tags: Mapping[str, str]


class Certificates(pulumi.ComponentResource):
    """The stack's ACM certificates, each for one name and validated through a CNAME in the name's Route 53 zone.

    `arns[key]` is read from the validation: whatever names it waits until ACM has issued the certificate.
    """

    arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: CertificatesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Certificates", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.arns = {}
        for key, domain in args.domains.items():
            checked = args.zone.name.apply(functools.partial(_in_zone, domain))
            certificate = aws.acm.Certificate(
                f"{name}-{key}-certificate",
                domain_name=checked,
                validation_method="DNS",
                tags={**args.tags, "Name": f"{name}-{key}"},
                # Pulumi's default create-before-delete matters here: the old certificate stays on the listener
                # until the new one is issued, and ACM refuses to delete a certificate a listener still uses.
                opts=child,
            )
            option = certificate.domain_validation_options.apply(functools.partial(_option, domain=domain))
            record = aws.route53.Record(
                f"{name}-{key}-validation-record",
                zone_id=args.zone.zone_id,
                name=option.apply(lambda o: o["name"]),
                type=option.apply(lambda o: o["type"]),
                records=[option.apply(lambda o: o["value"])],
                ttl=VALIDATION_TTL,
                # ACM gives every certificate for the same name the same CNAME: a re-issued certificate (or
                # another stack's for that name) rewrites an identical record instead of failing on it.
                allow_overwrite=True,
                opts=child,
            )
            validation = aws.acm.CertificateValidation(
                f"{name}-{key}-validation",
                certificate_arn=certificate.arn,
                validation_record_fqdns=[record.fqdn],
                opts=child,
            )
            self.arns[key] = validation.certificate_arn
        self.register_outputs({"arns": self.arns})


def _option(options: Sequence[Any] | None, domain: str) -> dict[str, str]:
    """ACM's DNS validation record for `domain`, from the certificate's domain_validation_options."""
    for o in options or []:
        get = o.get if isinstance(o, Mapping) else lambda key, o=o: getattr(o, key, None)
        if get("domain_name") == domain:
            return {
                "name": str(get("resource_record_name")),
                "type": str(get("resource_record_type")),
                "value": str(get("resource_record_value")),
            }
    raise ValueError(f"ACM returned no DNS validation record for {domain}")


@dataclass(frozen=True)
class Alias:
    host: pulumi.Input[str]
    # The ALB's DNS name, as the LB controller writes it into the Ingress status.
    target: pulumi.Input[str]


@dataclass(frozen=True)
class DnsArgs:
    # Each alias by the key its record is named after.
    aliases: Mapping[str, Alias]
    zone: ZoneRef
    # "network" when the targets are NLBs (ingress.controller nginx): their canonical zone differs from ALBs'.
    load_balancer_type: str = "application"


class Dns(pulumi.ComponentResource):
    """Hosts as Route 53 aliases (A) of ALBs: answered by Route 53 itself, following the ALBs' addresses.

    A only: the controller creates IPv4 ALBs (ip-address-type defaults to ipv4), which have no AAAA records to
    alias.
    """

    fqdns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: DnsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Dns", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # The ALBs' canonical hosted zone in the stack's region (ELB endpoints, docs.aws.amazon.com/general/latest/
        # gr/elb.html): an alias names its target's zone, not the record's.
        alb_zone = aws.lb.get_hosted_zone_id_output(load_balancer_type=args.load_balancer_type)
        self.fqdns = {}
        for key, alias in args.aliases.items():
            host = pulumi.Output.all(alias.host, args.zone.name).apply(lambda v: _in_zone(str(v[0]), str(v[1])))
            record = aws.route53.Record(
                f"{name}-{key}-alias",
                zone_id=args.zone.zone_id,
                name=host,
                type="A",
                aliases=[{"name": alias.target, "zone_id": alb_zone.id, "evaluate_target_health": True}],
                opts=child,
            )
            self.fqdns[key] = record.fqdn
        self.register_outputs({"fqdns": self.fqdns})
