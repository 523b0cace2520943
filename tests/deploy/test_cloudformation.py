"""deploy/cloudformation: cfn-lint clean, secrets only in Secrets Manager, and the stacks deployed
to moto_server's CloudFormation with the intended resources and properties.

moto's CloudFormation does not create AWS::SecretsManager::Secret, SecretTargetAttachment,
AWS::MSK::Cluster nor AWS::SES::EmailIdentity: those are checked by cfn-lint and by reading the
templates (the README lists what moto does not emulate).
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest

from tests.deploy.cloudformation import (
    MOTO_ACCOUNT,
    OIDC_ISSUER,
    Moto,
    load_template,
    policy,
    reset_moto,
    template_paths,
)
from tests.deploy.k8s import ROOT
from tests.deploy.tools import tool

DATABASES = ("Books", "Customers", "Crm")


@pytest.mark.slow  # starts a process
def test_every_template_is_cfn_lint_clean() -> None:
    cfn_lint = tool("cfn-lint")
    assert cfn_lint is not None, "cfn-lint is a dev dependency (pyproject.toml)"
    paths = template_paths()
    assert {p.name for p in paths} == {"network.yaml", "data.yaml", "app.yaml"}
    result = subprocess.run(
        # Informational checks too (e.g. explicit deletion policies on stateful resources).
        [cfn_lint, "--format", "parseable", *map(str, paths), "--include-checks", "I"],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_no_password_is_a_parameter_and_every_master_password_is_a_secrets_manager_reference() -> None:
    for path in template_paths():
        template = load_template(path.name)
        for name, parameter in template.get("Parameters", {}).items():
            assert not re.search("password|secret", name, re.IGNORECASE), (path.name, name)
            assert "NoEcho" not in parameter, (path.name, name)
    data = load_template("data.yaml")
    resources = data["Resources"]
    for db in DATABASES:
        secret = resources[f"{db}Secret"]
        assert secret["Type"] == "AWS::SecretsManager::Secret"
        generated = secret["Properties"]["GenerateSecretString"]
        assert generated["GenerateStringKey"] == "password"
        assert generated["PasswordLength"] >= 32
        writer = resources[f"{db}Writer"]["Properties"]
        for prop, key in (("MasterUsername", "username"), ("MasterUserPassword", "password")):
            assert writer[prop] == {
                "Fn::Sub": f"{{{{resolve:secretsmanager:${{{db}Secret}}:SecretString:{key}}}}}"
            }
        attachment = resources[f"{db}SecretAttachment"]["Properties"]
        assert attachment["TargetId"] == {"Ref": f"{db}Writer"}
        assert resources[f"{db}Writer"]["DeletionPolicy"] == "Snapshot"
        for instance in (writer, resources[f"{db}Replica"]["Properties"]):
            assert instance["VPCSecurityGroups"] == [{"Ref": "DatabaseSecurityGroupId"}]
            assert instance["PubliclyAccessible"] is False


def test_kafka_is_tls_only_and_the_sender_identity_and_role_are_declared() -> None:
    data = load_template("data.yaml")["Resources"]
    kafka = data["Kafka"]["Properties"]
    assert kafka["EncryptionInfo"]["EncryptionInTransit"] == {"ClientBroker": "TLS", "InCluster": True}
    # The services create no topics: the brokers do, replicated.
    assert kafka["ConfigurationInfo"]["Arn"] == {"Ref": "KafkaConfiguration"}
    condition, two_brokers, more = data["KafkaConfiguration"]["Properties"]["ServerProperties"]["Fn::If"]
    assert condition == "TwoBrokers"
    assert "auto.create.topics.enable=true" in two_brokers and "auto.create.topics.enable=true" in more
    assert "default.replication.factor=3" in more and "min.insync.replicas=2" in more
    assert kafka["BrokerNodeGroupInfo"]["SecurityGroups"] == [{"Ref": "BrokerSecurityGroupId"}]
    app = load_template("app.yaml")["Resources"]
    assert app["SenderEmailIdentity"]["Type"] == "AWS::SES::EmailIdentity"
    repository = app["Repository"]["Properties"]
    assert repository["ImageTagMutability"] == "IMMUTABLE"
    assert repository["ImageScanningConfiguration"] == {"ScanOnPush": True}


@pytest.fixture
def moto(moto_server: str) -> Moto:
    """The session's moto_server, emptied (tests that use it reset it before they start)."""
    reset_moto(moto_server)
    return Moto(moto_server)


def deploy_all(moto: Moto) -> dict[str, dict[str, str]]:
    network = moto.create_stack("bookstore-network", "network.yaml")
    data = moto.create_stack(
        "bookstore-data", "data.yaml",
        PrivateSubnetIds=network["PrivateSubnetIds"],
        DatabaseSecurityGroupId=network["DatabaseSecurityGroupId"],
        BrokerSecurityGroupId=network["BrokerSecurityGroupId"],
    )
    app = moto.create_stack("bookstore-app", "app.yaml",
                            SenderIdentity="shop@example.org", OidcIssuer=OIDC_ISSUER)
    return {"network": network, "data": data, "app": app}


def ingress(group: dict[str, Any]) -> list[tuple[str, int, int, list[str], list[str]]]:
    return [
        (p["IpProtocol"], p["FromPort"], p["ToPort"],
         [g["GroupId"] for g in p.get("UserIdGroupPairs", [])],
         [r["CidrIp"] for r in p.get("IpRanges", [])])
        for p in group["IpPermissions"]
    ]


@pytest.mark.slow
def test_stacks_deploy_to_moto_with_the_intended_resources(moto: Moto) -> None:
    outputs = deploy_all(moto)
    network, data, app = outputs["network"], outputs["data"], outputs["app"]
    ec2 = moto.client("ec2")

    # VPC, three AZs, public and private subnets
    (vpc,) = ec2.describe_vpcs(VpcIds=[network["VpcId"]])["Vpcs"]
    assert vpc["CidrBlock"] == "192.168.0.0/16"
    public, private = network["PublicSubnetIds"].split(","), network["PrivateSubnetIds"].split(",")
    assert len(public) == len(private) == 3
    subnets = {s["SubnetId"]: s for s in ec2.describe_subnets(SubnetIds=public + private)["Subnets"]}
    assert all(s["VpcId"] == vpc["VpcId"] for s in subnets.values())
    assert len({subnets[s]["AvailabilityZone"] for s in private}) == 3
    assert [subnets[s]["AvailabilityZone"] for s in public] == [subnets[s]["AvailabilityZone"] for s in private]
    assert not any(subnets[s]["MapPublicIpOnLaunch"] for s in public + private)

    # Routes: the public table to the internet gateway, each private one through the NAT gateway
    # only. (moto keeps CloudFormation's subnet associations out of DescribeRouteTables, so the
    # associations are checked in the template.)
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["RouteTables"]
    default_route = {
        t["RouteTableId"]: next(r for r in t["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0")
        for t in tables if len(t["Routes"]) > 1
    }
    ids = moto.physical_ids("bookstore-network")
    (gateway,) = ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])["InternetGateways"]
    (nat,) = ec2.describe_nat_gateways()["NatGateways"]  # NatGateways=single by default
    assert nat["SubnetId"] == public[0]
    assert default_route[ids["PublicRouteTable"]]["GatewayId"] == gateway["InternetGatewayId"]
    assert len(default_route) == 4
    for az in "ABC":
        route = default_route[ids[f"PrivateRouteTable{az}"]]
        assert (route.get("NatGatewayId"), route.get("GatewayId")) == (nat["NatGatewayId"], None)
    associations = {
        r["Properties"]["SubnetId"]["Ref"]: r["Properties"]["RouteTableId"]["Ref"]
        for r in load_template("network.yaml")["Resources"].values()
        if r["Type"] == "AWS::EC2::SubnetRouteTableAssociation"
    }
    assert associations == {
        **{f"PublicSubnet{az}": "PublicRouteTable" for az in "ABC"},
        **{f"PrivateSubnet{az}": f"PrivateRouteTable{az}" for az in "ABC"},
    }

    # Security groups: databases and brokers admit the nodes' group only, on their port only
    groups = {g["GroupId"]: g for g in ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["SecurityGroups"]}
    nodes = network["NodeSecurityGroupId"]
    assert ingress(groups[network["DatabaseSecurityGroupId"]]) == [("tcp", 3306, 3306, [nodes], [])]
    assert ingress(groups[network["BrokerSecurityGroupId"]]) == [("tcp", 9094, 9094, [nodes], [])]

    # RDS: per database a Multi-AZ encrypted private writer and a read replica of it
    instances = {i["Endpoint"]["Address"]: i for i in moto.client("rds").describe_db_instances()["DBInstances"]}
    assert len(instances) == 6
    for db, name in zip(DATABASES, ("books", "customers", "crm"), strict=True):
        writer = instances[data[f"{db}WriterEndpoint"]]
        reader = instances[data[f"{db}ReaderEndpoint"]]
        assert writer is not reader
        assert (writer["Engine"], writer["DBName"], writer["MultiAZ"]) == ("mysql", name, True)
        assert writer["StorageEncrypted"] and not writer["PubliclyAccessible"]
        assert writer["DBInstanceClass"] == "db.t4g.medium"
        # (moto's CloudFormation ignores VPCSecurityGroups: checked in the template test)
        assert {s["SubnetIdentifier"] for s in writer["DBSubnetGroup"]["Subnets"]} == set(private)
        assert reader["ReadReplicaSourceDBInstanceIdentifier"] == writer["DBInstanceIdentifier"]
        assert writer["ReadReplicaDBInstanceIdentifiers"] == [reader["DBInstanceIdentifier"]]
        assert data[f"{db}Port"] == "3306"
        assert data[f"{db}SecretName"] == f"bookstore-data/{name}-db"
    assert data["KafkaClusterName"] == "bookstore-data-kafka"

    # ECR repository
    (repository,) = moto.client("ecr").describe_repositories(repositoryNames=["bookstore"])["repositories"]
    assert repository["imageTagMutability"] == "IMMUTABLE"
    # (moto drops CloudFormation's ImageScanningConfiguration: checked in the template test)
    assert app["RepositoryUri"] == repository["repositoryUri"]

    # IRSA role: only the crm service account of book-store, through the cluster's OIDC provider
    iam = moto.client("iam")
    role = iam.get_role(RoleName="bookstore-crm-ses")["Role"]
    assert app["CrmRoleArn"] == role["Arn"] == f"arn:aws:iam::{MOTO_ACCOUNT}:role/bookstore-crm-ses"
    (trust,) = policy(role["AssumeRolePolicyDocument"])["Statement"]
    assert trust["Principal"] == {"Federated": f"arn:aws:iam::{MOTO_ACCOUNT}:oidc-provider/{OIDC_ISSUER}"}
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert trust["Condition"]["StringEquals"] == {
        f"{OIDC_ISSUER}:sub": "system:serviceaccount:book-store:crm",
        f"{OIDC_ISSUER}:aud": "sts.amazonaws.com",
    }
    (policy_name,) = iam.list_role_policies(RoleName="bookstore-crm-ses")["PolicyNames"]
    (statement,) = policy(iam.get_role_policy(
        RoleName="bookstore-crm-ses", PolicyName=policy_name)["PolicyDocument"])["Statement"]
    assert sorted(statement["Action"]) == ["ses:SendEmail", "ses:SendRawEmail"]
    assert statement["Resource"] == [
        f"arn:aws:ses:us-east-1:{MOTO_ACCOUNT}:identity/shop@example.org",
        f"arn:aws:ses:us-east-1:{MOTO_ACCOUNT}:configuration-set/*",
    ]


@pytest.mark.slow
def test_smaller_settings_for_a_test_environment(moto: Moto) -> None:
    """Two AZs, no replicas, no Multi-AZ, small classes: what the README suggests for testing."""
    network = moto.create_stack("small-network", "network.yaml", AzCount="2")
    assert len(network["PrivateSubnetIds"].split(",")) == 2
    data = moto.create_stack(
        "small-data", "data.yaml",
        PrivateSubnetIds=network["PrivateSubnetIds"],
        DatabaseSecurityGroupId=network["DatabaseSecurityGroupId"],
        BrokerSecurityGroupId=network["BrokerSecurityGroupId"],
        DbReadReplicas="false", DbMultiAz="false", DbInstanceClass="db.t4g.micro",
        KafkaInstanceType="kafka.t3.small", KafkaBrokerCount="2",
    )
    instances = moto.client("rds").describe_db_instances()["DBInstances"]
    assert len(instances) == 3
    assert {(i["DBInstanceClass"], i["MultiAZ"]) for i in instances} == {("db.t4g.micro", False)}
    for db in DATABASES:
        assert data[f"{db}ReaderEndpoint"] == data[f"{db}WriterEndpoint"]


def test_the_readme_cost_table_states_the_template_defaults() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("**Cost-relevant defaults**"):readme.index("**Tests**")]
    network = {k: str(v.get("Default")) for k, v in load_template("network.yaml")["Parameters"].items()}
    data = {k: str(v.get("Default")) for k, v in load_template("data.yaml")["Parameters"].items()}
    assert f"| Availability Zones | {network['AzCount']} |" in table
    assert f"`NatGateways={network['NatGateways']}`" in table
    assert f"3 × `{data['DbInstanceClass']}`, Multi-AZ" in table and data["DbMultiAz"] == "true"
    assert f"3 × `{data['DbReplicaInstanceClass']}`" in table and data["DbReadReplicas"] == "true"
    assert f"{data['DbAllocatedStorage']} GiB gp3 each, grows to {data['DbMaxAllocatedStorage']}" in table
    assert f"{data['KafkaBrokerCount']} × `{data['KafkaInstanceType']}`, {data['KafkaVolumeGiB']} GiB each" in table
    # Every smaller choice the table suggests is a parameter of the templates.
    suggested = set(re.findall(r"([A-Z][A-Za-z]+)=[\w.-]+", table)) - {"NETWORK_PARAMETERS", "DATA_PARAMETERS"}
    assert suggested <= set(network) | set(data), suggested - set(network) - set(data)
