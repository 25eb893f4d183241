#!/usr/bin/env bash
# sidebyside.sh: one sitting of Reprise's bench next to DBOS Transact
# (../shared/peers/dbos-bench), alternating engine by engine so that both see
# the same machine state; every run is printed, none is dropped.
#
#   REPRISE=./rbench DBOS=./dbosbench ROUNDS=2 bench/sidebyside.sh
#
# REPRISE is a binary of `go build -o rbench ./bench`; DBOS one of the peer
# harness, with its PostgreSQL running (see its README). BASE, when set, is a
# Reprise bench binary of an earlier version: its hello CPU per 1,000 is
# measured alternately with REPRISE's, PAIRS times (default 3). Each line
# starts with the engine and mode; the Reprise lines are the bench's table rows.
set -euo pipefail
: "${REPRISE:?set REPRISE to a Reprise bench binary}"
: "${DBOS:?set DBOS to the dbos-bench binary}"
ROUNDS=${ROUNDS:-2}

reprise() { # mode workload n c [flags...]
	local mode=$1 w=$2 n=$3 c=$4
	shift 4
	printf '%-16s ' "reprise-$mode"
	"$REPRISE" -workload "$w" -n "$n" -c "$c" -progress=false "$@" 2>&1 | sed -n 2p
}
dbos() { # workload n c
	printf '%-16s ' "dbos"
	"$DBOS" -workload "$1" -n "$2" -c "$3" 2>&1 | tr '\n' ' ' | sed 's/  */ /g'
	echo
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$ROUNDS"); do
	echo "## round $round"
	for spec in "hello 10000 2000" "fanout 5000 2000" "chain 2000 2000"; do
		set -- $spec
		dbos "$1" "$3" 100
		reprise default "$1" "$2" 100
		reprise fsync "$1" "$2" 100 -fsync
	done
	dbos hello 300 1
	reprise default hello 500 1
	reprise fsync hello 500 1 -fsync
done
if [ -n "${BASE:-}" ]; then
	echo "## hello CPU per 1,000: earlier version (BASE) and this one, alternately"
	for round in $(seq "${PAIRS:-3}"); do
		printf '%-16s ' "base-default"
		"$BASE" -workload hello -n 10000 -c 100 -progress=false 2>&1 | sed -n 2p
		reprise default hello 10000 100
	done
fi
