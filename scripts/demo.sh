#!/usr/bin/env bash
# `make demo`: imagewatch end to end on this machine, with nothing set up beforehand and nothing
# fetched from the Terraform Registry.
#
#   1. builds the provider, the engine and artifactory-double (a local Artifactory test double
#      seeded with real images) into a temporary directory;
#   2. starts the double in the background;
#   3. runs `terraform apply` of examples/quickstart through a dev_overrides CLI config: the
#      integration passes its plan-time Test Connection check and the provider writes the engine's
#      config file and one integration fragment (mode 0600, token included, never in state);
#   4. runs the engine's backfill from that config (syft SBOM + metadata for every image);
#   5. prints the engine's inventory table, where the SBOMs are, and a summary.
#
# Everything lives in one temporary directory that is removed on exit, together with the double.
# KEEP=1 keeps the directory (results, SBOMs, state, logs) for a look afterwards.
#
# Environment: GO (default go), TERRAFORM (default /usr/local/bin/terraform, else PATH),
# KEEP=1, DEMO_ENGINE_TIMEOUT (seconds, default 600). Needs bash, jq and Terraform >= 1.11.
set -euo pipefail
shopt -s nullglob

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GO="${GO:-go}"
KEEP="${KEEP:-0}"
ENGINE_TIMEOUT="${DEMO_ENGINE_TIMEOUT:-600}"
BACKFILL_FROM="2000-01-01"

# --- output helpers ----------------------------------------------------------------------------

if [[ -t 1 ]]; then BOLD=$'\e[1m'; RED=$'\e[31m'; RESET=$'\e[0m'; else BOLD='' RED='' RESET=''; fi
START_SECONDS=$SECONDS
CURRENT_STEP="starting"

step() {
	CURRENT_STEP="$1"
	printf '\n%s==> %s%s  (%ds)\n' "$BOLD" "$1" "$RESET" "$((SECONDS - START_SECONDS))"
}
info() { printf '    %s\n' "$*"; }
die() {
	printf '\n%sdemo failed%s during "%s": %s\n' "$RED$BOLD" "$RESET" "$CURRENT_STEP" "$*" >&2
	exit 1
}
# show_log prints the last lines of a log file after a failure (logs never hold the token: the
# double logs no credentials and the engine redacts secrets).
show_log() {
	local file="$1" what="$2"
	if [[ -s "$file" ]]; then
		printf '\n--- last lines of the %s log (%s) ---\n' "$what" "$file" >&2
		tail -n 40 "$file" >&2
		printf -- '--- end of the %s log ---\n' "$what" >&2
	fi
}

# contains_token FILE...: whether the access token appears in one of the files. The token is fed
# to grep as a pattern file, never as an argument that ps could show.
contains_token() {
	grep -qFf <(printf '%s\n' "$ACCESS_TOKEN") -- "$@"
}

# --- prerequisites -----------------------------------------------------------------------------

if [[ -z "${TERRAFORM:-}" ]]; then
	if [[ -x /usr/local/bin/terraform ]]; then
		TERRAFORM=/usr/local/bin/terraform
	else
		TERRAFORM="$(command -v terraform || true)"
	fi
fi
[[ -n "$TERRAFORM" && -x "$TERRAFORM" ]] ||
	die "the Terraform CLI was not found (TERRAFORM='${TERRAFORM}'): install Terraform >= 1.11 or set TERRAFORM=/path/to/terraform"
command -v "$GO" >/dev/null || die "the Go toolchain ('$GO') is not on PATH: install Go or set GO=/path/to/go"
command -v jq >/dev/null || die "jq is needed to read JSON (apt-get install jq)"
command -v timeout >/dev/null || die "timeout (GNU coreutils) is needed"

# --- working directory and cleanup -------------------------------------------------------------

WORK="$(mktemp -d "${TMPDIR:-/tmp}/imagewatch-demo.XXXXXX")"
chmod 700 "$WORK"
BIN="$WORK/bin"
LOGS="$WORK/logs"
TFDIR="$WORK/quickstart"
ENGINE_DIR="$WORK/engine"
INFO="$WORK/artifactory-double.json"
DOUBLE_PID=""
mkdir -p "$BIN" "$LOGS" "$TFDIR"

cleanup() {
	local status=$?
	if [[ -n "$DOUBLE_PID" ]] && kill -0 "$DOUBLE_PID" 2>/dev/null; then
		kill -TERM "$DOUBLE_PID" 2>/dev/null || true
		wait "$DOUBLE_PID" 2>/dev/null || true
	fi
	if [[ "$KEEP" == 1 ]]; then
		printf '\nKEEP=1: kept %s (remove it when done; it holds the demo token)\n' "$WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'printf "\n%sdemo failed%s during \"%s\": a command failed at line %d of %s\n" "$RED$BOLD" "$RESET" "$CURRENT_STEP" "$LINENO" "${BASH_SOURCE[0]}" >&2' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

# A clean Terraform environment: the CLI config below, no stray variables or arguments.
unset TF_DATA_DIR TF_WORKSPACE TF_CLI_ARGS TF_CLI_ARGS_apply TF_CLI_ARGS_plan TF_CLI_ARGS_init
for name in $(compgen -e); do
	if [[ "$name" == TF_VAR_* ]]; then unset "$name"; fi
done
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0
TF_COLOR=()
[[ -t 1 ]] || TF_COLOR=(-no-color)

# --- 1. build ----------------------------------------------------------------------------------

step "Building the provider, the engine and artifactory-double"
VERSION="$(git -C "$ROOT" describe --tags --always --dirty 2>/dev/null || echo dev)"
info "into $BIN (version $VERSION; the first build compiles syft and takes a few minutes)"
(cd "$ROOT" && "$GO" build -trimpath -ldflags "-X main.version=$VERSION" -o "$BIN/" \
	. ./cmd/imagewatch-engine ./cmd/artifactory-double) ||
	die "go build failed (see the compiler output above)"
for b in terraform-provider-imagewatch imagewatch-engine artifactory-double; do
	[[ -x "$BIN/$b" ]] || die "go build did not produce $BIN/$b"
done
"$BIN/imagewatch-engine" images --help >/dev/null 2>&1 ||
	die "this imagewatch-engine has no 'images' command yet: the demo prints the inventory with it"

# --- 2. Artifactory ----------------------------------------------------------------------------

step "Starting a local Artifactory (test double) seeded with real images"
"$BIN/artifactory-double" -listen 127.0.0.1:0 -info "$INFO" >"$LOGS/artifactory-double.log" 2>&1 &
DOUBLE_PID=$!
for ((i = 0; i < 600; i++)); do # up to 120 s: it builds and pushes the image corpus first
	[[ -s "$INFO" ]] && break
	if ! kill -0 "$DOUBLE_PID" 2>/dev/null; then
		wait "$DOUBLE_PID" || true
		show_log "$LOGS/artifactory-double.log" artifactory-double
		DOUBLE_PID=""
		die "artifactory-double exited before it was ready"
	fi
	sleep 0.2
done
[[ -s "$INFO" ]] || {
	show_log "$LOGS/artifactory-double.log" artifactory-double
	die "artifactory-double was not ready after 120 s"
}
ART_URL="$(jq -er .url "$INFO")" || die "no url in $INFO"
REGISTRY_HOST="$(jq -er .registry_host "$INFO")" || die "no registry_host in $INFO"
ART_USER="$(jq -er .username "$INFO")" || die "no username in $INFO"
REPOSITORY_KEYS="$(jq -er '.repositories | join(",")' "$INFO")" || die "no repositories in $INFO"
PUSHED_TAGS="$(jq -er .tags "$INFO")" || die "no tags count in $INFO"
# The token goes only into the environment of terraform (TF_VAR_access_token): never on a command
# line (other users can read argv through ps), never printed.
ACCESS_TOKEN="$(jq -er .access_token "$INFO")" || die "no access_token in $INFO"
[[ -n "$ACCESS_TOKEN" ]] || die "the access_token in $INFO is empty"
info "Artifactory at $ART_URL (Docker registry $REGISTRY_HOST), user '$ART_USER' with a read token"
info "repositories: $REPOSITORY_KEYS; $PUSHED_TAGS tags pushed"

# --- 3. terraform apply ------------------------------------------------------------------------

step "terraform apply of examples/quickstart (dev_overrides: no registry, no terraform init)"
export TF_CLI_CONFIG_FILE="$WORK/terraform.rc"
cat >"$TF_CLI_CONFIG_FILE" <<EOF
provider_installation {
  dev_overrides {
    "imagewatch/imagewatch" = "$BIN"
  }
  direct {}
}
EOF
cp "$ROOT"/examples/quickstart/*.tf "$TFDIR/"
# The quickstart's variable for the Artifactory URL.
URL_VAR=""
for v in url artifactory_url; do
	if grep -qE "^variable \"$v\"" "$TFDIR"/*.tf; then URL_VAR="$v" && break; fi
done
[[ -n "$URL_VAR" ]] || die "examples/quickstart declares no url (or artifactory_url) variable"
info "$("$TERRAFORM" version | head -n1); working directory $TFDIR"
if ! (cd "$TFDIR" && TF_VAR_access_token="$ACCESS_TOKEN" "$TERRAFORM" apply -auto-approve -input=false \
	-compact-warnings "${TF_COLOR[@]}" \
	-var "$URL_VAR=$ART_URL" \
	-var "repository_keys=$REPOSITORY_KEYS" \
	-var "engine_dir=$ENGINE_DIR") 2>&1 | tee "$LOGS/terraform-apply.log" | sed 's/^/    /'; then
	die "terraform apply failed (output above)"
fi

STATE="$TFDIR/terraform.tfstate"
[[ -s "$STATE" ]] || die "terraform apply left no state at $STATE"
if contains_token "$STATE" "$LOGS/terraform-apply.log"; then
	die "the access token is in the Terraform state or output: it must only travel write-only"
fi

# The engine config file is wherever the quickstart's imagewatch_engine_config says.
CONFIG="$(cd "$TFDIR" && "$TERRAFORM" show -json |
	jq -r '[.values.root_module.resources[]? | select(.type == "imagewatch_engine_config") | .values.path][0] // empty')"
[[ -n "$CONFIG" ]] || CONFIG="$ENGINE_DIR/imagewatch.json"
[[ -f "$CONFIG" ]] || die "terraform apply wrote no engine config at $CONFIG"
CONFIG_DIR="$(dirname "$CONFIG")"
INTEGRATIONS_DIR="$(jq -r '.integrations_dir // empty' "$CONFIG")"
[[ -n "$INTEGRATIONS_DIR" ]] || die "$CONFIG has no integrations_dir: the quickstart should write the integrations as fragments"
[[ "$INTEGRATIONS_DIR" == /* ]] || INTEGRATIONS_DIR="$CONFIG_DIR/$INTEGRATIONS_DIR"
FRAGMENTS=("$INTEGRATIONS_DIR"/*.json)
((${#FRAGMENTS[@]} > 0)) || die "terraform apply wrote no integration fragment into $INTEGRATIONS_DIR"
for f in "$CONFIG" "${FRAGMENTS[@]}"; do
	mode="$(stat -c %a "$f")"
	[[ "$mode" == 600 ]] || die "$f has mode $mode: the provider must write engine files with mode 0600"
done
info "engine config: $CONFIG (mode 0600)"
for f in "${FRAGMENTS[@]}"; do
	info "integration:   $f (mode 0600; holds the token, which is not in the state)"
done

# --- 4. engine backfill ------------------------------------------------------------------------

step "imagewatch-engine run --backfill-from=$BACKFILL_FROM (analyse everything pushed, then exit)"
engine_status=0
# --foreground keeps the engine in the terminal's process group, so Ctrl-C reaches it (it checkpoints
# and exits) instead of only this script.
timeout --foreground --kill-after=15 "$ENGINE_TIMEOUT" \
	"$BIN/imagewatch-engine" run --config "$CONFIG" --backfill-from="$BACKFILL_FROM" 2>&1 |
	tee "$LOGS/engine.log" | sed 's/^/    /' || engine_status=${PIPESTATUS[0]}
if ((engine_status == 124 || engine_status == 137)); then
	die "the engine's backfill did not finish within ${ENGINE_TIMEOUT}s (DEMO_ENGINE_TIMEOUT)"
elif ((engine_status != 0)); then
	die "imagewatch-engine run exited with status $engine_status (log above, also in $LOGS/engine.log)"
fi
if contains_token "$LOGS/engine.log"; then
	die "the access token appears in the engine's log"
fi

# --- 5. results --------------------------------------------------------------------------------

step "imagewatch-engine images (the inventory)"
"$BIN/imagewatch-engine" images --config "$CONFIG" >"$LOGS/images.txt" 2>"$LOGS/images.err" || {
	cat "$LOGS/images.err" >&2
	die "imagewatch-engine images failed"
}
sed 's/^/    /' "$LOGS/images.txt"
"$BIN/imagewatch-engine" images --config "$CONFIG" --json >"$LOGS/images.jsonl" 2>"$LOGS/images.err" || {
	cat "$LOGS/images.err" >&2
	die "imagewatch-engine images --json failed"
}

# The first directory output holds the results; the default is results/ beside the config file.
RESULTS="$(jq -r '[.outputs[]? | select(.type == "directory") | .path][0] // "results"' "$CONFIG")"
[[ "$RESULTS" == /* ]] || RESULTS="$CONFIG_DIR/$RESULTS"
[[ -d "$RESULTS/sha256" ]] || die "no results in $RESULTS/sha256: the engine delivered nothing"

METADATA=("$RESULTS"/sha256/*/metadata.json)
SBOMS=("$RESULTS"/sha256/*/sbom.*.json)
((${#METADATA[@]} > 0)) || die "no metadata.json in $RESULTS/sha256"

step "Where the SBOMs are"
info "$RESULTS/sha256/<manifest digest hex>/"
info "    metadata.json   tags, platform, source URL and commit, build history, layers, base image"
for f in "$RESULTS"/sha256/*/; do
	for s in "$f"sbom.*.json; do info "    $(basename "$s")"; done
	break
done
example="$(jq -r 'select(.package_count > 0) | "\(.digest)\t\(.tags[0].repository)/\(.tags[0].image):\(.tags[0].tag)\t\(.package_count)"' \
	"${METADATA[@]}" | sort -t$'\t' -k2 | head -n1)"
if [[ -n "$example" ]]; then
	IFS=$'\t' read -r ex_digest ex_ref ex_count <<<"$example"
	ex_dir="$RESULTS/sha256/${ex_digest#sha256:}"
	info ""
	info "e.g. $ex_ref ($ex_count packages): $ex_dir"
	if [[ -f "$ex_dir/sbom.cdx.json" ]]; then
		jq -r '[.components[]? | select(.type != "file") | "\(.name) \(.version // "")"] | .[:6][]' "$ex_dir/sbom.cdx.json" |
			sed 's/^/        /'
		info "    ..."
	fi
fi

# --- summary and checks ------------------------------------------------------------------------

step "Summary"
# From the inventory: tags and their status; from the results: packages per analysed manifest.
inventory_tags="$(jq -s 'length' "$LOGS/images.jsonl")"
by_status="$(jq -s -r 'group_by(.status) | map("\(length) \(.[0].status)") | join(", ")' "$LOGS/images.jsonl")"
not_done="$(jq -s -r '[.[] | select(.status != "done")] | length' "$LOGS/images.jsonl")"
digests="$(jq -s -r '[.[].digest] | unique | length' "$LOGS/images.jsonl")"
read -r analysed packages <<<"$(jq -s -r '[ .[] | select(.package_count != null) ] | "\(length) \(map(.package_count) | add // 0)"' "${METADATA[@]}")"
by_type="$(jq -s -r '[ .[] | .packages[]? | .type ] | group_by(.) | map("\(.[0]) \(length)") | join(", ")' "${METADATA[@]}")"
formats="$(for s in "${SBOMS[@]}"; do basename "$s"; done | sort | uniq -c | awk '{printf "%s%s %s", sep, $1, $2; sep=", "}')"
info "Artifactory:   $PUSHED_TAGS tags pushed to $REPOSITORY_KEYS"
info "inventory:     $inventory_tags tags ($by_status), $digests distinct digests"
info "analysed:      $analysed image manifests, $packages packages in all (${by_type:-none})"
info "SBOM files:    $formats"
info "results:       $RESULTS"
info "took:          $((SECONDS - START_SECONDS))s"

# The demo is also a check: every pushed tag is in the inventory and analysed, none failed.
((inventory_tags == PUSHED_TAGS)) ||
	die "the inventory lists $inventory_tags tags, but $PUSHED_TAGS were pushed (see $LOGS/engine.log)"
((not_done == 0)) ||
	die "$not_done tags are not analysed ($by_status): see the STATUS column above and $LOGS/engine.log"
missing=0
while IFS= read -r dir; do
	[[ -n "$dir" && -f "$dir/metadata.json" ]] || missing=$((missing + 1))
done < <(jq -r '.sbom_dir // ""' "$LOGS/images.jsonl")
((missing == 0)) || die "$missing tags have no metadata.json in their SBOM folder: the directory output is incomplete"
((packages > 0)) || die "the SBOMs list no package at all"

if [[ "$KEEP" != 1 ]]; then
	printf '\nDemo passed. The temporary directory is removed now; run "make demo KEEP=1" to keep the results.\n'
else
	printf '\nDemo passed.\n'
fi
