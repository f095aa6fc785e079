#!/bin/sh
# Function lengths over the given directories (default: broker clients common),
# in the house brace style: a definition's body opens with `{` in column 0 and
# closes with `}` in column 0. Prints the median, p90, the longest functions and
# files over 1,100 lines. Used for issue 13's figures; `-v` lists every function.
set -eu
verbose=0
[ "${1:-}" = -v ] && { verbose=1; shift; }
dirs=${*:-broker clients common}
files=$(for d in $dirs; do ls "$d"/*.c; done)
awk -v verbose=$verbose '
FNR == 1 { inside = 0 }
/^[A-Za-z_].*\(/ && !inside { last = $0 }
/^\{/ && !inside { inside = 1; start = FNR; name = last; sub(/\(.*/, "", name); sub(/.* \**/, "", name); next }
/^\}/ && inside { inside = 0; n = FNR - start - 1; print n, FILENAME ":" name }
' $files | sort -n > /tmp/funclen.$$
count=$(wc -l < /tmp/funclen.$$)
med=$(awk -v c=$count 'NR == int((c + 1) / 2) { print $1 }' /tmp/funclen.$$)
p90=$(awk -v c=$count 'NR == int(c * 0.9 + 0.999) { print $1 }' /tmp/funclen.$$)
echo "functions: $count  median: $med  p90: $p90"
echo "over 60 lines:"; awk '$1 > 60 { print "  " $0 }' /tmp/funclen.$$
[ $verbose = 1 ] && cat /tmp/funclen.$$
echo "files over 1100 lines:"; wc -l $files | awk '$2 != "total" && $1 > 1100 { print "  " $0 }'
rm -f /tmp/funclen.$$
