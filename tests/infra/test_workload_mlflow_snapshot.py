"""An RDS snapshot before every MLflow schema migration, taken by `pulumi up` and awaited before the Job exists.

A migration that goes wrong has no way back but a restore: MLflow offers `mlflow db upgrade` and no downgrade,
and 28 of the 67 revisions of mlflow 3.17.2 (mlflow/store/db_migrations/versions/) have an empty `downgrade()`
(`pass`). The provider's
`aws.rds.Snapshot` calls CreateDBSnapshot and waits until the snapshot is `available` (RDS API CreateDBSnapshot;
terraform-provider-aws internal/service/rds/snapshot.go waitDBSnapshotCreated), so a Job that depends on it starts
only once the database's state before the migration is kept.
"""

from __future__ import annotations

from infra import mlflow_schema
from tests.infra.harness import Recording, run_stack

SNAPSHOT = "aws:rds/snapshot:Snapshot"
JOB = "kubernetes:batch/v1:Job"
INSTANCE = "aws:rds/instance:Instance"


def test_the_migration_job_waits_for_a_snapshot_of_its_database(recordings: dict[str, Recording]) -> None:
    for rec in recordings.values():
        if not rec.find(INSTANCE):
            continue  # a preview: no database of its own, no migration
        (snapshot,) = rec.find(SNAPSHOT)
        (instance,) = rec.find(INSTANCE)
        (job,) = [j for j in rec.find(JOB) if j.name.endswith("-migrate-db")]
        assert snapshot.urn in job.dependencies, rec.stack
        # Of this stack's instance, read from it (so created after it), never a name typed twice.
        assert snapshot.inputs["dbInstanceIdentifier"] == instance.inputs["identifier"]
        assert instance.urn in snapshot.property_dependencies["dbInstanceIdentifier"]


def test_the_snapshot_is_named_after_the_image_and_database_the_job_migrates(recordings: dict[str, Recording]) -> None:
    """Same pair, same identifier: an `up` that changes neither takes no snapshot. A new image is a new
    identifier, and DBSnapshotIdentifier cannot be modified, so Pulumi replaces the snapshot: the new one first."""
    rec = recordings["prod"]
    (snapshot,) = rec.find(SNAPSHOT)
    (job,) = [j for j in rec.find(JOB) if j.name.endswith("-migrate-db")]
    job_digest = job.inputs["metadata"]["name"].removeprefix("mlflow-migrate-")
    assert snapshot.inputs["dbSnapshotIdentifier"].endswith(f"-pre-migrate-{job_digest}")
    assert snapshot.inputs["dbSnapshotIdentifier"].startswith(snapshot.inputs["dbInstanceIdentifier"] + "-")
    assert not snapshot.delete_before_replace
    a = mlflow_schema.snapshot_identifier("db", "repo@sha256:" + "a" * 64, "host", 5432, "mlflow")
    b = mlflow_schema.snapshot_identifier("db", "repo@sha256:" + "b" * 64, "host", 5432, "mlflow")
    assert a != b and a == mlflow_schema.snapshot_identifier("db", "repo@sha256:" + "a" * 64, "host", 5432, "mlflow")


def test_a_new_mlflow_image_takes_a_new_snapshot_before_its_migration() -> None:
    """Two `up`s of prod with different MLflow images record different snapshot identifiers (a replacement)."""
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlp-prod/mlflow@sha256:"
    identifiers = set()
    for digit in "12":
        rec = run_stack(
            "prod",
            {
                "platform:images.build": "false",
                "platform:inference.image": image.replace("mlflow", "inference") + digit * 64,
                "platform:mlflow.image": image + digit * 64,
            },
        )
        (snapshot,) = rec.find(SNAPSHOT)
        identifiers.add(snapshot.inputs["dbSnapshotIdentifier"])
    assert len(identifiers) == 2
