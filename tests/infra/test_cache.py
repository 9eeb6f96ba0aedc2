"""ElastiCache Redis: encryption in transit and at rest, a secret AUTH token, availability per stack, an LRU cache
parameter group, private subnets and a security group admitting the nodes only."""

from __future__ import annotations

from tests.infra.harness import Recording, Resource

GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"

AVAILABILITY = {  # stack: (nodes, automatic failover + Multi-AZ, snapshot days, node type)
    "dev": (1, False, 1, "cache.t4g.small"),
    "staging": (2, True, 7, "cache.t4g.medium"),
    "prod": (3, True, 7, "cache.r7g.large"),
}


def redis(rec: Recording) -> Resource:
    return rec.one(GROUP)


def test_valkey_8_is_encrypted_in_transit_and_at_rest_with_a_rotating_key(recording: Recording) -> None:
    group = redis(recording).inputs
    assert group["engine"] == "valkey" and group["engineVersion"] == "8.1"
    assert group["transitEncryptionEnabled"] is True
    assert group["transitEncryptionMode"] == "required"
    assert group["atRestEncryptionEnabled"] is True
    key = recording.within("platform:index:Cache").one("aws:kms/key:Key", f"mlp-{recording.stack}-redis-key")
    assert group["kmsKeyId"] == key.outputs["arn"]
    assert key.inputs["enableKeyRotation"] is True


def test_auth_token_is_a_generated_secret(recording: Recording) -> None:
    group = redis(recording)
    password = recording.within("platform:index:Cache").one("random:index/randomPassword:RandomPassword")
    assert group.is_secret("authToken")
    assert group.inputs["authToken"] == password.outputs["result"]
    assert password.inputs["length"] >= 32


def test_availability_follows_the_stack(recording: Recording) -> None:
    nodes, multi_az, snapshots, node_type = AVAILABILITY[recording.stack]
    group = redis(recording).inputs
    assert group["numCacheClusters"] == nodes
    assert group["automaticFailoverEnabled"] is multi_az
    assert group["multiAzEnabled"] is multi_az
    assert group["snapshotRetentionLimit"] == snapshots >= 1
    assert group["nodeType"] == node_type


def test_it_is_a_cache_evicting_least_recently_used_keys(recording: Recording) -> None:
    params = recording.one("aws:elasticache/parameterGroup:ParameterGroup")
    assert params.inputs["family"] == "valkey8"
    assert params.inputs["parameters"] == [{"name": "maxmemory-policy", "value": "allkeys-lru"}]
    assert redis(recording).inputs["parameterGroupName"] == params.outputs["name"]


def test_redis_lives_in_the_data_subnets(recording: Recording) -> None:
    subnet_group = recording.one("aws:elasticache/subnetGroup:SubnetGroup")
    assert subnet_group.inputs["subnetIds"] == recording.exports["dataSubnetIds"]
    assert not set(subnet_group.inputs["subnetIds"]) & set(recording.exports["privateSubnetIds"])
    assert redis(recording).inputs["subnetGroupName"] == subnet_group.outputs["name"]


def test_only_the_nodes_reach_6379(recording: Recording) -> None:
    cache = recording.within("platform:index:Cache")
    security_group = cache.one("aws:ec2/securityGroup:SecurityGroup")
    node_sg = recording.one("aws:ec2/securityGroup:SecurityGroup", f"mlp-{recording.stack}-node-sg")
    assert redis(recording).inputs["securityGroupIds"] == [security_group.id]
    assert "ingress" not in security_group.inputs
    rules = [r for r in recording.find(INGRESS) if r.inputs["securityGroupId"] == security_group.id]
    assert [r.inputs for r in rules] == [
        {
            "securityGroupId": security_group.id,
            "referencedSecurityGroupId": node_sg.id,
            "ipProtocol": "tcp",
            "fromPort": 6379,
            "toPort": 6379,
            "description": "Redis from EKS nodes and pods",
            "tags": rules[0].inputs["tags"],
        }
    ]


def test_endpoint_and_port_are_exported(recording: Recording) -> None:
    assert recording.exports["redisEndpoint"] == redis(recording).outputs["primaryEndpointAddress"]
    assert recording.exports["redisPort"] == 6379 == redis(recording).inputs["port"]
