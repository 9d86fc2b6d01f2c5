#!/usr/bin/env bash
# One markdown row per campaign log: target, executions, exec/s (wall clock and per CPU second:
# the machine is shared), cov, ft, corpus units/size, crash artifacts.   fuzz/scripts/stats.sh [LOG...]   (default: fuzz/logs/*.log)
fuzz=$(cd "$(dirname "$0")/.." && pwd)
[ $# -eq 0 ] && set -- "$fuzz"/logs/*.log
echo "| target | run (UTC) | seconds | executions | exec/s | exec per CPU s | cov (start → end) | ft (start → end) | corpus units / size | crashes |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for log in "$@"; do
    t=$(basename "$log" .log); start=${t##*-}; t=${t%-*}
    execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
    rate=$(grep -E '^stat::average_exec_per_sec' "$log" | awk '{print $2}')
    secs=$(grep -Eo 'runs in [0-9]+ second' "$log" | awk '{print $3}')
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    init=$(grep -E '^#[0-9]+\s+INITED' "$log" | tail -1)
    cov0=$(echo "$init" | grep -Eo 'cov: [0-9]+' | awk '{print $2}')
    ft0=$(echo "$init" | grep -Eo 'ft: [0-9]+' | awk '{print $2}')
    cov=$(echo "$last" | grep -Eo 'cov: [0-9]+' | awk '{print $2}')
    ft=$(echo "$last" | grep -Eo 'ft: [0-9]+' | awk '{print $2}')
    corp=$(echo "$last" | grep -Eo 'corp: [0-9]+/[0-9]+[a-zA-Z]+' | awk '{print $2}')
    cpu=$(grep -E '^cpu_seconds:' "$log" | awk '{printf "%.0f", $2 + $4}')
    percpu=?; [ -n "$cpu" ] && [ "$cpu" -gt 0 ] && [ -n "$execs" ] && percpu=$((execs / cpu))
    crashes=$(grep -c 'Test unit written to' "$log")
    echo "| \`$t\` | ${start:0:2}:${start:2:2} | ${secs:-?} | ${execs:-?} | ${rate:-?} | $percpu | ${cov0:-?} → ${cov:-?} | ${ft0:-?} → ${ft:-?} | ${corp:-?} | $crashes |"
done
