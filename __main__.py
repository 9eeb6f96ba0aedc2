"""The Pulumi program: load config, build the stack, export. Nothing else."""

import pulumi

from infra.config import load_config
from infra.stack import build

platform = build(load_config())
for key, value in platform.exports().items():
    pulumi.export(key, value)
