#!/bin/sh
# A stand-in "vendor PVS" for the command adapter of `kvc-check run --sut`: it composes a
# KV-Connect message and sends it with curl over SMTPS, or fetches the mailbox over POP3S.
# Real vendors put their own product's CLI or test hook here. (CURL_PVS_SENDERSYSTEM overrides
# the X-KVC-Sendersystem value; the test suite uses it to simulate an inconsistent product.)
#
#   curl-pvs.sh send  TO APP BODYFILE HOST SMTP_PORT CA_FILE USER PASSWORD FROM
#   curl-pvs.sh fetch HOST POP3_PORT CA_FILE USER PASSWORD
set -eu
action=$1; shift
case "$action" in
send)
    to=$1 app=$2 body=$3 host=$4 port=$5 ca=$6 user=$7 pass=$8 from=$9
    case "$app" in
        Arztbrief) dk="Arztbrief;VHitG-Versand;V1.0" subject="Arztbrief" ;;
        *) dk="eNachricht;Lieferung;V2.1" subject="Mitteilung" ;;
    esac
    msg=$(mktemp)
    trap 'rm -f "$msg"' EXIT
    rcpts=""
    for r in $(printf '%s' "$to" | tr ',' ' '); do rcpts="$rcpts --mail-rcpt $r"; done
    {
        printf 'From: %s\r\nTo: %s\r\nSubject: %s\r\n' "$from" "$to" "$subject"
        printf 'Date: %s\r\n' "$(LC_ALL=C date -R)"
        printf 'Message-ID: <%s.%s@curl-pvs.test>\r\n' "$(date +%s%N)" "$$"
        printf 'X-KVC-Sendersystem: %s\r\nX-KVC-Dienstkennung: %s\r\n' \
            "${CURL_PVS_SENDERSYSTEM:-curl-pvs;1.0}" "$dk"
        printf 'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n'
        awk '{ printf "%s\r\n", $0 }' "$body"
    } > "$msg"
    # shellcheck disable=SC2086
    exec curl --silent --show-error --ssl-reqd "smtps://$host:$port" --cacert "$ca" \
        --user "$user:$pass" --mail-from "$from" $rcpts --upload-file "$msg"
    ;;
fetch)
    host=$1 port=$2 ca=$3 user=$4 pass=$5
    n=$(curl --silent --show-error --cacert "$ca" --user "$user:$pass" \
        "pop3s://$host:$port/" | grep -c .)
    i=1
    while [ "$i" -le "${n:-0}" ]; do
        curl --silent --show-error --cacert "$ca" --user "$user:$pass" \
            "pop3s://$host:$port/$i" > /dev/null
        i=$((i + 1))
    done
    ;;
*) echo "usage: $0 send|fetch ..." >&2; exit 2 ;;
esac
