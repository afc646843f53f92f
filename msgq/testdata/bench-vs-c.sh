#!/bin/sh
# Compares msgq's two-process benchmarks with the C reference programs of
# ../shared/bench-ref, interleaving the runs so that both see the same load,
# and prints the median of each and the Go/C ratio.
#
#   msgq/testdata/bench-vs-c.sh [rounds] [pin]     (defaults: 5 same)
#
# pin is same, cross or none, for both (PIN= for C, MSGQ_PIN= for Go).
set -eu
rounds=${1:-5}
pin=${2:-same}
here=$(cd "$(dirname "$0")/.." && pwd)
ref=${BENCH_REF:-$here/../../shared/bench-ref}
make -s -C "$ref" >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$here" && go test -c -o "$tmp/msgq.test" .)

median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

for r in $(seq "$rounds"); do
	for s in 64 1024 8000; do
		n=200000; [ "$s" = 64 ] || n=50000
		PIN=$pin "$ref/msgping" $n $s | sed 's/.*ns_per_rtt=//' >>"$tmp/c-ping-$s"
		MSGQ_PIN=$pin "$tmp/msgq.test" -test.run '^$' -test.bench "^BenchmarkPingPong/$s\$" -test.benchtime ${n}x |
			awk '/^BenchmarkPingPong/ {print $3}' >>"$tmp/go-ping-$s"
		n=1000000; [ "$s" = 64 ] || n=500000; [ "$s" = 8000 ] && n=200000
		PIN=$pin "$ref/msgstream" $s $n | sed 's/.*msgs_per_s=\([0-9.]*\).*/\1/' >>"$tmp/c-stream-$s"
		MSGQ_PIN=$pin "$tmp/msgq.test" -test.run '^$' -test.bench "^BenchmarkStream/$s\$" -test.benchtime ${n}x |
			awk '/^BenchmarkStream/ {for (i = 1; i < NF; i++) if ($(i+1) == "msgs/s") print $i}' >>"$tmp/go-stream-$s"
	done
	echo "round $r done" >&2
done

printf '%-18s %12s %12s %8s\n' "pin=$pin" C Go Go/C
for s in 64 1024 8000; do
	c=$(median <"$tmp/c-ping-$s"); g=$(median <"$tmp/go-ping-$s")
	printf '%-18s %12.0f %12.0f %8.2f\n' "pingpong $s ns" "$c" "$g" "$(echo "$g / $c" | bc -l)"
done
for s in 64 1024 8000; do
	c=$(median <"$tmp/c-stream-$s"); g=$(median <"$tmp/go-stream-$s")
	printf '%-18s %12.0f %12.0f %8.2f\n' "stream $s msg/s" "$c" "$g" "$(echo "$g / $c" | bc -l)"
done
