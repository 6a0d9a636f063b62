#!/bin/sh
# compare.sh: `ckv-bench core` and Signal's libsignal (libsignal-bench.js) in
# the same run, so that the two are measured under the same machine load.
# usage: bench/node/compare.sh PATH/TO/ckv-bench [options for both, e.g. --runs 3]
# Needs `npm install` in bench/node first (the package ships its native binary).
set -eu
here=$(dirname "$0")
bench=$1
shift
"$bench" core "$@"
if [ -d "$here/node_modules/@signalapp/libsignal-client" ]; then
    node "$here/libsignal-bench.js" "$@"
else
    echo "compare.sh: libsignal not installed; run 'npm install' in $here" >&2
    exit 1
fi
