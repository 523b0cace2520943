"""scripts/deploy.sh --create-infra and --destroy.

The dry runs use the recording fakes of test_deploy_script. The real runs use the real AWS CLI
against moto_server (stacks, outputs, Secrets Manager, EKS, MSK lookups) with fake docker,
kubectl and eksctl that record what they were given and succeed. moto cannot stand in for
three things, which the test provides as plainly marked stand-ins: the secrets (moto's
CloudFormation skips AWS::SecretsManager::Secret, so the test stores them under the names the
template gives them), the MSK cluster (skipped likewise: created through moto's Kafka API) and
GetBootstrapBrokers (not implemented by moto: the aws wrapper answers it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from tests.deploy.cloudformation import MOTO_ACCOUNT, MOTO_REGION, Moto, reset_moto
from tests.deploy.deploy_script import (
    SCRIPT,
    SECRET_VALUES,
    VERSION,
    deploy_env,
    fake_tools,  # noqa: F401 - fixture
    run_script,
)
from tests.deploy.k8s import KUBECTL, config_data, containers, find, pod_spec, render, workloads

pytestmark = pytest.mark.slow  # every test starts a process


def real_aws() -> str | None:
    """The AWS CLI's own script: a pyenv shim costs a shell and pyenv on each of many calls."""
    found = shutil.which("aws")
    if found and "/shims/" in found and (pyenv := shutil.which("pyenv")):
        resolved = subprocess.run([pyenv, "which", "aws"], capture_output=True, text=True, check=False)
        if resolved.returncode == 0:
            return resolved.stdout.strip()
    return found


REAL_AWS = real_aws()
BROKERS = ("b-1.bookstore-data-kafka.x1y2z3.c2.kafka.us-east-1.amazonaws.com:9094,"
           "b-2.bookstore-data-kafka.x1y2z3.c2.kafka.us-east-1.amazonaws.com:9094")
# Characters a generated password may not have (the template excludes them) still work.
DB_PASSWORDS = {"books": "Bk-pa55:w/rd@1", "customers": "Cu-pa55%w0rd", "crm": "Crm-pa55 word"}


def infra_env(**overrides: str) -> dict[str, str]:
    """deploy_env without what --create-infra reads from the stacks."""
    env = deploy_env(**overrides)
    for name in ("BOOK_DATABASE_URL", "CUSTOMER_DATABASE_URL", "CRM_DATABASE_URL",
                 "KAFKA_BOOTSTRAP_SERVERS"):
        env.pop(name, None)
    return env


def in_order(text: str, fragments: list[str]) -> None:
    position = -1
    for fragment in fragments:
        found = text.find(fragment, position + 1)
        assert found > position, f"{fragment!r} missing or out of order"
        position = found


def test_dry_run_create_infra_prints_the_stacks_before_the_cluster_and_reads_their_outputs(
    fake_tools: tuple[Path, Path], tmp_path: Path  # noqa: F811
) -> None:
    bin_dir, calls = fake_tools
    work = tmp_path / "work"
    env = infra_env(DEPLOY_WORKDIR=str(work), DATA_PARAMETERS="DbInstanceClass=db.t4g.micro DbReadReplicas=false")
    result = run_script(["--dry-run", "--create-infra", "--create-cluster", "--version", VERSION,
                         "--skip-smoke"], env, bin_dir)
    assert result.returncode == 0, result.stderr
    assert calls.read_text() == "", "dry run executed a tool"
    out = result.stdout
    in_order(out, [
        "aws cloudformation create-stack --region eu-west-1 --stack-name bookstore-network",
        "--stack-name bookstore-network --query Stacks\\[0\\].Outputs",
        "parameters: PrivateSubnetIds=<bookstore-network.PrivateSubnetIds> "
        "DatabaseSecurityGroupId=<bookstore-network.DatabaseSecurityGroupId> "
        "BrokerSecurityGroupId=<bookstore-network.BrokerSecurityGroupId> "
        "DbInstanceClass=db.t4g.micro DbReadReplicas=false",
        "aws cloudformation create-stack --region eu-west-1 --stack-name bookstore-data",
        f"eksctl create cluster --config-file {work / 'eksctl-cluster.yaml'}",
        "aws eks describe-cluster --region eu-west-1 --name bookstore --query cluster.identity.oidc.issuer",
        "SenderIdentity=shop@example.org OidcIssuer=<bookstore-oidc-issuer> CrmRoleName=bookstore-crm-ses",
        "aws cloudformation create-stack --region eu-west-1 --stack-name bookstore-app",
        "aws secretsmanager batch-get-secret-value --region eu-west-1 --secret-id-list "
        "\\<bookstore-data.BooksSecretName\\> \\<bookstore-data.CustomersSecretName\\> "
        "\\<bookstore-data.CrmSecretName\\>",
        "aws kafka get-bootstrap-brokers",
        "docker build",
        "kubectl create secret generic svc-book-db --namespace book-store "
        "--from-env-file=<(DATABASE_URL=*** DATABASE_READ_URL=***)",
        "kubectl create secret generic crm-db",
        f"kubectl apply -k {work}",
    ])
    assert "aws ecr create-repository" not in out  # the -app stack owns the repository
    parameters = json.loads((work / "bookstore-data.parameters.json").read_text())
    assert {"ParameterKey": "DbReadReplicas", "ParameterValue": "false"} in parameters
    config = yaml.safe_load((work / "eksctl-cluster.yaml").read_text())
    assert config["vpc"]["id"] == "<bookstore-network.VpcId>"
    assert "serviceAccounts" not in config["iam"] and config["iam"]["withOIDC"] is True


def test_create_infra_needs_no_database_or_broker_settings_but_plain_deploys_do(
    fake_tools: tuple[Path, Path],  # noqa: F811
) -> None:
    bin_dir, calls = fake_tools
    plain = run_script(["--dry-run", "--version", VERSION], infra_env(), bin_dir)
    assert plain.returncode == 2 and "BOOK_DATABASE_URL" in plain.stderr
    bad_read = run_script(["--dry-run", "--version", VERSION],
                          deploy_env(CRM_DATABASE_READ_URL="postgres://x@y/z"), bin_dir)
    assert bad_read.returncode == 2 and "CRM_DATABASE_READ_URL" in bad_read.stderr
    bad_parameter = run_script(["--dry-run", "--create-infra", "--version", VERSION],
                               infra_env(NETWORK_PARAMETERS="AzCount"), bin_dir)
    assert bad_parameter.returncode == 2 and "Key=Value" in bad_parameter.stderr
    assert calls.read_text() == ""


def test_read_urls_given_by_hand_go_into_the_database_secrets(
    fake_tools: tuple[Path, Path], tmp_path: Path  # noqa: F811
) -> None:
    bin_dir, _calls = fake_tools
    env = deploy_env(BOOK_DATABASE_READ_URL="mysql+aiomysql://books:x@replica.internal:3306/books")
    result = run_script(["--dry-run", "--version", VERSION, "--skip-smoke"], env, bin_dir)
    assert result.returncode == 0, result.stderr
    assert "svc-book-db --namespace book-store --from-env-file=<(DATABASE_URL=*** DATABASE_READ_URL=***)" in result.stdout
    assert "svc-customer-db --namespace book-store --from-env-file=<(DATABASE_URL=***)" in result.stdout


def test_dry_run_destroy_deletes_in_dependency_order_without_asking(
    fake_tools: tuple[Path, Path],  # noqa: F811
) -> None:
    bin_dir, calls = fake_tools
    env = {"PATH": os.environ["PATH"], "AWS_REGION": "eu-west-1", "CLUSTER_NAME": "shop"}
    result = run_script(["--destroy", "--dry-run"], env, bin_dir)
    assert result.returncode == 0, result.stderr
    assert calls.read_text() == ""
    in_order(result.stdout, [
        "kubectl delete namespace book-store",
        "eksctl delete cluster --name shop --region eu-west-1 --wait",
        "delete-stack --region eu-west-1 --stack-name shop-app",
        "wait stack-delete-complete --region eu-west-1 --stack-name shop-app",
        "delete-stack --region eu-west-1 --stack-name shop-data",
        "delete-stack --region eu-west-1 --stack-name shop-network",
    ])


def test_destroy_without_confirmation_deletes_nothing(fake_tools: tuple[Path, Path]) -> None:  # noqa: F811
    bin_dir, calls = fake_tools
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "AWS_REGION": "eu-west-1"}
    result = subprocess.run(
        ["bash", "scripts/deploy.sh", "--destroy"], input="bookstore-typo\n", capture_output=True,
        text=True, env=env, timeout=60, check=False, cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 2
    assert "not confirmed" in result.stderr
    assert calls.read_text() == ""


# --- against moto_server


@pytest.fixture
def aws_tools(tmp_path: Path) -> tuple[Path, Path]:
    """The real aws CLI (one call moto lacks answered), and docker, kubectl, eksctl that record
    their arguments (and the Secret env files and eksctl config they are given) and succeed."""
    assert REAL_AWS is not None, "the AWS CLI is installed by scripts/install-test-tools.sh"
    bin_dir, record = tmp_path / "bin", tmp_path / "record"
    bin_dir.mkdir()
    record.mkdir()
    calls = record / "calls.log"
    calls.touch()
    scripts = {
        "aws": f"""#!/bin/sh
echo "aws $*" >> "{calls}"
if [ "$1 $2" = "kafka get-bootstrap-brokers" ]; then echo "{BROKERS}"; exit 0; fi
exec "{REAL_AWS}" "$@"
""",
        "docker": f'#!/bin/sh\necho "docker $*" >> "{calls}"\ncat >/dev/null\nexit 0\n',
        "eksctl": f"""#!/bin/sh
echo "eksctl $*" >> "{calls}"
[ "$2 $3" = "cluster --config-file" ] && cp "$4" "{record}/eksctl-cluster.yaml"
exit 0
""",
        "kubectl": f"""#!/bin/sh
echo "kubectl $*" >> "{calls}"
case "$*" in
  "create secret generic "*)
    for arg in "$@"; do
      case "$arg" in --from-env-file=*) cp "${{arg#--from-env-file=}}" "{record}/$4.env" ;; esac
    done
    echo "kind: Secret" ;;
  "apply --filename -") cat >/dev/null ;;
esac
exit 0
""",
    }
    for name, text in scripts.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return bin_dir, record


def moto_env(moto: Moto, work: Path, **overrides: str) -> dict[str, str]:
    # HOME and KUBECONFIG: `aws eks update-kubeconfig` (--destroy) writes the kubeconfig.
    return infra_env(
        HOME=str(work), KUBECONFIG=str(work / "kubeconfig"),
        AWS_ENDPOINT_URL=moto.endpoint_url, AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing", AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_REGION=MOTO_REGION,
        AWS_ACCOUNT_ID=MOTO_ACCOUNT, DEPLOY_WORKDIR=str(work),
        TLS_CERT_ARN=f"arn:aws:acm:{MOTO_REGION}:{MOTO_ACCOUNT}:certificate/0123abcd-4567-89ef-0123-456789abcdef",
        **overrides,
    )


def run_against_moto(args: list[str], env: dict[str, str], bin_dir: Path) -> subprocess.CompletedProcess[str]:
    """Like run_script, with time for some 30 AWS CLI calls (each starts a Python)."""
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=300, check=False,
        env={**env, "PATH": f"{bin_dir}:{env['PATH']}"},
    )


def stand_ins(moto: Moto) -> None:
    """What moto's CloudFormation does not create, named as the templates name it, and the
    cluster eksctl (a fake here) would have created."""
    secrets = moto.client("secretsmanager")
    for name, password in DB_PASSWORDS.items():
        secrets.create_secret(Name=f"bookstore-data/{name}-db", SecretString=json.dumps(
            {"username": f"{name}_admin", "password": password}))
    moto.client("kafka").create_cluster_v2(ClusterName="bookstore-data-kafka", Serverless={
        "VpcConfigs": [{"SubnetIds": ["subnet-1"]}]})
    moto.client("eks").create_cluster(
        name="bookstore", roleArn=f"arn:aws:iam::{MOTO_ACCOUNT}:role/eks",
        resourcesVpcConfig={"subnetIds": ["subnet-1"]})


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(KUBECTL is None, reason="kubectl (kustomize) not installed")
def test_create_infra_against_moto_feeds_the_outputs_and_secrets_to_the_deployment(
    moto_server: str, aws_tools: tuple[Path, Path], tmp_path: Path
) -> None:
    reset_moto(moto_server)
    moto = Moto(moto_server)
    stand_ins(moto)
    bin_dir, record = aws_tools
    work = tmp_path / "work"
    result = run_against_moto(["--create-infra", "--create-cluster", "--version", VERSION, "--skip-build",
                               "--skip-smoke"], moto_env(moto, work), bin_dir)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr

    network, data, app = (moto.outputs(f"bookstore-{s}") for s in ("network", "data", "app"))
    # Every database Secret holds the writer and the reader URL with the stored credentials.
    for secret, name, output in (("svc-book-db", "books", "Books"),
                                 ("svc-customer-db", "customers", "Customers"), ("crm-db", "crm", "Crm")):
        values = dict(line.split("=", 1) for line in (record / f"{secret}.env").read_text().splitlines())
        credentials = f"{name}_admin:{quote(DB_PASSWORDS[name], safe='')}"
        assert values == {
            "DATABASE_URL": f"mysql+aiomysql://{credentials}@{data[output + 'WriterEndpoint']}:3306/{name}",
            "DATABASE_READ_URL": f"mysql+aiomysql://{credentials}@{data[output + 'ReaderEndpoint']}:3306/{name}",
        }
        assert data[output + "WriterEndpoint"] != data[output + "ReaderEndpoint"]
    # The cluster goes into the stacks' VPC, its nodes into the group the data tier admits.
    config = yaml.safe_load((record / "eksctl-cluster.yaml").read_text())
    assert config["vpc"] == {"id": network["VpcId"], "subnets": {
        "private": {f"private-{i}": {"id": s} for i, s in enumerate(network["PrivateSubnetIds"].split(","), 1)},
        "public": {f"public-{i}": {"id": s} for i, s in enumerate(network["PublicSubnetIds"].split(","), 1)},
    }}
    (nodes,) = config["managedNodeGroups"]
    assert nodes["securityGroups"] == {"attachIDs": [network["NodeSecurityGroupId"]]}
    assert config["iam"] == {"withOIDC": True}
    # The kustomization deploys the stack's repository's image with its role and the brokers.
    resources = render(work)
    config_map = config_data(resources)
    assert config_map["KAFKA_BOOTSTRAP_SERVERS"] == BROKERS
    role = find(resources, "ServiceAccount", "crm")["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert role == app["CrmRoleArn"]
    images = {c["image"] for w in workloads(resources) for c in containers(pod_spec(w))}
    assert images == {f"{app['RepositoryUri']}:{VERSION}"}
    trust = moto.client("iam").get_role(RoleName="bookstore-crm-ses")["Role"]["AssumeRolePolicyDocument"]
    issuer = moto.client("eks").describe_cluster(name="bookstore")["cluster"]["identity"]["oidc"]["issuer"]
    assert trust["Statement"][0]["Principal"]["Federated"].endswith(issuer.removeprefix("https://"))
    for secret in (*DB_PASSWORDS.values(), quote(DB_PASSWORDS["books"], safe=""), SECRET_VALUES[3]):
        assert secret not in result.stdout and secret not in result.stderr


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_destroy_against_moto_deletes_namespace_cluster_and_stacks_in_order(
    moto_server: str, aws_tools: tuple[Path, Path], tmp_path: Path
) -> None:
    reset_moto(moto_server)
    moto = Moto(moto_server)
    network = moto.create_stack("bookstore-network", "network.yaml")
    moto.create_stack(
        "bookstore-data", "data.yaml", DbReadReplicas="false",
        PrivateSubnetIds=network["PrivateSubnetIds"],
        DatabaseSecurityGroupId=network["DatabaseSecurityGroupId"],
        BrokerSecurityGroupId=network["BrokerSecurityGroupId"],
    )
    moto.create_stack("bookstore-app", "app.yaml", SenderIdentity="shop@example.org",
                      OidcIssuer="oidc.eks.us-east-1.amazonaws.com/id/ABC")
    moto.client("eks").create_cluster(
        name="bookstore", roleArn=f"arn:aws:iam::{MOTO_ACCOUNT}:role/eks",
        resourcesVpcConfig={"subnetIds": network["PrivateSubnetIds"].split(",")})
    bin_dir, record = aws_tools
    work = tmp_path / "work"
    work.mkdir()
    destroyed = run_against_moto(["--destroy", "--yes"], moto_env(moto, work), bin_dir)

    # moto's CloudFormation cannot delete NAT gateways, route tables, Elastic IPs and internet
    # gateways, so deleting the network stack stops at the VPC's dependencies there: the one
    # failure accepted.
    if destroyed.returncode != 0:
        assert "DependencyViolation" in destroyed.stderr and "vpc-" in destroyed.stderr, destroyed.stderr
    stacks = {s["StackName"]: s["StackStatus"] for s in moto.client("cloudformation").list_stacks()["StackSummaries"]}
    assert stacks["bookstore-app"] == stacks["bookstore-data"] == "DELETE_COMPLETE"
    assert moto.client("rds").describe_db_instances()["DBInstances"] == []
    assert moto.client("ecr").describe_repositories()["repositories"] == []
    assert moto.client("iam").list_roles()["Roles"] == []
    in_order((record / "calls.log").read_text(), [
        "aws eks update-kubeconfig --name bookstore --region us-east-1",
        "kubectl delete namespace book-store",
        "eksctl delete cluster --name bookstore --region us-east-1 --wait",
        "aws cloudformation delete-stack --region us-east-1 --stack-name bookstore-app",
        "aws cloudformation delete-stack --region us-east-1 --stack-name bookstore-data",
        "aws cloudformation delete-stack --region us-east-1 --stack-name bookstore-network",
    ])
    assert (work / "kubeconfig").exists()  # not the user's


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_an_existing_stack_is_updated_in_place(moto_server: str, aws_tools: tuple[Path, Path], tmp_path: Path) -> None:
    """deploy_stack: create-stack answers AlreadyExists, so update-stack with the new parameters."""
    reset_moto(moto_server)
    moto = Moto(moto_server)
    moto.create_stack("bookstore-app", "app.yaml", SenderIdentity="shop@example.org",
                      OidcIssuer="oidc.eks.us-east-1.amazonaws.com/id/OLD")
    bin_dir, _record = aws_tools
    env = {**moto_env(moto, tmp_path), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", "-c", f'source "{SCRIPT}" && AWS_REGION={MOTO_REGION} CLUSTER_NAME=bookstore '
         f'WORKDIR="{tmp_path}" && deploy_stack bookstore-app app.yaml SenderIdentity=shop@example.org '
         "OidcIssuer=oidc.eks.us-east-1.amazonaws.com/id/NEW"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "aws cloudformation update-stack" in result.stdout
    # (moto's update keeps the role's old trust policy, so the stack's parameters are checked)
    (stack,) = moto.client("cloudformation").describe_stacks(StackName="bookstore-app")["Stacks"]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert parameters["OidcIssuer"] == "oidc.eks.us-east-1.amazonaws.com/id/NEW"
