#!/usr/bin/env bash
# with-slurm.sh COMMAND...: runs COMMAND against a fresh single-node Slurm cluster (munged, slurmctld,
# slurmd; installed from Debian on first use) and stops it afterwards, whatever COMMAND's outcome.
# Needs root. SLURMD_TIMEOUT defaults to 10 s here, so a killed slurmd gives NODE_FAIL within a minute.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" -ne 0 ]; then echo "with-slurm.sh needs root (it starts munged, slurmctld and slurmd)" >&2; exit 1; fi
export SLURMD_TIMEOUT=${SLURMD_TIMEOUT:-10} SLURM_MIN_JOB_AGE=${SLURM_MIN_JOB_AGE:-600}
eval "$(bash "$here/start-slurm.sh")"
trap 'bash "$here/stop-slurm.sh" "$SLURM_DIR" >/dev/null 2>&1 || true' EXIT
"$@"
