#!/usr/bin/env bash
set -euo pipefail
D=(-D ns=cmp -D tok='\x5eb63bbbe01eeed093cb22bb8f5acdc35eb63bbbe01eeed093cb22bb8f5acdc3' -D account=1 -D key=benchkey -D owner=bench -D 'meta={"n":1}' -D ttl=30 -D rid=r -D waiter_ms=5000)
for round in 1 2 3 4 5; do
  for tag in old new; do
    tps=$(pgbench -h 127.0.0.1 -U postgres -n -M prepared -c 8 -j 1 -T 10 "${D[@]}" -f $tag.sql lh_issue3_cmp 2>&1 | grep -E "^tps" | head -1 | awk '{print $3}')
    echo "$round $tag $tps"
  done
done
