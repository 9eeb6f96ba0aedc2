"""Day 2 of the data stores: an RDS major upgrade, minor versions and when changes apply; a cache engine upgrade
(Redis OSS to Valkey) and the AUTH token's rotation. Each is one config change and one `pulumi up`; these tests
check what that `up` would send. (The database password is RDS's to rotate: tests/infra/test_database_secret.py.)"""

from __future__ import annotations

import pytest

from infra.config import ConfigError
from tests.infra.harness import Recording, Resource, run_stack

DB = "aws:rds/instance:Instance"
DB_PARAMS = "aws:rds/parameterGroup:ParameterGroup"
CACHE = "aws:elasticache/replicationGroup:ReplicationGroup"
CACHE_PARAMS = "aws:elasticache/parameterGroup:ParameterGroup"
PASSWORD = "random:index/randomPassword:RandomPassword"


def password(rec: Recording, component: str) -> Resource:
    return rec.within(f"platform:index:{component}").one(PASSWORD)


@pytest.fixture(scope="module")
def postgres16(recordings: dict[str, Recording]) -> Recording:
    """prod one version back: the stack a `database.engineVersion: "17"` change upgrades."""
    return run_stack("prod", {"platform:database.engineVersion": "16"})


def test_a_major_version_change_upgrades_in_place_onto_a_parameter_group_of_the_new_family(
    recordings: dict[str, Recording], postgres16: Recording
) -> None:
    """RDS User Guide, "Upgrading the PostgreSQL DB engine for Amazon RDS" (major version upgrades): a major
    upgrade needs AllowMajorVersionUpgrade, and a custom parameter group given with it must be of the new major's
    family (API_ModifyDBInstance, DBParameterGroupName). pulumi-aws rds.ParameterGroup: `family` and `name_prefix`
    force a replacement; with delete_before_replace off Pulumi creates the new group, updates the instance that
    references it, then deletes the old group (Pulumi docs, "Resource options: deleteBeforeReplace")."""
    before, after = postgres16, recordings["prod"]
    old_params, new_params = before.one(DB_PARAMS), after.one(DB_PARAMS)
    assert (old_params.inputs["family"], new_params.inputs["family"]) == ("postgres16", "postgres17")
    # The family is in the physical name: the two groups exist side by side during the upgrade.
    assert old_params.inputs["namePrefix"] == "mlp-prod-postgres16-"
    assert new_params.inputs["namePrefix"] == "mlp-prod-postgres17-"
    assert "name" not in new_params.inputs
    assert not new_params.delete_before_replace
    for rec, params in ((before, old_params), (after, new_params)):
        db = rec.one(DB)
        assert db.inputs["allowMajorVersionUpgrade"] is True
        # The instance takes the group from its output: the group exists before the instance moves.
        assert db.inputs["parameterGroupName"] == params.outputs["name"]
        assert params.urn in db.property_dependencies["parameterGroupName"]
    assert (before.one(DB).inputs["engineVersion"], after.one(DB).inputs["engineVersion"]) == ("16", "17")


@pytest.mark.parametrize(("version", "auto_minor"), [("17", True), ("17.5", False)])
def test_a_pinned_minor_version_turns_automatic_minor_upgrades_off(version: str, auto_minor: bool) -> None:
    """pulumi-aws 7.51.1 rds.Instance `engine_version`: "If auto_minor_version_upgrade is enabled, you can provide
    a prefix of the version" (the provider then matches "17" with the running 17.x); RDS User Guide,
    "Automatically upgrading the minor engine version": with AutoMinorVersionUpgrade RDS moves the instance to
    a newer minor in the maintenance window, after which a pinned "17.5" would be a downgrade on the next `up`
    (RDS refuses it). A major version floats its minor; a major.minor pins it and RDS may not move it."""
    db = run_stack("staging", {"platform:database.engineVersion": version}).one(DB).inputs
    assert db["engineVersion"] == version
    assert db["autoMinorVersionUpgrade"] is auto_minor


def test_when_changes_apply_is_config_per_environment(recordings: dict[str, Recording]) -> None:
    """RDS API_ModifyDBInstance ApplyImmediately: false (the default) queues modifications, engine version and
    instance class included, for the next maintenance window. dev applies during `pulumi up`
    (database.applyImmediately in Pulumi.dev.yaml); staging and prod in their window unless set for one `up`."""
    applied = {stack: recordings[stack].one(DB).inputs["applyImmediately"] for stack in ("dev", "staging", "prod")}
    assert applied == {"dev": True, "staging": False, "prod": False}
    assert run_stack("prod", {"platform:database.applyImmediately": True}).one(DB).inputs["applyImmediately"] is True


def test_the_cache_upgrades_from_redis_oss_to_valkey_onto_a_parameter_group_of_the_new_family(
    recordings: dict[str, Recording],
) -> None:
    """ElastiCache User Guide, "Upgrading engine versions including cross engine upgrades": a Redis OSS 7.x
    replication group upgrades in place to Valkey (ModifyReplicationGroup Engine + EngineVersion) with a cache
    parameter group of the target family (valkey8 for 8.x). The provider sends Engine with EngineVersion
    (terraform-provider-aws internal/service/elasticache/replication_group.go, resourceReplicationGroupUpdate) and
    forces a replacement only for a downgrade (customizeDiffEngineForceNewOnDowngrade)."""
    redis = run_stack("prod", {"platform:redis.engine": "redis", "platform:redis.engineVersion": "7.1"})
    valkey = recordings["prod"]
    for rec, engine, version, family in ((redis, "redis", "7.1", "redis7"), (valkey, "valkey", "8.1", "valkey8")):
        group, params = rec.one(CACHE), rec.one(CACHE_PARAMS)
        assert (group.inputs["engine"], group.inputs["engineVersion"], params.inputs["family"]) == (
            engine,
            version,
            family,
        )
        # Autonamed: the new family's group gets a new unique name and is created before the old one goes.
        assert "name" not in params.inputs and not params.delete_before_replace
        assert group.inputs["parameterGroupName"] == params.outputs["name"]


def test_auth_token_rotation_is_a_new_token_with_rotate_then_set(recordings: dict[str, Recording]) -> None:
    """ElastiCache API_ModifyReplicationGroup AuthTokenUpdateStrategy: ROTATE adds the new token next to the old
    one (both accepted), SET (allowed only after ROTATE) leaves only the new one. pulumi-aws 7.51.1
    ReplicationGroup `auth_token_update_strategy`; the provider re-sends the token whenever the token or the
    strategy changes (replication_group.go: `d.HasChanges("auth_token", "auth_token_update_strategy")`), so each
    step is one `pulumi up`. random.RandomPassword `keepers`: a changed keeper generates a new value."""
    before = recordings["prod"]
    rotate = run_stack("prod", {"platform:redis.authTokenVersion": 2})
    finish = run_stack("prod", {"platform:redis.authTokenVersion": 2, "platform:redis.authTokenUpdateStrategy": "SET"})
    assert password(before, "Cache").inputs["keepers"] == {"version": "1"}
    assert password(rotate, "Cache").inputs["keepers"] == {"version": "2"}
    assert before.one(CACHE).inputs["authTokenUpdateStrategy"] == "ROTATE"
    assert rotate.one(CACHE).inputs["authTokenUpdateStrategy"] == "ROTATE"
    assert finish.one(CACHE).inputs["authTokenUpdateStrategy"] == "SET"
    for rec in (before, rotate, finish):
        group = rec.one(CACHE)
        # The token, not the write-only auth_token_wo: the bridge would keep that in state all the same
        # (pulumi/pulumi-terraform-bridge#3201), and the pods read the token from this stack.
        assert group.is_secret("authToken") and "authTokenWo" not in group.inputs
        assert group.inputs["authToken"] == password(rec, "Cache").outputs["result"]


def test_a_stack_still_setting_the_retired_password_version_is_told_what_replaced_it() -> None:
    """The master password is RDS's own now (manage_master_user_password, rotated by RDS: docs/operations.md,
    "Rotating secrets"); a stack file still raising database.passwordVersion would otherwise be ignored silently
    (Pulumi accepts undeclared keys of the project's namespace), and its operator believe the password rotated."""
    with pytest.raises(ConfigError) as err:
        run_stack("staging", {"platform:database.passwordVersion": 2})
    message = str(err.value)
    assert message.startswith("platform:database.passwordVersion is no longer read: RDS manages and rotates")
    assert "pulumi config rm database.passwordVersion" in message
