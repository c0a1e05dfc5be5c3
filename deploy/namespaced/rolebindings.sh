#!/bin/sh
# Prints one RoleBinding per namespace given: the tenant rules (ClusterRole
# manyfold-operator-tenant, deploy/manifests/rbac.yaml) granted to the operator in that
# namespace only. To serve team-a and team-b:
#
#   deploy/namespaced/rolebindings.sh team-a team-b > deploy/namespaced/rolebindings.yaml
#
# and list the same namespaces in the --namespace argument of kustomization.yaml.
set -eu
if [ "$#" -eq 0 ]; then
  echo "usage: $0 NAMESPACE..." >&2
  exit 2
fi
first=1
for ns in "$@"; do
  case "$ns" in
    *[!a-z0-9-]* | -* | *- | '') echo "$0: '$ns' is not a namespace name" >&2; exit 2 ;;
  esac
  [ "$first" -eq 1 ] || echo '---'
  first=0
  cat <<YAML
# The tenant rules in $ns only (one RoleBinding per namespace the operator serves).
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: manyfold-operator
  namespace: $ns
  labels:
    app.kubernetes.io/name: manyfold
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: manyfold-operator-tenant
subjects:
  - kind: ServiceAccount
    name: manyfold-operator
    namespace: manyfold-system
YAML
done
