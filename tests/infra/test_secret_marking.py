"""What the program marks secret itself, seen with an engine that marks nothing (run_stack(engine_secrets=False)).

Under a real engine a RandomPassword's `result` comes back secret and Kubernetes or AWS SDK classes mark some
inputs secret on their own, so a check on those inputs stays green when the program's own `Output.secret` goes.
These runs give the program plain values from every provider and invoke: whatever is still secret is secret
because the program said so. Source: Pulumi docs, "Secrets" > "How secrets relate to outputs" (an Output built
from plain values is plain unless wrapped with `pulumi.Output.secret` or listed in additionalSecretOutputs).
"""

from __future__ import annotations

from pathlib import Path

from tests.infra.harness import run_stack
from tests.infra.test_wiring import WORKLOAD_PROGRAM

SHARED_PROGRAM = """
import pulumi
from infra.preview import secret_value
from infra.shared_secrets import SharedSecrets, SharedSecretsArgs

shared = SharedSecrets("shared", SharedSecretsArgs(secrets={"token": "a-plain-value"}, tags={"Project": "p"}))
pulumi.export("arn", shared.arns["token"])
"""
# The same secret, read back as a preview reads its base stack's (the mocks answer from a referenced run).
READ_PROGRAM = (
    SHARED_PROGRAM
    + """
pulumi.export("read", secret_value(shared.arns["token"]))
"""
)


def test_the_platform_marks_the_redis_token_secret_itself(tmp_path: Path) -> None:
    """infra/cache.py hands out its RandomPassword as a secret Output of its own. (The database's password is RDS's,
    in Secrets Manager: the program never holds it, tests/infra/test_database_secret.py.)"""
    program = tmp_path / "__main__.py"
    program.write_text(WORKLOAD_PROGRAM)
    rec = run_stack("dev", program=program, engine_secrets=False)
    assert "redisAuthToken" in rec.secret_exports


def test_a_shared_secret_is_stored_and_read_back_as_a_secret(tmp_path: Path) -> None:
    """infra/shared_secrets.py stores a plain value as a secret, and infra/preview.py `secret_value` keeps what
    Secrets Manager returns secret (the mocks return it plain, as GetSecretValue's data source gives it)."""
    program = tmp_path / "__main__.py"
    program.write_text(SHARED_PROGRAM)
    first = run_stack("dev", program=program, engine_secrets=False)
    (version,) = first.find("aws:secretsmanager/secretVersion:SecretVersion")
    # Stored as given; its secrecy there is pulumi_aws's own (SecretVersion marks secret_string), not checked here.
    assert version.inputs["secretString"] == "a-plain-value"
    reader = tmp_path / "read.py"
    reader.write_text(READ_PROGRAM)
    second = run_stack("dev", program=reader, engine_secrets=False, references={"stored": first})
    assert second.exports["read"] == "a-plain-value"
    assert "read" in second.secret_exports and "arn" not in second.secret_exports
