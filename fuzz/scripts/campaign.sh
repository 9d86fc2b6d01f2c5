#!/usr/bin/env bash
# Rotating fuzz campaign: one libFuzzer process at a time, lowest priority, each run bounded
# by time and memory so the campaign stops by itself.
#   [MAX_LEN=N] [RUNS=N] fuzz/scripts/campaign.sh SECONDS TARGET [TARGET...]   (from anywhere)
# RUNS=N also stops a run after N executions (to top a target up to a campaign total).
# Corpora: fuzz/corpus/<target>/ (not committed; seed from fuzz/seeds, vectors/ and the
# shared corpus, see docs/RELIABILITY.md). Logs: fuzz/logs/<target>-<time>.log.
# Stop early: touch fuzz/logs/STOP (the current run finishes its time slice). DEADLINE=<epoch>
# shortens the last run so that none runs past it.
set -u
secs=$1; shift
fuzz=$(cd "$(dirname "$0")/.." && pwd)
bin=$fuzz/target/x86_64-unknown-linux-gnu/release
mkdir -p "$fuzz/logs"
for t in "$@"; do
    [ -e "$fuzz/logs/STOP" ] && break
    run=$secs
    if [ -n "${DEADLINE:-}" ]; then
        left=$((DEADLINE - $(date +%s) - 5))
        [ "$left" -lt 10 ] && break
        [ "$left" -lt "$run" ] && run=$left
    fi
    mkdir -p "$fuzz/corpus/$t" "$fuzz/artifacts/$t"
    log=$fuzz/logs/$t-$(date -u +%H%M%S).log
    # -jobs=1 makes libFuzzer run the fuzzing in one child whose output is fuzz-0.log in
    # the working directory, so each run gets its own directory.
    work=$fuzz/logs/$t-work && mkdir -p "$work" && rm -f "$work/fuzz-0.log"
    # CPU seconds of the run (all descendants), to tell speed from contention on a busy machine.
    (cd "$work" && /usr/bin/time -f 'cpu_seconds: %U user %S sys' -o "$log.cpu" nice -n 19 "$bin/$t" "$fuzz/corpus/$t" \
        -workers=1 -jobs=1 -max_total_time="$run" -rss_limit_mb=2048 -timeout=10 \
        -max_len="${MAX_LEN:-65536}" -runs="${RUNS:--1}" -print_final_stats=1 -artifact_prefix="$fuzz/artifacts/$t/") \
        > "$log.parent" 2>&1
    rc=$?
    cat "$work/fuzz-0.log" "$log.cpu" >> "$log" 2>/dev/null
    echo "$(date -u +%FT%TZ) $t exit=$rc $(grep -E '^stat::number_of_executed_units' "$log" | tail -1)" \
        >> "$fuzz/logs/campaign.txt"
done
