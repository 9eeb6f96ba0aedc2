"""Config of the stack's names: the Route 53 zone its hosts live under, the inference host, the preview domain.

One project-level key, `dns.zone`, names the public hosted zone a fork owns (set once, docs/forking.md); each
stack file names only its host's labels under it (`ingress.subdomain`), so no stack file carries a domain of its
own. With a host and a zone a stack issues and DNS-validates its certificate itself (infra/dns.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from infra.config.keys import Keys

HOSTNAME = r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
# One or more DNS labels, to be put in front of a zone's name.
_LABELS = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
# A Route 53 hosted zone id as `aws route53 list-hosted-zones` shows it, without the /hostedzone/ prefix.
_ZONE_ID = r"Z[A-Z0-9]{1,31}"
# RFC 1035 2.3.4: a name is at most 255 octets on the wire, 253 characters written out.
MAX_HOSTNAME = 253
# ACM RequestCertificate: a certificate's DomainName (its common name, RFC 5280 ub-common-name) is at most 64
# characters; longer names fit only as subject alternative names.
MAX_CERTIFICATE_DOMAIN = 64
# Previews get hosts pr-<N>.<preview domain>; without preview.domain that domain is this label under the zone.
PREVIEW_SUBDOMAIN = "previews"


@dataclass(frozen=True)
class HostedZone:
    """A Route 53 public hosted zone, named by its domain (`name`) or by its id (`zone_id`); exactly one is set."""

    name: str | None = None
    zone_id: str | None = None

    def __str__(self) -> str:
        return self.name or self.zone_id or ""

    def holds(self, host: str) -> bool:
        """Whether `host` is a name in this zone; a zone known only by id is checked when it is looked up."""
        return self.name is None or within(host, self.name)


def within(host: str, domain: str) -> bool:
    """`host` is `domain` or a name under it."""
    return host == domain or host.endswith(f".{domain}")


def hostname(keys: Keys, key: str) -> str | None:
    """An optional DNS hostname (lowercase labels, at most 253 characters)."""
    value = keys.optional_string(key, pattern=HOSTNAME, expected="a DNS hostname (lowercase)")
    if value is not None and len(value) > MAX_HOSTNAME:
        raise keys.fail(key, f"a DNS hostname of at most {MAX_HOSTNAME} characters", value)
    return value


def read_project_zone(keys: Keys) -> str | None:
    """`dns.zone`: the domain name of the public hosted zone every stack's hosts live under ("" reads as None)."""
    raw = keys.optional_string("dns.zone")
    if raw is None:
        return None
    zone = raw.removesuffix(".")
    if not re.fullmatch(HOSTNAME, zone):
        raise keys.fail("dns.zone", "the domain name of a Route 53 public hosted zone (lowercase)", raw)
    return zone


def read_hosted_zone(keys: Keys, project_zone: str | None) -> HostedZone | None:
    """`ingress.hostedZone` (a zone's name or id), else the project's `dns.zone`, else None."""
    raw = keys.optional_string("ingress.hostedZone")
    if raw is None:
        return HostedZone(name=project_zone) if project_zone else None
    if re.fullmatch(_ZONE_ID, raw):
        return HostedZone(zone_id=raw)
    name = raw.removesuffix(".")
    if not re.fullmatch(HOSTNAME, name):
        raise keys.fail(
            "ingress.hostedZone",
            "a Route 53 public hosted zone: its domain name or its id (Z followed by A-Z, 0-9)",
            raw,
        )
    return HostedZone(name=name)


def read_host(keys: Keys, zone: HostedZone | None) -> str | None:
    """`ingress.host`, else `<ingress.subdomain>.<zone>`; a host in a known zone must be a name of that zone."""
    host = hostname(keys, "ingress.host")
    subdomain = keys.optional_string(
        "ingress.subdomain", pattern=_LABELS, expected="one or more DNS labels to put in front of dns.zone"
    )
    if host is None and subdomain is not None:
        if zone is None:
            raise keys.fail(
                "dns.zone",
                "set to the domain of the Route 53 public hosted zone this project's hosts live under (set once for "
                f"the project, docs/forking.md): ingress.subdomain {subdomain!r} names a host under it",
            )
        if zone.name is None:
            raise keys.fail(
                "ingress.host", f"set when ingress.hostedZone is a zone id ({zone}): ingress.subdomain needs a name"
            )
        host = f"{subdomain}.{zone.name}"
        if len(host) > MAX_HOSTNAME:
            raise keys.fail("ingress.subdomain", f"short enough for {host} to fit in {MAX_HOSTNAME} characters")
    if host is not None and zone is not None and not zone.holds(host):
        raise keys.fail("ingress.host", f"a name in the hosted zone {zone} (its records go there)", host)
    return host
