#!/usr/bin/env bash
# Deploy the bookstore to Amazon EKS.
#
#   scripts/deploy.sh [--dry-run] [--create-cluster] [--version TAG] [--skip-build]
#                     [--skip-smoke] [--full-smoke]
#
# Steps: (optionally) create the cluster from deploy/eksctl-cluster.yaml, point kubectl at it,
# create the ECR repository, build and push the image tagged with the version, install
# metrics-server when missing, write the Secrets from the environment, apply
# manifests/overlays/eks (wrapped in a generated kustomization that sets the image, the IRSA
# role and the per-environment settings), wait for the migration Job and the rollouts, and
# smoke-test both BFFs through their load balancers.
#
# --dry-run prints every command instead of running it: nothing touches AWS, Docker or the
# cluster. It still writes the generated kustomization (no secrets in it) to the work
# directory (kept when DEPLOY_WORKDIR is given) and prints it; Secret values print as ***.
#
# Environment (required):
#   AWS_ACCOUNT_ID, AWS_REGION
#   BOOKS_DATABASE_URL       mysql+aiomysql://user:pass@<RDS writer endpoint>:3306/books
#   CUSTOMERS_DATABASE_URL   mysql+aiomysql://user:pass@<RDS writer endpoint>:3306/customers
#   CRM_DATABASE_URL         mysql+aiomysql://user:pass@<RDS writer endpoint>:3306/crm
#   JWT_SECRET               HS256 key of the BFFs, at least 32 bytes
#   KAFKA_BOOTSTRAP_SERVERS  MSK TLS brokers, b-1....:9094,b-2....:9094
#   MAIL_FROM                an SES-verified sender, e.g. "Book Store <no-reply@example.com>"
#   RECOMMENDER_URL          the recommendation engine's base URL
# Environment (optional):
#   BOOKS_DATABASE_READ_URL, CUSTOMERS_DATABASE_READ_URL: the same URL with the RDS reader
#     endpoint (lists and searches go there while it lags at most READ_MAX_LAG_S; unset: all
#     on the writer). The reader's account needs REPLICATION CLIENT to report its lag.
#   CLUSTER_NAME (bookstore), ECR_REPOSITORY (bookstore), VERSION (default: git describe),
#   CRM_ROLE_ARN (arn:aws:iam::<account>:role/bookstore-crm-ses), PLATFORM (linux/amd64),
#   SMTP_USERNAME, SMTP_PASSWORD (only with MAIL_BACKEND=smtp), DEPLOY_WORKDIR (temp dir),
#   ROLLOUT_TIMEOUT (300s), METRICS_SERVER_VERSION (v0.7.2), PYTHON (python3),
#   PROMETHEUS_OPERATOR_VERSION (v0.77.1: CRDs installed when the cluster lacks them),
#   and these settings, passed to the pods' ConfigMap when set: MAIL_BACKEND, STORE_OWNER,
#   SES_CONFIGURATION_SET, SMTP_HOST, SMTP_PORT, SMTP_SECURITY, KAFKA_SECURITY_PROTOCOL,
#   KAFKA_CUSTOMER_TOPIC, JWT_ISSUER, JWT_ALLOWED_SUBJECTS, RECOMMENDER_TIMEOUT_S,
#   BREAKER_RESET_S, LOG_LEVEL, WORKERS, READ_MAX_LAG_S, DB_HEALTH_INTERVAL_S.
set -euo pipefail

readonly NAMESPACE=book-store
readonly DEPLOYMENTS=(svc-book svc-customer crm bff-book bff-customer)
readonly MIGRATION_JOB=bookstore-migrate
# The image name manifests/overlays/eks sets as a placeholder; replaced with the ECR image.
readonly EKS_PLACEHOLDER_IMAGE=000000000000.dkr.ecr.us-east-1.amazonaws.com/bookstore
readonly PASSTHROUGH_SETTINGS=(MAIL_BACKEND STORE_OWNER SES_CONFIGURATION_SET SMTP_HOST SMTP_PORT
  SMTP_SECURITY KAFKA_SECURITY_PROTOCOL KAFKA_CUSTOMER_TOPIC JWT_ISSUER JWT_ALLOWED_SUBJECTS
  RECOMMENDER_TIMEOUT_S BREAKER_RESET_S LOG_LEVEL WORKERS READ_MAX_LAG_S DB_HEALTH_INTERVAL_S)

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DRY_RUN=0
CREATE_CLUSTER=0
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
      --create-cluster) CREATE_CLUSTER=1 ;;
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
}

configure() {
  require_env AWS_ACCOUNT_ID AWS_REGION BOOKS_DATABASE_URL CUSTOMERS_DATABASE_URL CRM_DATABASE_URL \
    JWT_SECRET KAFKA_BOOTSTRAP_SERVERS MAIL_FROM RECOMMENDER_URL
  [[ "$AWS_ACCOUNT_ID" =~ ^[0-9]{12}$ ]] || die "AWS_ACCOUNT_ID must be 12 digits"
  [[ "$AWS_REGION" =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]] || die "AWS_REGION looks wrong: $AWS_REGION"
  check_database_url BOOKS_DATABASE_URL
  check_database_url CUSTOMERS_DATABASE_URL
  check_database_url CRM_DATABASE_URL
  # Optional readers: an empty value in the Secret means none.
  BOOKS_DATABASE_READ_URL=${BOOKS_DATABASE_READ_URL:-}
  CUSTOMERS_DATABASE_READ_URL=${CUSTOMERS_DATABASE_READ_URL:-}
  [[ -z "$BOOKS_DATABASE_READ_URL" ]] || check_database_url BOOKS_DATABASE_READ_URL
  [[ -z "$CUSTOMERS_DATABASE_READ_URL" ]] || check_database_url CUSTOMERS_DATABASE_READ_URL
  [[ "$BOOKS_DATABASE_READ_URL" != *$'\n'* && "$CUSTOMERS_DATABASE_READ_URL" != *$'\n'* ]] ||
    die "the *_DATABASE_READ_URL variables must be single lines"
  # The BFFs refuse to start with a shorter or monotonous HS256 key (libcommon.jwt_auth:
  # MIN_SECRET_BYTES, MIN_SECRET_DISTINCT_BYTES): fail here, before anything is deployed.
  ((${#JWT_SECRET} >= 32)) || die "JWT_SECRET must be at least 32 bytes"
  (($(printf %s "$JWT_SECRET" | od -An -v -tx1 | tr -s ' ' '\n' | sed '/^$/d' | sort -u | wc -l) >= 16)) ||
    die "JWT_SECRET must contain at least 16 distinct bytes"

  CLUSTER_NAME=${CLUSTER_NAME:-bookstore}
  ECR_REPOSITORY=${ECR_REPOSITORY:-bookstore}
  PLATFORM=${PLATFORM:-linux/amd64}
  ROLLOUT_TIMEOUT=${ROLLOUT_TIMEOUT:-300s}
  METRICS_SERVER_VERSION=${METRICS_SERVER_VERSION:-v0.7.2}
  PROMETHEUS_OPERATOR_VERSION=${PROMETHEUS_OPERATOR_VERSION:-v0.77.1}
  PYTHON=${PYTHON:-python3}
  CRM_ROLE_ARN=${CRM_ROLE_ARN:-arn:aws:iam::${AWS_ACCOUNT_ID}:role/bookstore-crm-ses}
  [[ "$CLUSTER_NAME" =~ ^[A-Za-z][A-Za-z0-9-]{0,99}$ ]] || die "CLUSTER_NAME looks wrong: $CLUSTER_NAME"
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

cluster() {
  if ((CREATE_CLUSTER)); then
    step "Create EKS cluster $CLUSTER_NAME in $AWS_REGION"
    local config="$WORKDIR/eksctl-cluster.yaml"
    sed -e "s/^  name: .*/  name: ${CLUSTER_NAME}/" -e "s/^  region: .*/  region: ${AWS_REGION}/" \
      "$REPO_ROOT/deploy/eksctl-cluster.yaml" >"$config"
    run eksctl create cluster --config-file "$config"
  else
    step "Use EKS cluster $CLUSTER_NAME"
    run aws eks update-kubeconfig --name "$CLUSTER_NAME" --region "$AWS_REGION"
  fi
}

ecr_repository() {
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
  apply_secret svc-book-db DATABASE_URL=BOOKS_DATABASE_URL DATABASE_READ_URL=BOOKS_DATABASE_READ_URL
  apply_secret svc-customer-db DATABASE_URL=CUSTOMERS_DATABASE_URL DATABASE_READ_URL=CUSTOMERS_DATABASE_READ_URL
  apply_secret crm-db DATABASE_URL=CRM_DATABASE_URL
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
import base64, hashlib, hmac, json, os, time

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

now = int(time.time())
header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
claims = {"sub": os.environ["JWT_SUB"], "iss": os.environ["JWT_ISS"], "iat": now, "exp": now + 600}
payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
signing_input = f"{header}.{payload}".encode()
signature = hmac.new(os.environ["JWT_SECRET"].encode(), signing_input, hashlib.sha256).digest()
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
  local curl_args=(curl --silent --output /dev/null --write-out '%{http_code}' --max-time 10
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
  smoke_get "http://$book/status" 200
  smoke_get "http://$customer/status" 200
  smoke_get "http://$book/ready" 200
  smoke_get "http://$customer/ready" 200
  smoke_get "http://$book/books" 401
  smoke_get "http://$book/books?limit=1" 200 "$token"
  smoke_get "http://$customer/customers?userId=deploy-smoke-nobody%40example.com" 404 "$token"
  if ((FULL_SMOKE)); then
    # Creates and deletes a book and a customer; the customer's welcome mail goes through SES.
    run "$PYTHON" "$REPO_ROOT/scripts/smoke.py" --book-bff "http://$book" --customer-bff "http://$customer"
  fi
}

main() {
  parse_args "$@"
  configure
  trap cleanup EXIT
  ((DRY_RUN)) && printf '# dry run: printing commands only (work dir %s)\n' "$WORKDIR"
  ((DRY_RUN)) || check_tools
  cluster
  ecr_repository
  build_and_push
  metrics_server
  monitoring_crds
  secrets
  apply_manifests
  wait_for_rollout
  smoke_test
  step "Deployed $IMAGE to $CLUSTER_NAME/$NAMESPACE"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
