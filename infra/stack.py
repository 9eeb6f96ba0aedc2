"""Wires the components into one stack: `build(cfg)` registers every resource, `exports` says what leaves it."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.config import PlatformConfig
from infra.network import Network, NetworkArgs, NetworkRefs


@dataclass(frozen=True)
class Platform:
    """The built stack: handles to what other stacks and the exports need."""

    config: PlatformConfig
    network: NetworkRefs

    def exports(self) -> dict[str, pulumi.Input[object]]:
        return {
            "environment": self.config.environment,
            "vpcId": self.network.vpc_id,
            "publicSubnetIds": self.network.public_subnet_ids,
            "privateSubnetIds": self.network.private_subnet_ids,
        }


def _network(cfg: PlatformConfig) -> NetworkRefs:
    if cfg.network.bring_your_own:
        assert cfg.network.vpc_id is not None
        return NetworkRefs(
            vpc_id=cfg.network.vpc_id,
            public_subnet_ids=list(cfg.network.public_subnet_ids),
            private_subnet_ids=list(cfg.network.private_subnet_ids),
        )
    return Network(cfg.name, NetworkArgs(config=cfg.network, tags=cfg.tags(), cluster_name=cfg.name)).refs()


def build(cfg: PlatformConfig) -> Platform:
    """Register every resource of the stack described by `cfg`."""
    return Platform(config=cfg, network=_network(cfg))
