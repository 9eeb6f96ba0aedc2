"""Config of pull-request previews: the preview stack's own keys, and whether a full stack hosts previews."""

from __future__ import annotations

import re
from dataclasses import dataclass

from infra.config.dns import MAX_CERTIFICATE_DOMAIN, PREVIEW_SUBDOMAIN, HostedZone, hostname
from infra.config.keys import Keys, stack_name

# The stacks the delivery workflows create per pull request (.github/scripts/preview_stacks.py).
_PREVIEW_STACK = re.compile(r"pr-(?P<number>[1-9][0-9]{0,8})")
MAX_PR_NUMBER = 999_999_999


@dataclass(frozen=True)
class PreviewConfig:
    """A preview stack: which stack's cluster and services it borrows, and which pull request it shows."""

    # Fully qualified, <organization>/<project>/<stack>.
    base_stack: str
    pr_number: int
    # The registry alias the preview's service follows (a candidate model, not production's).
    model_alias: str

    @property
    def namespace(self) -> str:
        """Everything the preview creates lives in this namespace, so previews never collide."""
        return f"pr-{self.pr_number}"

    @property
    def cache_key_prefix(self) -> str:
        """Prefix of the preview's Redis keys: previews share the base stack's Redis but never its entries."""
        return f"pr-{self.pr_number}:"


def read_preview(keys: Keys, stack: str) -> PreviewConfig:
    """The keys a `preview` stack must set; the delivery workflow writes prNumber for each pull request."""
    base = stack_name(keys, "preview.baseStack")
    if base is None:
        raise keys.fail(
            "preview.baseStack",
            "set when platform:mode is preview: the stack whose cluster, Redis and MLflow the preview uses "
            "(<stack> of this project and organization, or <organization>/<project>/<stack>)",
        )
    if keys.optional_string("preview.domain") is not None:
        raise keys.fail(
            "preview.domain", "empty when platform:mode is preview (a preview's domain is its base stack's)"
        )
    expected_pr = f"a pull-request number between 1 and {MAX_PR_NUMBER} when platform:mode is preview"
    raw_pr = keys.string("preview.prNumber", pattern=r"-?\d+", expected=expected_pr)
    pr_number = int(raw_pr)
    if not 1 <= pr_number <= MAX_PR_NUMBER:
        raise keys.fail("preview.prNumber", expected_pr, pr_number)
    named = _PREVIEW_STACK.fullmatch(stack)
    if named is not None and int(named["number"]) != pr_number:
        raise keys.fail("preview.prNumber", f"the number in the stack's name {stack} ({named['number']})", pr_number)
    return PreviewConfig(
        base_stack=base,
        pr_number=pr_number,
        model_alias=keys.alias("preview.modelAlias"),
    )


def preview_host(pr_number: int, domain: str) -> str:
    """The host of pull request `pr_number`'s preview: one label under the preview domain, so the wildcard
    certificate *.<domain> covers it (RFC 6125 6.4.3: the wildcard stands for exactly one label)."""
    return f"pr-{pr_number}.{domain}"


def read_preview_domain(keys: Keys, hosts_previews: bool, zone: HostedZone | None) -> str | None:
    """In a full stack hosting previews: the domain their hosts are under (`preview.domain`, else
    previews.<zone>); its wildcard certificate and the previews' records go in `zone`."""
    domain = hostname(keys, "preview.domain")
    if not hosts_previews:
        if domain is not None:
            raise keys.fail("preview.domain", "empty unless preview.hosting is true", domain)
        return None
    if zone is None:
        raise keys.fail(
            "dns.zone",
            "set (or ingress.hostedZone) when preview.hosting is true: each preview gets a host "
            "pr-<N>.<preview.domain> in that Route 53 zone, on a wildcard certificate this stack issues",
        )
    if domain is None:
        if zone.name is None:
            raise keys.fail("preview.domain", f"set when ingress.hostedZone is a zone id ({zone})")
        domain = f"{PREVIEW_SUBDOMAIN}.{zone.name}"
    if not zone.holds(domain):
        raise keys.fail("preview.domain", f"a name in the hosted zone {zone} (the previews' records go there)", domain)
    if len(f"*.{domain}") > MAX_CERTIFICATE_DOMAIN:
        raise keys.fail(
            "preview.domain",
            f"at most {MAX_CERTIFICATE_DOMAIN - 2} characters: the wildcard certificate *.<preview.domain> is limited "
            f"to {MAX_CERTIFICATE_DOMAIN} by ACM",
            domain,
        )
    return domain


def read_full_mode_preview_keys(keys: Keys) -> bool:
    """In a full stack: whether it hosts previews; the preview-only keys must stay unset, visibly."""
    if keys.optional_string("preview.baseStack") is not None:
        raise keys.fail("preview.baseStack", "empty unless platform:mode is preview")
    if keys.string("preview.prNumber") != "0":
        raise keys.fail(
            "preview.prNumber", "0 (unset) unless platform:mode is preview", keys.string("preview.prNumber")
        )
    return keys.boolean("preview.hosting")
