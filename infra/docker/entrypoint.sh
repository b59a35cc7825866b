#!/bin/sh
# The container's entrypoint: one image, one process of Model Router from the compiled build.
# The process is the first argument, else $SERVICE (default api); `migrate` applies the migrations.
#   entrypoint.sh [api|mock-provider|metric-aggregator|health-checker|cache-invalidator|budget-enforcer|migrate] [args]
set -eu
# The image's /app (or a checkout, when run from one): two folders above this script.
app_dir=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
service=${1:-${SERVICE:-api}}
[ $# -gt 0 ] && shift
case "$service" in
  api | mock-provider | metric-aggregator | health-checker | cache-invalidator | budget-enforcer)
    # exec: the service is PID 1's replacement, so SIGTERM reaches it and its graceful stop runs.
    # Its own folder as the working directory, as `pnpm start` runs it.
    cd "$app_dir/services/$service"
    exec node dist/main.js "$@"
    ;;
  migrate)
    cd "$app_dir"
    exec node packages/database/dist/migrate-cli.js "$@"
    ;;
  *)
    echo "unknown service \"$service\": use api, mock-provider, metric-aggregator, health-checker, cache-invalidator, budget-enforcer or migrate" >&2
    exit 64
    ;;
esac
