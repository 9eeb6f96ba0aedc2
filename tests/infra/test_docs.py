"""docs/forking.md and docs/environments.md match the code: the keys they name exist, the outputs they list are
exported, and forking.md names the keys a fork must set."""

from __future__ import annotations

import re

import yaml

from infra import existing_cluster
from infra.preview import SECRET_OUTPUTS
from tests.infra.harness import ROOT, Recording

DOCS = ("forking.md", "environments.md")
DECLARED = set(yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"])


def test_every_platform_key_the_docs_name_is_declared() -> None:
    for doc in DOCS:
        text = (ROOT / "docs" / doc).read_text()
        named = set(re.findall(r"platform:([a-zA-Z][\w.]*[a-zA-Z])(\.\*)?", text))
        assert named, doc
        for key, wildcard in named:
            if wildcard:  # platform:nodes.* names a group of keys
                assert any(d.startswith(f"{key}.") for d in DECLARED), f"{doc}: platform:{key}.*"
            else:
                assert key in DECLARED, f"{doc}: platform:{key}"


def test_forking_names_the_keys_a_fork_must_set_and_how_to_set_secrets() -> None:
    text = (ROOT / "docs" / "forking.md").read_text()
    for key in (
        "dns.zone",
        "ingress.subdomain",
        "ingress.certificateArn",
        "namePrefix",
        "environment",
        "cluster.stackReference",
        "cluster.kubeconfig",
    ):
        assert f"platform:{key}" in text, key
    assert "pulumi config set --secret" in text
    assert "pulumiConfig" in text and "environment:\n  - platform/shared" in text


def test_the_outputs_environments_md_says_a_preview_reads_are_devs_exports(recordings: dict[str, Recording]) -> None:
    text = (ROOT / "docs" / "environments.md").read_text()
    section = text.split("## Preview stacks", 1)[1].split("##", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    listed = {name for row in rows for name in re.findall(r"`(\w+)`", row.split("|")[1])}
    assert listed and listed <= set(recordings["dev"].exports), sorted(listed - set(recordings["dev"].exports))
    # What the preview reads: its own output(...) calls, the secrets' ARNs, and the cluster's outputs (of which
    # the doc lists those a preview uses; the others serve brought-cluster stacks, docs/forking.md).
    read = set(re.findall(r'output\("(\w+)"\)', (ROOT / "infra" / "preview.py").read_text()))
    read |= set(SECRET_OUTPUTS.values()) | {existing_cluster.KUBECONFIG, existing_cluster.KUBERNETES_VERSION}
    assert read == listed, sorted(read ^ listed)
