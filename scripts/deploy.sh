#!/usr/bin/env bash
# Deploy the bookstore to Amazon EKS.
#
#   scripts/deploy.sh [--dry-run] [--create-infra] [--create-cluster] [--version TAG]
#                     [--skip-build] [--skip-smoke] [--full-smoke]
#   scripts/deploy.sh --destroy [--yes] [--dry-run]
#
# Steps: (--create-infra) deploy or update the CloudFormation stacks of deploy/cloudformation
# (<stack prefix>-network: VPC, subnets, NAT, security groups; -data: RDS writer + read replica
# per database with passwords generated in Secrets Manager, MSK over TLS), (optionally) create
# the cluster from deploy/eksctl-cluster.yaml (with --create-infra: in that VPC, its nodes in
# the security group the databases and brokers admit), point kubectl at it, (--create-infra)
# deploy the -app stack (ECR repository, SES identity, the CRM's IRSA role) and read every
# endpoint from the stack outputs and the database passwords from Secrets Manager; otherwise
# create the ECR repository. Then build and push the image tagged with the version, install
# metrics-server when missing, write the Secrets from the environment, apply
# manifests/overlays/eks (wrapped in a generated kustomization that sets the image, the IRSA
# role and the per-environment settings), wait for the migration Job and the rollouts, and
# smoke-test both BFFs through their load balancers.
#
# --destroy tears it all down after a confirmation (type the cluster name; --yes skips it):
# the namespace (so that its load balancers go), the cluster, then the -app, -data (final DB
# snapshots are kept) and -network stacks, each waited for.
#
# --dry-run prints every command instead of running it: nothing touches AWS, Docker or the
# cluster (with --create-infra the stack outputs print as <placeholders>). It still writes the
# generated kustomization (no secrets in it) to the work directory (kept when DEPLOY_WORKDIR is
# given) and prints it; Secret values print as ***.
#
# Environment (required):
#   AWS_ACCOUNT_ID, AWS_REGION
#   JWT_SECRET               HS256 key of the BFFs, at least 32 bytes; during a rotation
#                            "kid:new,kid:old" (docs/KEY_ROTATION.md); the smoke test signs
#                            with the first
#   MAIL_FROM                an SES-verified sender, e.g. "Book Store <no-reply@example.com>"
#   RECOMMENDER_URL          the recommendation engine's base URL
#   TLS_CERT_ARN             ACM certificate of the BFF load balancers' HTTPS listeners (443;
#                            there is no plain-HTTP listener). A dry run without it warns
#                            loudly and renders the overlay's placeholder.
# and, without --create-infra (which reads them from the stacks):
#   BOOK_DATABASE_URL        mysql+aiomysql://user:pass@<RDS writer endpoint>:3306/books
#   CUSTOMER_DATABASE_URL    mysql+aiomysql://user:pass@<RDS writer endpoint>:3306/customers
#   CRM_DATABASE_URL         mysql+aiomysql://user:pass@<RDS writer endpoint>:3306/crm
#   KAFKA_BOOTSTRAP_SERVERS  MSK TLS brokers, b-1....:9094,b-2....:9094
# Environment (optional):
#   BOOK_DATABASE_READ_URL, CUSTOMER_DATABASE_READ_URL, CRM_DATABASE_READ_URL: the read
#     replicas (with --create-infra: from the stacks), passed as DATABASE_READ_URL,
#   STACK_PREFIX (CLUSTER_NAME): the stacks are <prefix>-network, <prefix>-data, <prefix>-app,
#   NETWORK_PARAMETERS, DATA_PARAMETERS, APP_PARAMETERS: "Key=Value ..." template parameters
#     (e.g. DATA_PARAMETERS="DbInstanceClass=db.t4g.micro DbReadReplicas=false"),
#   SES_IDENTITY (the address in MAIL_FROM): the SES identity the -app stack creates,
#   CLUSTER_NAME (bookstore), ECR_REPOSITORY (bookstore), VERSION (default: git describe),
#   CRM_ROLE_ARN (arn:aws:iam::<account>:role/<cluster>-crm-ses), PLATFORM (linux/amd64),
#   SMTP_USERNAME, SMTP_PASSWORD (only with MAIL_BACKEND=smtp), DEPLOY_WORKDIR (temp dir),
#   ROLLOUT_TIMEOUT (300s), METRICS_SERVER_VERSION (v0.7.2), PYTHON (python3),
#   PROMETHEUS_OPERATOR_VERSION (v0.77.1: CRDs installed when the cluster lacks them),
#   and these settings, passed to the pods' ConfigMap when set: MAIL_BACKEND, STORE_OWNER,
#   SES_CONFIGURATION_SET, SMTP_HOST, SMTP_PORT, SMTP_SECURITY, KAFKA_SECURITY_PROTOCOL,
#   KAFKA_CUSTOMER_TOPIC, JWT_ISSUER, JWT_ALLOWED_SUBJECTS, RECOMMENDER_TIMEOUT_S,
#   BREAKER_RESET_S, LOG_LEVEL, WORKERS, RATE_LIMIT_READS, RATE_LIMIT_WRITES,
#   RATE_LIMIT_SIGNUPS, CORS_ALLOW_ORIGINS, READ_MAX_LAG_S, DB_HEALTH_INTERVAL_S.
set -euo pipefail

readonly NAMESPACE=book-store
readonly DEPLOYMENTS=(svc-book svc-customer crm bff-book bff-customer)
readonly MIGRATION_JOB=bookstore-migrate
# The image name manifests/overlays/eks sets as a placeholder; replaced with the ECR image.
readonly EKS_PLACEHOLDER_IMAGE=000000000000.dkr.ecr.us-east-1.amazonaws.com/bookstore
# Database owners: environment prefix and the -data stack's output prefix.
readonly DATABASE_PREFIXES=(BOOK CUSTOMER CRM)
declare -rA DATABASE_OUTPUT=([BOOK]=Books [CUSTOMER]=Customers [CRM]=Crm)
readonly PASSTHROUGH_SETTINGS=(MAIL_BACKEND STORE_OWNER SES_CONFIGURATION_SET SMTP_HOST SMTP_PORT
  SMTP_SECURITY KAFKA_SECURITY_PROTOCOL KAFKA_CUSTOMER_TOPIC JWT_ISSUER JWT_ALLOWED_SUBJECTS
  RECOMMENDER_TIMEOUT_S BREAKER_RESET_S LOG_LEVEL WORKERS RATE_LIMIT_READS RATE_LIMIT_WRITES
  RATE_LIMIT_SIGNUPS CORS_ALLOW_ORIGINS READ_MAX_LAG_S DB_HEALTH_INTERVAL_S)

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DRY_RUN=0
CREATE_INFRA=0
CREATE_CLUSTER=0
DESTROY=0
ASSUME_YES=0
SKIP_BUILD=0
SKIP_SMOKE=0
FULL_SMOKE=0
SECRET_DIR=""
OWN_WORKDIR=""
LB_HOST=""

die() {
  printf 'deploy.sh: %s\n' "$*" >&2
  exit 2
}

step() {
  printf '\n==> %s\n' "$*"
}

# Print a command, shell-quoted, as it will run.
show() {
  printf '+'
  printf ' %q' "$@"
  printf '\n'
}

# Print a pipeline or compound command given as display text (secrets already masked).
show_text() {
  printf '+ %s\n' "$*"
}

run() {
  show "$@"
  if ((!DRY_RUN)); then
    "$@"
  fi
}

usage() {
  sed -n '2,/^set -euo pipefail/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

cleanup() {
  if [[ -n "$SECRET_DIR" ]]; then
    rm -rf "$SECRET_DIR"
  fi
  if [[ -n "$OWN_WORKDIR" ]]; then
    rm -rf "$OWN_WORKDIR"
  fi
}

require_env() {
  local name
  for name in "$@"; do
    [[ -n "${!name:-}" ]] || die "environment variable $name is required (see the header of scripts/deploy.sh)"
    [[ "${!name}" != *$'\n'* ]] || die "$name must be a single line"
  done
}

# database_var PREFIX SUFFIX: the value of ${PREFIX}_DATABASE_${SUFFIX}, empty when unset.
database_var() {
  local name="${1}_DATABASE_${2}"
  printf '%s' "${!name:-}"
}

check_database_url() {
  local name=$1
  case "${!name}" in
    mysql+aiomysql://*@*/* | mariadb+aiomysql://*@*/*) ;;
    *) die "$name must look like mysql+aiomysql://user:password@host:3306/database" ;;
  esac
}

parse_args() {
  while (($#)); do
    case "$1" in
      --dry-run) DRY_RUN=1 ;;
      --create-infra) CREATE_INFRA=1 ;;
      --create-cluster) CREATE_CLUSTER=1 ;;
      --destroy) DESTROY=1 ;;
      --yes) ASSUME_YES=1 ;;
      --skip-build) SKIP_BUILD=1 ;;
      --skip-smoke) SKIP_SMOKE=1 ;;
      --full-smoke) FULL_SMOKE=1 ;;
      --version)
        (($# >= 2)) || die "--version needs a value"
        VERSION=$2
        shift
        ;;
      --version=*) VERSION=${1#--version=} ;;
      -h | --help)
        usage
        exit 0
        ;;
      *) die "unknown argument: $1 (try --help)" ;;
    esac
    shift
  done
  if ((DESTROY && (CREATE_INFRA || CREATE_CLUSTER))); then
    die "--destroy does not go with --create-infra or --create-cluster"
  fi
}

# What --destroy needs too: region, cluster and stack names.
configure_names() {
  require_env AWS_REGION
  [[ "$AWS_REGION" =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]] || die "AWS_REGION looks wrong: $AWS_REGION"
  CLUSTER_NAME=${CLUSTER_NAME:-bookstore}
  [[ "$CLUSTER_NAME" =~ ^[A-Za-z][A-Za-z0-9-]{0,99}$ ]] || die "CLUSTER_NAME looks wrong: $CLUSTER_NAME"
  STACK_PREFIX=${STACK_PREFIX:-$CLUSTER_NAME}
  [[ "$STACK_PREFIX" =~ ^[A-Za-z][A-Za-z0-9-]{0,100}$ ]] || die "STACK_PREFIX looks wrong: $STACK_PREFIX"
  PYTHON=${PYTHON:-python3}
}

configure() {
  configure_names
  require_env AWS_ACCOUNT_ID JWT_SECRET MAIL_FROM RECOMMENDER_URL
  [[ "$AWS_ACCOUNT_ID" =~ ^[0-9]{12}$ ]] || die "AWS_ACCOUNT_ID must be 12 digits"
  local prefix
  if ((!CREATE_INFRA)); then
    require_env BOOK_DATABASE_URL CUSTOMER_DATABASE_URL CRM_DATABASE_URL KAFKA_BOOTSTRAP_SERVERS
    for prefix in "${DATABASE_PREFIXES[@]}"; do
      check_database_url "${prefix}_DATABASE_URL"
      if [[ -n "$(database_var "$prefix" READ_URL)" ]]; then
        require_env "${prefix}_DATABASE_READ_URL"
        check_database_url "${prefix}_DATABASE_READ_URL"
      fi
    done
  fi
  # The BFFs refuse to start with a shorter or monotonous HS256 key (libcommon.jwt_auth:
  # MIN_SECRET_BYTES, MIN_SECRET_DISTINCT_BYTES): fail here, before anything is deployed.
  ((${#JWT_SECRET} >= 32)) || die "JWT_SECRET must be at least 32 bytes"
  (($(printf %s "$JWT_SECRET" | od -An -v -tx1 | tr -s ' ' '\n' | sed '/^$/d' | sort -u | wc -l) >= 16)) ||
    die "JWT_SECRET must contain at least 16 distinct bytes"

  if [[ -n "${TLS_CERT_ARN:-}" ]]; then
    [[ "$TLS_CERT_ARN" =~ ^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$ ]] ||
      die "TLS_CERT_ARN must be an ACM certificate ARN: arn:aws:acm:<region>:<account>:certificate/<id>"
  elif ((!DRY_RUN)); then
    die "TLS_CERT_ARN is required: the BFF load balancers serve HTTPS only (an ACM certificate ARN)"
  fi

  ECR_REPOSITORY=${ECR_REPOSITORY:-bookstore}
  PLATFORM=${PLATFORM:-linux/amd64}
  ROLLOUT_TIMEOUT=${ROLLOUT_TIMEOUT:-300s}
  METRICS_SERVER_VERSION=${METRICS_SERVER_VERSION:-v0.7.2}
  PROMETHEUS_OPERATOR_VERSION=${PROMETHEUS_OPERATOR_VERSION:-v0.77.1}
  CRM_ROLE_NAME="${CLUSTER_NAME}-crm-ses"
  CRM_ROLE_ARN=${CRM_ROLE_ARN:-arn:aws:iam::${AWS_ACCOUNT_ID}:role/${CRM_ROLE_NAME}}
  # The SES identity of the -app stack: the sender's address unless a domain is given.
  local address=${MAIL_FROM##*<}
  SES_IDENTITY=${SES_IDENTITY:-${address%>}}
  local identity_re='^[^@[:space:]<>]+@[^@[:space:]<>]+$|^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$'
  [[ "$SES_IDENTITY" =~ $identity_re ]] ||
    die "SES_IDENTITY (or the address in MAIL_FROM) looks wrong: $SES_IDENTITY"
  [[ "$ECR_REPOSITORY" =~ ^[a-z0-9]+([._/-][a-z0-9]+)*$ ]] || die "ECR_REPOSITORY looks wrong"
  [[ "$CRM_ROLE_ARN" =~ ^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$ ]] ||
    die "CRM_ROLE_ARN looks wrong: $CRM_ROLE_ARN"

  if [[ -z "${VERSION:-}" ]]; then
    # An immutable tag must name exactly what was built: refuse uncommitted changes.
    git -C "$REPO_ROOT" diff --quiet HEAD -- ||
      die "uncommitted changes: commit them or pass --version explicitly"
    VERSION=$(git -C "$REPO_ROOT" describe --tags --always --abbrev=12)
  fi
  [[ "$VERSION" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "--version is not a valid image tag: $VERSION"

  REGISTRY="${AWS_ACCOUNT_ID}.dkr.ecr.${AWS_REGION}.amazonaws.com"
  IMAGE_NAME="${REGISTRY}/${ECR_REPOSITORY}"
  IMAGE="${IMAGE_NAME}:${VERSION}"

  if [[ -n "${DEPLOY_WORKDIR:-}" ]]; then
    mkdir -p "$DEPLOY_WORKDIR"
    WORKDIR=$(cd "$DEPLOY_WORKDIR" && pwd)
  else
    WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/bookstore-deploy.XXXXXX")
    OWN_WORKDIR=$WORKDIR
  fi
}

check_tools() {
  local tool
  local tools=(aws docker kubectl curl "$PYTHON")
  ((CREATE_CLUSTER)) && tools+=(eksctl)
  for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed"
  done
}

# --- CloudFormation (--create-infra, --destroy)

# stack_parameters FILE KEY=VALUE...: the parameters as the JSON file create-stack reads.
stack_parameters() {
  local file=$1
  shift
  "$PYTHON" -c '
import json, sys
pairs = [arg.split("=", 1) for arg in sys.argv[2:]]
bad = [p[0] for p in pairs if len(p) != 2 or not p[0].isalnum()]
if bad:
    sys.exit(f"deploy.sh: template parameters must look like Key=Value: {bad}")
with open(sys.argv[1], "w") as f:
    json.dump([{"ParameterKey": k, "ParameterValue": v} for k, v in pairs], f, indent=1)
' "$file" "$@" || exit 2
}

# deploy_stack NAME TEMPLATE KEY=VALUE...: create the stack, or update it when it exists, and
# wait until it is done. (Not `aws cloudformation deploy`: moto, which the tests deploy to,
# computes no outputs for change sets.)
deploy_stack() {
  local name=$1 template="$REPO_ROOT/deploy/cloudformation/$2"
  shift 2
  local params="$WORKDIR/$name.parameters.json"
  stack_parameters "$params" "$@"
  local args=(--region "$AWS_REGION" --stack-name "$name" --template-body "file://$template"
    --parameters "file://$params" --capabilities CAPABILITY_NAMED_IAM
    --tags "Key=project,Value=bookstore" "Key=cluster,Value=$CLUSTER_NAME")
  printf '# %s parameters: %s\n' "$name" "$*"
  if ((DRY_RUN)); then
    show aws cloudformation create-stack "${args[@]}"
    show_text "aws cloudformation wait stack-create-complete --region $AWS_REGION --stack-name $name  # when it exists: update-stack, wait stack-update-complete"
    return
  fi
  # Create; when it exists, update (a stack in ROLLBACK_COMPLETE or mid-operation refuses both
  # with a message that says so).
  local error
  show aws cloudformation create-stack "${args[@]}"
  if error=$(aws cloudformation create-stack "${args[@]}" 2>&1 >/dev/null); then
    run aws cloudformation wait stack-create-complete --region "$AWS_REGION" --stack-name "$name"
    return
  fi
  if [[ "$error" != *AlreadyExists* ]]; then
    printf '%s\n' "$error" >&2
    die "creating stack $name failed"
  fi
  show aws cloudformation update-stack "${args[@]}"
  if error=$(aws cloudformation update-stack "${args[@]}" 2>&1 >/dev/null); then
    run aws cloudformation wait stack-update-complete --region "$AWS_REGION" --stack-name "$name"
  elif [[ "$error" == *"No updates are to be performed"* ]]; then
    printf '# %s is up to date\n' "$name"
  else
    printf '%s\n' "$error" >&2
    die "updating stack $name failed"
  fi
}

# stack_outputs NAME ARRAY: fills the associative array ARRAY with the stack's outputs; in a
# dry run with <NAME.Key> placeholders for the keys listed after ARRAY.
stack_outputs() {
  local name=$1
  local -n outputs=$2
  shift 2
  local key value
  show aws cloudformation describe-stacks --region "$AWS_REGION" --stack-name "$name" \
    --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output text
  if ((DRY_RUN)); then
    for key in "$@"; do
      outputs["$key"]="<$name.$key>"
    done
    return
  fi
  while IFS=$'\t' read -r key value; do
    [[ -n "$key" ]] && outputs["$key"]=$value
  done < <(aws cloudformation describe-stacks --region "$AWS_REGION" --stack-name "$name" \
    --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output text)
  for key in "$@"; do
    [[ -n "${outputs[$key]:-}" && "${outputs[$key]}" != None ]] || die "stack $name has no output $key"
  done
}

declare -A NETWORK=() DATA=() APP=()

infra_network_and_data() {
  step "CloudFormation: network and data stacks ($STACK_PREFIX-network, $STACK_PREFIX-data)"
  local -a extra
  read -r -a extra <<<"${NETWORK_PARAMETERS:-}"
  deploy_stack "$STACK_PREFIX-network" network.yaml "ClusterName=$CLUSTER_NAME" "${extra[@]}"
  stack_outputs "$STACK_PREFIX-network" NETWORK VpcId VpcCidr PublicSubnetIds PrivateSubnetIds \
    NodeSecurityGroupId DatabaseSecurityGroupId BrokerSecurityGroupId
  read -r -a extra <<<"${DATA_PARAMETERS:-}"
  deploy_stack "$STACK_PREFIX-data" data.yaml "PrivateSubnetIds=${NETWORK[PrivateSubnetIds]}" \
    "DatabaseSecurityGroupId=${NETWORK[DatabaseSecurityGroupId]}" \
    "BrokerSecurityGroupId=${NETWORK[BrokerSecurityGroupId]}" "${extra[@]}"
  local keys=(KafkaClusterName) prefix
  for prefix in "${DATABASE_OUTPUT[@]}"; do
    keys+=("${prefix}WriterEndpoint" "${prefix}ReaderEndpoint" "${prefix}Port"
      "${prefix}DatabaseName" "${prefix}SecretName")
  done
  stack_outputs "$STACK_PREFIX-data" DATA "${keys[@]}"
}

# After the cluster: the role's trust needs the cluster's OIDC issuer.
infra_app() {
  step "CloudFormation: application stack ($STACK_PREFIX-app: ECR, SES identity, CRM role)"
  local issuer="<$CLUSTER_NAME-oidc-issuer>"
  local query=(aws eks describe-cluster --region "$AWS_REGION" --name "$CLUSTER_NAME"
    --query cluster.identity.oidc.issuer --output text)
  show "${query[@]}"
  if ((!DRY_RUN)); then
    issuer=$("${query[@]}")
    [[ "$issuer" == https://* ]] || die "cluster $CLUSTER_NAME has no OIDC issuer (eksctl: iam.withOIDC)"
  fi
  local -a extra
  read -r -a extra <<<"${APP_PARAMETERS:-}"
  deploy_stack "$STACK_PREFIX-app" app.yaml "RepositoryName=$ECR_REPOSITORY" \
    "SenderIdentity=$SES_IDENTITY" "OidcIssuer=${issuer#https://}" "CrmRoleName=$CRM_ROLE_NAME" \
    "Namespace=$NAMESPACE" "${extra[@]}"
  stack_outputs "$STACK_PREFIX-app" APP RepositoryUri CrmRoleArn
  if ((!DRY_RUN)); then
    IMAGE_NAME=${APP[RepositoryUri]}
    IMAGE="${IMAGE_NAME}:${VERSION}"
    CRM_ROLE_ARN=${APP[CrmRoleArn]}
  fi
}

# database_urls: PREFIX_DATABASE_URL=... and PREFIX_DATABASE_READ_URL=... lines for every
# database, with the credentials of its secret (one Secrets Manager call for all three). The
# secrets go from the AWS CLI to Python through a pipe: never on a command line or in the output.
database_urls() {
  local prefix output names=() specs=()
  for prefix in "${DATABASE_PREFIXES[@]}"; do
    output=${DATABASE_OUTPUT[$prefix]}
    names+=("${DATA[${output}SecretName]}")
    specs+=("$prefix" "${DATA[${output}SecretName]}" "${DATA[${output}WriterEndpoint]}"
      "${DATA[${output}ReaderEndpoint]}" "${DATA[${output}Port]}" "${DATA[${output}DatabaseName]}")
  done
  aws secretsmanager batch-get-secret-value --region "$AWS_REGION" --secret-id-list "${names[@]}" \
    --output json |
    "$PYTHON" -c '
import json, sys
from urllib.parse import quote
answer = json.loads(sys.stdin.read())
if answer.get("Errors"):
    sys.exit("deploy.sh: " + str(answer["Errors"]))
secrets = {}
for value in answer["SecretValues"]:
    secrets[value["Name"]] = secrets[value["ARN"]] = json.loads(value["SecretString"])
args = sys.argv[1:]
for i in range(0, len(args), 6):
    prefix, name, writer, reader, port, database = args[i:i + 6]
    secret = secrets[name]
    user, password = quote(secret["username"], safe=""), quote(secret["password"], safe="")
    print(f"{prefix}_DATABASE_URL=mysql+aiomysql://{user}:{password}@{writer}:{port}/{database}")
    print(f"{prefix}_DATABASE_READ_URL=mysql+aiomysql://{user}:{password}@{reader}:{port}/{database}")
' "${specs[@]}"
}

infra_endpoints() {
  step "Endpoints from the stacks, credentials from Secrets Manager"
  local prefix output url names=() urls line
  for prefix in "${DATABASE_PREFIXES[@]}"; do
    output=${DATABASE_OUTPUT[$prefix]}
    names+=("${DATA[${output}SecretName]}")
    if ((DRY_RUN)); then
      url="mysql+aiomysql://<user>:<password>@${DATA[${output}WriterEndpoint]}:${DATA[${output}Port]}/${DATA[${output}DatabaseName]}"
      printf -v "${prefix}_DATABASE_URL" '%s' "$url"
      printf -v "${prefix}_DATABASE_READ_URL" '%s' "${url/${DATA[${output}WriterEndpoint]}/${DATA[${output}ReaderEndpoint]}}"
    fi
  done
  show_text "$(show aws secretsmanager batch-get-secret-value --region "$AWS_REGION" --secret-id-list "${names[@]}" --output json | cut -c3-)  # -> {BOOK,CUSTOMER,CRM}_DATABASE_URL and _READ_URL"
  if ((!DRY_RUN)); then
    urls=$(database_urls) || die "could not read the database secrets"
    while IFS= read -r line; do
      printf -v "${line%%=*}" '%s' "${line#*=}"
    done <<<"$urls"
  fi
  local kafka=${DATA[KafkaClusterName]} arn="<kafka-cluster-arn>"
  local find=(aws kafka list-clusters-v2 --region "$AWS_REGION" --cluster-name-filter "$kafka"
    --query "ClusterInfoList[?ClusterName=='$kafka'].ClusterArn | [0]" --output text)
  show "${find[@]}"
  ((DRY_RUN)) || arn=$("${find[@]}")
  [[ "$arn" == arn:* || "$arn" == "<"* ]] || die "no MSK cluster named $kafka"
  local brokers=(aws kafka get-bootstrap-brokers --region "$AWS_REGION" --cluster-arn "$arn"
    --query BootstrapBrokerStringTls --output text)
  show "${brokers[@]}"
  KAFKA_BOOTSTRAP_SERVERS="<msk-tls-bootstrap-brokers>"
  ((DRY_RUN)) || KAFKA_BOOTSTRAP_SERVERS=$("${brokers[@]}")
  [[ "$KAFKA_BOOTSTRAP_SERVERS" =~ ^[^[:space:]]+:9094(,[^[:space:]]+:9094)*$|^\<.*\>$ ]] ||
    die "MSK cluster $kafka has no TLS bootstrap brokers yet: $KAFKA_BOOTSTRAP_SERVERS"
  printf '# KAFKA_BOOTSTRAP_SERVERS=%s\n' "$KAFKA_BOOTSTRAP_SERVERS"
  printf '# CRM_ROLE_ARN=%s\n# image %s\n' "$CRM_ROLE_ARN" "$IMAGE_NAME"
}

# The eksctl config with what --create-infra adds: the stacks' VPC and subnets, the node
# security group the databases and brokers admit, and no IAM role for the CRM (the -app stack
# owns it).
eksctl_config_in_vpc() {
  local subnet index=0 vpc
  vpc="vpc:\n  id: ${NETWORK[VpcId]}\n  subnets:\n    private:\n"
  for subnet in ${NETWORK[PrivateSubnetIds]//,/ }; do
    vpc+="      private-$((index += 1)):\n        id: $subnet\n"
  done
  vpc+="    public:\n"
  index=0
  for subnet in ${NETWORK[PublicSubnetIds]//,/ }; do
    vpc+="      public-$((index += 1)):\n        id: $subnet\n"
  done
  awk -v vpc="$vpc" -v sg="${NETWORK[NodeSecurityGroupId]}" '
    /^vpc:/ { printf "%s", vpc; skip = 1; next }
    /^  serviceAccounts:/ { skip = 1; next }
    skip && /^[^ ]/ { skip = 0 }
    skip { next }
    { print }
    /^    privateNetworking: true/ { print "    securityGroups:\n      attachIDs: [" sg "]" }
  '
}

cluster() {
  if ((CREATE_CLUSTER)); then
    step "Create EKS cluster $CLUSTER_NAME in $AWS_REGION"
    local config="$WORKDIR/eksctl-cluster.yaml"
    sed -e "s/^  name: .*/  name: ${CLUSTER_NAME}/" -e "s/^  region: .*/  region: ${AWS_REGION}/" \
      "$REPO_ROOT/deploy/eksctl-cluster.yaml" >"$config"
    if ((CREATE_INFRA)); then
      eksctl_config_in_vpc <"$config" >"$config.tmp"
      mv "$config.tmp" "$config"
      printf '# generated %s (what --create-infra changes):\n' "$config"
      awk '/^vpc:/ { p = 1 } p && /^[a-z]/ && !/^vpc:/ { p = 0 } p' "$config" | sed 's/^/#   /'
      printf '#   managedNodeGroups[0].securityGroups.attachIDs: [%s]\n' "${NETWORK[NodeSecurityGroupId]}"
      printf '#   iam: withOIDC only (no serviceAccounts: the -app stack creates the role)\n'
    fi
    run eksctl create cluster --config-file "$config"
    # eksctl writes the kubeconfig itself
  else
    step "Use EKS cluster $CLUSTER_NAME"
    run aws eks update-kubeconfig --name "$CLUSTER_NAME" --region "$AWS_REGION"
  fi
}

ecr_repository() {
  ((CREATE_INFRA)) && return # the -app stack owns it
  step "ECR repository $ECR_REPOSITORY"
  local describe=(aws ecr describe-repositories --region "$AWS_REGION" --repository-names "$ECR_REPOSITORY")
  local create=(aws ecr create-repository --region "$AWS_REGION" --repository-name "$ECR_REPOSITORY"
    --image-tag-mutability IMMUTABLE --image-scanning-configuration scanOnPush=true
    --encryption-configuration encryptionType=AES256)
  show_text "$(show "${describe[@]}" | cut -c3-) >/dev/null 2>&1 || $(show "${create[@]}" | cut -c3-)"
  if ((!DRY_RUN)); then
    "${describe[@]}" >/dev/null 2>&1 || "${create[@]}"
  fi
}

build_and_push() {
  if ((SKIP_BUILD)); then
    step "Skip build: $IMAGE must already be in ECR"
    return
  fi
  step "Build and push $IMAGE"
  show_text "aws ecr get-login-password --region $AWS_REGION | docker login --username AWS --password-stdin $REGISTRY"
  if ((!DRY_RUN)); then
    aws ecr get-login-password --region "$AWS_REGION" |
      docker login --username AWS --password-stdin "$REGISTRY"
  fi
  run docker build --platform "$PLATFORM" --tag "$IMAGE" \
    --label "org.opencontainers.image.version=$VERSION" "$REPO_ROOT"
  run docker push "$IMAGE"
}

metrics_server() {
  step "metrics-server (for the HorizontalPodAutoscalers)"
  local url="https://github.com/kubernetes-sigs/metrics-server/releases/download/${METRICS_SERVER_VERSION}/components.yaml"
  show_text "kubectl get apiservice v1beta1.metrics.k8s.io >/dev/null 2>&1 || kubectl apply -f $url"
  if ((!DRY_RUN)); then
    kubectl get apiservice v1beta1.metrics.k8s.io >/dev/null 2>&1 || kubectl apply -f "$url"
  fi
}

# apply_secret NAME KEY=ENV_VAR... : a Secret from environment variables. The values go
# through a private temp file, never the command line or the output.
apply_secret() {
  local name=$1
  shift
  local pair key var masked=()
  for pair in "$@"; do
    masked+=("${pair%%=*}=***")
  done
  show_text "kubectl create secret generic $name --namespace $NAMESPACE --from-env-file=<(${masked[*]}) --dry-run=client --output yaml | kubectl apply --filename -"
  ((DRY_RUN)) && return
  local file="$SECRET_DIR/$name.env"
  : >"$file"
  for pair in "$@"; do
    key=${pair%%=*}
    var=${pair#*=}
    printf '%s=%s\n' "$key" "${!var}" >>"$file"
  done
  kubectl create secret generic "$name" --namespace "$NAMESPACE" --from-env-file="$file" \
    --dry-run=client --output yaml | kubectl apply --filename -
  rm -f "$file"
}

# The eks overlay holds a PodMonitor and a PrometheusRule: without their CRDs `kubectl apply`
# would refuse them. Only the two CRDs are installed (server-side: they exceed the annotation
# size limit of client-side apply); the Prometheus itself (kube-prometheus-stack, or Amazon
# Managed Prometheus) is the cluster's. See manifests/README.md, "Monitoring".
monitoring_crds() {
  step "Prometheus Operator CRDs (PodMonitor, PrometheusRule)"
  local base="https://raw.githubusercontent.com/prometheus-operator/prometheus-operator/${PROMETHEUS_OPERATOR_VERSION}/example/prometheus-operator-crd"
  local crd
  for crd in podmonitors prometheusrules; do
    show_text "kubectl get crd $crd.monitoring.coreos.com >/dev/null 2>&1 || kubectl apply --server-side -f $base/monitoring.coreos.com_$crd.yaml"
    if ((!DRY_RUN)); then
      kubectl get crd "$crd.monitoring.coreos.com" >/dev/null 2>&1 ||
        kubectl apply --server-side -f "$base/monitoring.coreos.com_$crd.yaml"
    fi
  done
}

secrets() {
  step "Namespace and Secrets (from the environment)"
  run kubectl apply --filename "$REPO_ROOT/manifests/base/namespace.yaml"
  SECRET_DIR=$(umask 077 && mktemp -d "${TMPDIR:-/tmp}/bookstore-secrets.XXXXXX")
  # DATABASE_READ_URL only where a reader is known (--create-infra: always).
  apply_secret svc-book-db DATABASE_URL=BOOK_DATABASE_URL \
    ${BOOK_DATABASE_READ_URL:+DATABASE_READ_URL=BOOK_DATABASE_READ_URL}
  apply_secret svc-customer-db DATABASE_URL=CUSTOMER_DATABASE_URL \
    ${CUSTOMER_DATABASE_READ_URL:+DATABASE_READ_URL=CUSTOMER_DATABASE_READ_URL}
  apply_secret crm-db DATABASE_URL=CRM_DATABASE_URL \
    ${CRM_DATABASE_READ_URL:+DATABASE_READ_URL=CRM_DATABASE_READ_URL}
  apply_secret bff-jwt JWT_SECRET=JWT_SECRET
  if [[ -n "${SMTP_USERNAME:-}" || -n "${SMTP_PASSWORD:-}" ]]; then
    require_env SMTP_USERNAME SMTP_PASSWORD
    apply_secret crm-smtp SMTP_USERNAME=SMTP_USERNAME SMTP_PASSWORD=SMTP_PASSWORD
  fi
}

# The overlay plus what only this deployment knows: image, IAM role, environment settings.
write_kustomization() {
  local name overlay
  # Kustomize accepts only relative paths to other kustomizations.
  overlay=$("$PYTHON" -c 'import os, sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' \
    "$REPO_ROOT/manifests/overlays/eks" "$WORKDIR")
  {
    printf 'KAFKA_BOOTSTRAP_SERVERS=%s\n' "$KAFKA_BOOTSTRAP_SERVERS"
    printf 'MAIL_FROM=%s\n' "$MAIL_FROM"
    printf 'RECOMMENDER_URL=%s\n' "$RECOMMENDER_URL"
    printf 'AWS_REGION=%s\n' "$AWS_REGION"
    for name in "${PASSTHROUGH_SETTINGS[@]}"; do
      if [[ -n "${!name:-}" ]]; then
        [[ "${!name}" != *$'\n'* ]] || die "$name must be a single line"
        printf '%s=%s\n' "$name" "${!name}"
      fi
    done
  } >"$WORKDIR/config.env"
  cat >"$WORKDIR/kustomization.yaml" <<EOF
# Generated by scripts/deploy.sh; not to be committed.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $overlay
images:
  - name: $EKS_PLACEHOLDER_IMAGE
    newName: $IMAGE_NAME
    newTag: "$VERSION"
configMapGenerator:
  - name: bookstore-config
    namespace: $NAMESPACE
    behavior: merge
    envs:
      - config.env
patches:
  - target:
      kind: ServiceAccount
      name: crm
    patch: |-
      - op: replace
        path: /metadata/annotations/eks.amazonaws.com~1role-arn
        value: $CRM_ROLE_ARN
EOF
  if [[ -n "${TLS_CERT_ARN:-}" ]]; then
    cat >>"$WORKDIR/kustomization.yaml" <<EOF
  - target:
      kind: Service
      name: bff-book|bff-customer
    patch: |-
      - op: replace
        path: /metadata/annotations/service.beta.kubernetes.io~1aws-load-balancer-ssl-cert
        value: $TLS_CERT_ARN
EOF
  fi
}

# A dry run without TLS_CERT_ARN: say so where nobody can miss it (start and end).
warn_no_tls() {
  [[ -z "${TLS_CERT_ARN:-}" ]] || return 0
  local line
  for line in \
    "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" \
    "!! WARNING: TLS_CERT_ARN is NOT SET.                                         !!" \
    "!! The BFF load balancers listen on HTTPS (443) only and need an ACM        !!" \
    "!! certificate: this dry run renders the overlay's placeholder ARN, and a   !!" \
    "!! real deployment refuses to start until TLS_CERT_ARN is set.              !!" \
    "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; do
    printf '%s\n' "$line"
    printf '%s\n' "$line" >&2
  done
}

apply_manifests() {
  step "Apply manifests/overlays/eks ($IMAGE)"
  write_kustomization
  printf '# generated %s:\n' "$WORKDIR/kustomization.yaml"
  sed 's/^/#   /' "$WORKDIR/kustomization.yaml"
  printf '# generated %s:\n' "$WORKDIR/config.env"
  sed 's/^/#   /' "$WORKDIR/config.env"
  # A Job's pod template is immutable: the new image needs a new Job.
  run kubectl --namespace "$NAMESPACE" delete job "$MIGRATION_JOB" --ignore-not-found
  run kubectl apply -k "$WORKDIR"
}

wait_for_rollout() {
  step "Migrations and rollouts"
  show kubectl --namespace "$NAMESPACE" wait --for=condition=complete "job/$MIGRATION_JOB" --timeout=600s
  if ((!DRY_RUN)); then
    if ! kubectl --namespace "$NAMESPACE" wait --for=condition=complete "job/$MIGRATION_JOB" --timeout=600s; then
      kubectl --namespace "$NAMESPACE" logs "job/$MIGRATION_JOB" --all-containers --tail=50 >&2 || true
      die "the migration Job did not complete"
    fi
  fi
  local deployment
  for deployment in "${DEPLOYMENTS[@]}"; do
    run kubectl --namespace "$NAMESPACE" rollout status "deployment/$deployment" --timeout="$ROLLOUT_TIMEOUT"
  done
}

# An HS256 token the BFFs accept, for the smoke test. The secret is read from the
# environment by Python, so it never appears on a command line.
mint_jwt() {
  local subjects=${JWT_ALLOWED_SUBJECTS:-starlord}
  local subject=${subjects%%,*}
  JWT_SUB="${subject// /}" JWT_ISS="${JWT_ISSUER:-cmu.edu}" "${PYTHON:-python3}" - <<'PY'
import base64, hashlib, hmac, json, os, re, time

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

# JWT_SECRET may list several keys during a rotation (docs/KEY_ROTATION.md): sign with the
# first, naming its key id when it has one ("kid:key").
key, kid = os.environ["JWT_SECRET"], None
if "," in key:
    key = key.split(",")[0].strip()
    named = re.fullmatch(r"([A-Za-z0-9._-]{1,64}):(.*)", key, re.S)
    if named:
        kid, key = named.group(1), named.group(2)
now = int(time.time())
jose = {"alg": "HS256", "typ": "JWT", **({"kid": kid} if kid else {})}
header = b64url(json.dumps(jose, separators=(",", ":")).encode())
claims = {"sub": os.environ["JWT_SUB"], "iss": os.environ["JWT_ISS"], "iat": now, "exp": now + 600}
payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
signing_input = f"{header}.{payload}".encode()
signature = hmac.new(key.encode(), signing_input, hashlib.sha256).digest()
print(f"{header}.{payload}.{b64url(signature)}")
PY
}

# load_balancer_host SERVICE: sets LB_HOST to the service's load balancer DNS name.
load_balancer_host() {
  local service=$1 host="" attempt
  local query=(kubectl --namespace "$NAMESPACE" get service "$service"
    --output "jsonpath={.status.loadBalancer.ingress[0].hostname}")
  show "${query[@]}"
  if ((DRY_RUN)); then
    LB_HOST="<$service-load-balancer>"
    return
  fi
  for attempt in $(seq 60); do
    host=$("${query[@]}" 2>/dev/null || true)
    [[ -n "$host" ]] && break
    printf 'waiting for the %s load balancer (%s/60)\n' "$service" "$attempt" >&2
    sleep 5
  done
  [[ -n "$host" ]] || die "service $service got no load balancer address"
  LB_HOST=$host
}

# smoke_get URL EXPECTED_STATUS [AUTH]: retries while the new load balancer's DNS spreads.
smoke_get() {
  local url=$1 expected=$2 auth=${3:-} status="" attempt
  local curl_args=(curl --silent --insecure --output /dev/null --write-out '%{http_code}' --max-time 10
    --header "User-Agent: bookstore-deploy-smoke/1.0")
  if [[ -n "$auth" ]]; then
    show_text "$(show "${curl_args[@]}" | cut -c3-) --header 'Authorization: Bearer ***' $url  # expect $expected"
  else
    show_text "$(show "${curl_args[@]}" | cut -c3-) $url  # expect $expected"
  fi
  ((DRY_RUN)) && return
  [[ -n "$auth" ]] && curl_args+=(--header "Authorization: Bearer $auth")
  for attempt in $(seq 30); do
    status=$("${curl_args[@]}" "$url" || true)
    [[ "$status" == "$expected" ]] && {
      printf 'PASS %s -> %s\n' "$url" "$status"
      return
    }
    printf 'waiting: %s -> %s (%s/30)\n' "$url" "${status:-no answer}" "$attempt" >&2
    sleep 10
  done
  die "smoke test failed: $url answered ${status:-nothing}, expected $expected"
}

smoke_test() {
  if ((SKIP_SMOKE)); then
    step "Skip smoke test"
    return
  fi
  step "Smoke test through the BFF load balancers"
  local book customer token=""
  load_balancer_host bff-book
  book=$LB_HOST
  load_balancer_host bff-customer
  customer=$LB_HOST
  if ((!DRY_RUN)); then
    token=$(mint_jwt)
  else
    token="dry-run"
  fi
  # HTTPS only. The certificate names your API's domain, not the load balancer's own DNS
  # name used here, so these requests do not verify it (--insecure / --tls-insecure).
  smoke_get "https://$book/status" 200
  smoke_get "https://$customer/status" 200
  smoke_get "https://$book/ready" 200
  smoke_get "https://$customer/ready" 200
  smoke_get "https://$book/books" 401
  smoke_get "https://$book/books?limit=1" 200 "$token"
  smoke_get "https://$customer/customers?userId=deploy-smoke-nobody%40example.com" 404 "$token"
  if ((FULL_SMOKE)); then
    # Creates and deletes a book and a customer; the customer's welcome mail goes through SES.
    run "$PYTHON" "$REPO_ROOT/scripts/smoke.py" --tls-insecure --book-bff "https://$book" \
      --customer-bff "https://$customer"
  fi
}

# delete_stack NAME: delete and wait (a stack that does not exist is already deleted).
delete_stack() {
  local name=$1
  run aws cloudformation delete-stack --region "$AWS_REGION" --stack-name "$name"
  run aws cloudformation wait stack-delete-complete --region "$AWS_REGION" --stack-name "$name"
}

destroy() {
  printf 'This deletes, in %s: the namespace %s and its load balancers, the EKS cluster %s,\n' \
    "$AWS_REGION" "$NAMESPACE" "$CLUSTER_NAME"
  printf 'the stacks %s-app (ECR repository and its images, SES identity, CRM role), %s-data\n' \
    "$STACK_PREFIX" "$STACK_PREFIX"
  printf '(databases: final snapshots are kept; secrets; Kafka and its topics) and %s-network.\n' \
    "$STACK_PREFIX"
  if ((!DRY_RUN && !ASSUME_YES)); then
    local answer=""
    printf 'Type the cluster name (%s) to confirm: ' "$CLUSTER_NAME"
    read -r answer || true
    [[ "$answer" == "$CLUSTER_NAME" ]] || die "not confirmed: nothing was deleted"
  fi
  local tools=(aws kubectl eksctl) tool
  if ((!DRY_RUN)); then
    for tool in "${tools[@]}"; do
      command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed"
    done
  fi
  step "Delete namespace $NAMESPACE (its load balancers would keep the VPC alive)"
  local exists=1
  show aws eks describe-cluster --region "$AWS_REGION" --name "$CLUSTER_NAME"
  if ((!DRY_RUN)); then
    aws eks describe-cluster --region "$AWS_REGION" --name "$CLUSTER_NAME" >/dev/null 2>&1 || exists=0
  fi
  if ((exists)); then
    run aws eks update-kubeconfig --name "$CLUSTER_NAME" --region "$AWS_REGION"
    run kubectl delete namespace "$NAMESPACE" --ignore-not-found --wait --timeout=10m
    step "Delete EKS cluster $CLUSTER_NAME"
    run eksctl delete cluster --name "$CLUSTER_NAME" --region "$AWS_REGION" --wait
  else
    printf '# no cluster %s\n' "$CLUSTER_NAME"
  fi
  step "Delete stacks $STACK_PREFIX-app, $STACK_PREFIX-data, $STACK_PREFIX-network"
  delete_stack "$STACK_PREFIX-app"
  delete_stack "$STACK_PREFIX-data"
  delete_stack "$STACK_PREFIX-network"
  step "Destroyed $CLUSTER_NAME"
}

main() {
  parse_args "$@"
  if ((DESTROY)); then
    configure_names
    ((DRY_RUN)) && printf '# dry run: printing commands only\n'
    destroy
    return
  fi
  configure
  trap cleanup EXIT
  ((DRY_RUN)) && printf '# dry run: printing commands only (work dir %s)\n' "$WORKDIR"
  ((DRY_RUN)) && warn_no_tls
  ((DRY_RUN)) || check_tools
  ((CREATE_INFRA)) && infra_network_and_data
  cluster
  if ((CREATE_INFRA)); then
    infra_app
    infra_endpoints
  fi
  ecr_repository
  build_and_push
  metrics_server
  monitoring_crds
  secrets
  apply_manifests
  wait_for_rollout
  smoke_test
  step "Deployed $IMAGE to $CLUSTER_NAME/$NAMESPACE"
  if ((DRY_RUN)); then warn_no_tls; fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
