"""What the offline harness answers for Route 53 and ACM: public hosted zones, ACM's DNS validation records and
the ALBs' canonical hosted zones, as AWS returns them."""

from __future__ import annotations

import hashlib
from typing import Any

# The canonical hosted zone of ALBs per region, which a Route 53 alias to an ALB names (ELB service endpoints,
# docs.aws.amazon.com/general/latest/gr/elb.html; hashicorp/terraform-provider-aws
# internal/service/elbv2/hosted_zone_id_data_source.go, HostedZoneIdPerRegionALBMap).
ALB_HOSTED_ZONE_IDS = {
    "us-east-1": "Z35SXDOTRQ7X7K",
    "us-east-2": "Z3AADJGX6KTTL2",
    "us-west-2": "Z1H1FL5HABSF5",
    "eu-west-1": "Z32O12XQLNTSW2",
    "eu-central-1": "Z215JYRZR1TBD5",
}

# The same for NLBs (same sources, HostedZoneIdPerRegionNLBMap).
NLB_HOSTED_ZONE_IDS = {
    "us-east-1": "Z26RNL4JYFTOTI",
    "us-east-2": "ZLMOA37VPKANP",
    "us-west-2": "Z18D5FSROUN65G",
    "eu-west-1": "Z2IFOLAFXWLO4F",
    "eu-central-1": "Z3F0SRJ5LGBH90",
}


def validation_option(domain: str) -> dict[str, str]:
    """ACM's DNS validation record for `domain`: a CNAME under the name (a wildcard's `*.` dropped) pointing into
    acm-validations.aws (ACM API reference, DomainValidation and ResourceRecord)."""
    digest = hashlib.sha256(domain.removeprefix("*.").encode()).hexdigest()
    return {
        "domainName": domain,
        "resourceRecordName": f"_{digest[:32]}.{domain.removeprefix('*.')}.",
        "resourceRecordType": "CNAME",
        "resourceRecordValue": f"_{digest[32:64]}.{digest[:10]}.acm-validations.aws.",
    }


def hosted_zone(args: dict[str, Any], zones: dict[str, str]) -> dict[str, Any]:
    """aws.route53.get_zone: a public zone of the mocked account, by name or id; like AWS, none else exists."""
    if args.get("privateZone"):
        raise KeyError("the mocked account holds no private hosted zone")
    name = str(args.get("name") or "").removesuffix(".")
    zone_id = args.get("zoneId")
    for known, known_id in zones.items():
        if (name and name == known) or (zone_id and zone_id == known_id):
            return {
                "id": known_id,
                "zoneId": known_id,
                "name": known,
                "arn": f"arn:aws:route53:::hostedzone/{known_id}",
                "privateZone": False,
                "nameServers": [f"ns-{i}.awsdns-{i:02d}.{tld}" for i, tld in ((1, "com"), (2, "net"), (3, "org"))],
                "resourceRecordSetCount": 2,
                "callerReference": known,
                "comment": "",
                "tags": {},
            }
    raise KeyError(f"no matching Route 53 hosted zone found for {args} (the mocked account holds {zones})")
