# Sourced by `make run`: supply demo secrets for the variables the shipped config names, but
# only those the environment does not already set, and say so. `relay serve` itself never
# invents a secret; this file is for trying relay on one machine, not for production.
_relay_demo() {
  name=$1; value=$2
  eval "current=\${$name:-}"
  if [ -z "$current" ]; then
    export "$name=$value"
    printf '  export %s=%s\n' "$name" "$value"
  fi
}
echo "relay demo: using demo secrets for unset variables (set your own for real use):"
_relay_demo RELAY_API_TOKEN demo-api-token
_relay_demo RELAY_GITHUB_SECRET demo-github-secret
_relay_demo RELAY_GITHUB_API_TOKEN demo-github-api-token
_relay_demo RELAY_GITLAB_TOKEN demo-gitlab-token
_relay_demo RELAY_GITEA_SECRET demo-gitea-secret
_relay_demo RELAY_ADMIN_TOKEN demo-admin-token
unset -f _relay_demo
