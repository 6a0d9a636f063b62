#!/usr/bin/env bash
# run.sh: the main job (README's first command). Placeholder until the server
# and chat client land; see README.
set -euo pipefail
echo "ckv: the server (ckvd) and the chat client (ckv-chat) are not built yet." >&2
exit 1
