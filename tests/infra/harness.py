"""Runs the real Pulumi program offline under `pulumi.runtime.set_mocks` and records what it registers.

`run_stack("prod")` loads config the way the CLI would (Pulumi.yaml defaults, then Pulumi.prod.yaml, then
overrides), executes `__main__.py`, and returns a `Recording`: every resource's type, name, inputs, parent,
dependencies (explicit and implied by Outputs), provider, the outputs the mocks gave it, the invokes it made,
and the stack's exports. No CLI, no provider plugin and no cloud account is involved.

A stack that references another (`pulumi.StackReference`, e.g. a preview's base stack) reads that stack's real
exports: the harness runs the referenced stack of this project first (or takes its `Recording` from the
caller), and answers Secrets Manager lookups with what that stack stored.

This module is the runner and the harness's one import point; the parts live beside it: the account and config
(harness_config.py), the mocks' answers (mocks.py, mock_dns.py), what a run records (recording.py) and the only
use of Pulumi's engine internals (pulumi_engine.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tests.infra.harness_config import (
    ACCOUNT_ID,
    BYO_VPC_CIDR,
    CALLER_ARN,
    DEPLOY_ROLE_ARN,
    DOCKER_IMAGE,
    ELB_SERVICE_ACCOUNTS,
    FIXTURE_ZONE,
    FORK_CONFIG,
    FORK_ZONE,
    GET_CLUSTER,
    GET_CLUSTERS,
    GET_ECR_TOKEN,
    GET_SECRET_VERSION,
    GET_ZONE,
    HOSTED_ZONES,
    ORGANIZATION,
    PROJECT,
    REFERENCE_KEYS,
    REGION,
    ROOT,
    STACK_REFERENCE,
    UNTAGGABLE,
    ZONES,
    Secret,
    Zone,
    qualified,
    referenced_stacks,
    secret_keys,
    stack_config,
)
from tests.infra.mock_dns import ALB_HOSTED_ZONE_IDS
from tests.infra.mocks import PlatformMocks
from tests.infra.pulumi_engine import mark_secret, plain, run_program, secret_leaves
from tests.infra.recording import Invoke, Recording, Resource, deployed_clusters, type_names

__all__ = [
    "ACCOUNT_ID",
    "ALB_HOSTED_ZONE_IDS",
    "BYO_VPC_CIDR",
    "CALLER_ARN",
    "DEPLOY_ROLE_ARN",
    "DOCKER_IMAGE",
    "ELB_SERVICE_ACCOUNTS",
    "FIXTURE_ZONE",
    "FORK_CONFIG",
    "FORK_ZONE",
    "GET_CLUSTER",
    "GET_CLUSTERS",
    "GET_ECR_TOKEN",
    "GET_SECRET_VERSION",
    "GET_ZONE",
    "HOSTED_ZONES",
    "ORGANIZATION",
    "PROJECT",
    "REFERENCE_KEYS",
    "REGION",
    "ROOT",
    "STACK_REFERENCE",
    "UNTAGGABLE",
    "ZONES",
    "Invoke",
    "PlatformMocks",
    "Recording",
    "Resource",
    "Secret",
    "Zone",
    "deployed_clusters",
    "mark_secret",
    "plain",
    "qualified",
    "referenced_stacks",
    "run_stack",
    "secret_keys",
    "secret_leaves",
    "stack_config",
    "type_names",
]


def run_stack(
    stack: str,
    overrides: dict[str, Any] | None = None,
    program: Path | None = None,
    references: dict[str, Recording] | None = None,
    fork: bool = True,
    zones: Iterable[Zone] = ZONES,
    clusters: dict[str, str] | None = None,
    ingress_addresses: bool = True,
    engine_secrets: bool = True,
) -> Recording:
    """Run the program for `stack` under mocks; raises what the program raises (e.g. ConfigError).

    Wrap an override in `Secret` to set it as a secret. A referenced stack missing from `references` (keyed by
    its fully qualified name) is run first, with its own stack file, when it is a stack of this project. `zones` is
    the region's zones as the account sees them (name -> zone ID). `clusters` are the EKS clusters already running
    in the account (name -> version; `deployed_clusters(recording)` of an earlier run). With `fork` false the files
    run exactly as shipped, without what a fork sets once (FORK_CONFIG). `ingress_addresses` false: no Ingress
    ever gets an ALB. `engine_secrets` false: the engine does not mark providers' secret outputs (e.g.
    RandomPassword.result) secret, so only what the program marks itself stays secret.
    """
    config = stack_config(stack, overrides, fork)
    known = dict(references or {})
    for name in sorted(referenced_stacks(config) - set(known)):
        # Only a stack of this project; a malformed name is left for the program's config check to refuse.
        organization, project, base = (name.split("/") + ["", "", ""])[:3]
        if (organization, project) == (ORGANIZATION, PROJECT) and (ROOT / f"Pulumi.{base}.yaml").exists():
            known[name] = run_stack(base)
    run = run_program(
        program or ROOT / "__main__.py",
        PlatformMocks(known, zones, clusters, ingress_addresses),
        project=PROJECT,
        stack=stack,
        organization=ORGANIZATION,
        config=config,
        secret_keys=secret_keys(overrides),
        engine_secrets=engine_secrets,
    )
    return Recording(
        stack=stack,
        config=config,
        resources=[Resource(**registration) for registration in run.registrations],
        exports=run.exports,
        secret_exports=run.secret_exports,
        seconds=run.seconds,
        warnings=run.warnings,
        invokes=[Invoke(token=token, args=args) for token, args in run.invokes],
        secret_config=set(secret_keys(overrides)),
        export_dependencies=run.export_dependencies,
    )
