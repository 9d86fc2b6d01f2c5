#!/bin/sh
# A stand-in "vendor PVS" on the KV-Connect REST transport for the command adapter of
# `kvc-check run --sut`, built only from curl and `openssl cms`: it looks up the recipients'
# certificates, signs and encrypts a KV-Connect message and posts it to the REST server, and it
# fetches the mailbox, decrypts and verifies every message and deletes it on the server only when
# it could decrypt it. Real vendors put their own product's CLI or test hook here.
#
#   curl-rest-pvs.sh send   TO APP BODYFILE REST_URL CA_FILE USER PASSWORD FROM KEY CERT
#   curl-rest-pvs.sh fetch  REST_URL CA_FILE USER PASSWORD KEY CERT USER_CA STORE
#   curl-rest-pvs.sh stored STORE
#
# STORE is the local message store: a directory, or a number (the REST port of the case, so
# every case starts with an empty store) standing for ${TMPDIR:-/tmp}/curl-rest-pvs-<port>.
# STORE/store.tsv holds one line per received message, including rejected ones:
# `<message id> TAB true|false TAB <warning or empty>`; `stored` prints it as the JSON array
# `[{"message_id":"…","valid":true|false,"warning":"…"|null}]`.
set -eu
action=${1:-}
[ $# -gt 0 ] && shift

die() { echo "curl-rest-pvs: $*" >&2; exit 1; }

# curl with the account's BASIC credentials, trusting only the configured CA. Prints the body to
# the file $1 and the HTTP status to stdout.
rest() {
    out=$1; shift
    curl --silent --show-error --cacert "$ca" --user "$user:$pass" \
        --output "$out" --write-out '%{http_code}' "$@"
}

# Percent-encodes everything but RFC 3986 unreserved characters (a message id in a path).
urlenc() {
    s=$1 enc=
    while [ -n "$s" ]; do
        rest_=${s#?} c=${s%"$rest_"} s=$rest_
        case $c in
            [A-Za-z0-9._~-]) enc="$enc$c" ;;
            *) enc="$enc$(printf '%%%02X' "'$c")" ;;
        esac
    done
    printf '%s' "$enc"
}

xml_unescape() {
    sed -e 's/&lt;/</g' -e 's/&gt;/>/g' -e 's/&quot;/"/g' -e "s/&apos;/'/g" -e 's/&amp;/\&/g'
}

# The address of the first `From:` header of a message file (its header block only).
from_address() {
    tr -d '\r' < "$1" | sed -n '/^$/q; /^[Ff][Rr][Oo][Mm]:/p' | head -n 1 |
        sed -e 's/^[^:]*:[[:space:]]*//' -e 's/.*<\([^>]*\)>.*/\1/' -e 's/[[:space:]]//g'
}

lower() { tr '[:upper:]' '[:lower:]'; }

store_dir() {
    case $1 in
        '' | *[!0-9]*) printf '%s' "$1" ;;
        *) printf '%s/curl-rest-pvs-%s' "${TMPDIR:-/tmp}" "$1" ;;
    esac
}

# The reason openssl gives in an error output file: its own first line plus the reason field of
# the first `…:error:…` line.
openssl_reason() {
    first=$(head -n 1 "$1")
    why=$(sed -n 's/^[^:]*:error:[^:]*:[^:]*:[^:]*:\([^:]*\).*/\1/p' "$1" | head -n 1)
    if [ -n "$why" ] && [ "$why" != "$first" ]; then printf '%s (%s)' "$first" "$why"; else printf '%s' "$first"; fi
}

case "$action" in
send)
    [ $# -eq 10 ] || die "usage: $0 send TO APP BODYFILE REST_URL CA_FILE USER PASSWORD FROM KEY CERT"
    to=$1 app=$2 body=$3 url=$4 ca=$5 user=$6 pass=$7 from=$8 key=$9
    shift 9
    cert=$1
    case "$app" in
        Arztbrief) dk="Arztbrief;VHitG-Versand;V1.0" subject="Arztbrief" ;;
        *) dk="eNachricht;Lieferung;V2.1" subject="Mitteilung" ;;
    esac
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT

    # 1. Every recipient's certificate from the server; any missing or expired one aborts the
    #    send before anything is posted.
    rcpt_certs=""
    i=0
    for r in $(printf '%s' "$to" | tr ',' ' '); do
        i=$((i + 1))
        status=$(rest "$work/cert$i.xml" -G --data-urlencode "email=$r" "$url/certificates") ||
            die "certificate lookup for $r failed"
        case "$status" in
            2??) ;;
            404) die "no certificate for recipient $r (HTTP 404); nothing sent" ;;
            *) die "certificate lookup for $r: HTTP $status; nothing sent" ;;
        esac
        sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' "$work/cert$i.xml" |
            sed -e 's/.*<body>//' -e 's/<\/body>.*//' | xml_unescape > "$work/cert$i.pem"
        openssl x509 -in "$work/cert$i.pem" -noout 2> /dev/null ||
            die "empty or unreadable certificate for recipient $r; nothing sent"
        openssl x509 -in "$work/cert$i.pem" -noout -checkend 0 > /dev/null ||
            die "the certificate of recipient $r has expired; nothing sent"
        rcpt_certs="$rcpt_certs $work/cert$i.pem"
    done
    [ -n "$rcpt_certs" ] || die "no recipient"

    # 2. The inner MIME entity (CRLF), signed (detached multipart/signed, SHA-256).
    {
        printf 'Content-Type: text/plain; charset=utf-8\r\n'
        printf 'Content-Transfer-Encoding: 8bit\r\n\r\n'
        tr -d '\r' < "$body" | awk '{ printf "%s\r\n", $0 }'
    } > "$work/inner.eml"
    openssl cms -sign -md sha256 -signer "$cert" -inkey "$key" -binary -crlfeol \
        -in "$work/inner.eml" -out "$work/signed.lf" || die "signing failed"
    # openssl writes the base64 signature part with bare LF even with -crlfeol; the signed part
    # is CRLF already, so normalising every line leaves the signature valid.
    tr -d '\r' < "$work/signed.lf" | awk '{ printf "%s\r\n", $0 }' > "$work/signed.eml"

    # 3. Encrypted (AES-256-CBC) to every recipient and to the own certificate.
    # shellcheck disable=SC2086
    openssl cms -encrypt -aes256 -binary -crlfeol -in "$work/signed.eml" \
        -out "$work/enc.eml" $rcpt_certs "$cert" || die "encryption failed"

    # 4. The KV-Connect headers in front of openssl's S/MIME headers; CRLF everywhere.
    domain=${from#*@}
    {
        printf 'From: %s\r\nTo: %s\r\nSubject: %s\r\n' "$from" "$(printf '%s' "$to" | sed 's/,/, /g')" "$subject"
        printf 'Date: %s\r\n' "$(LC_ALL=C date '+%a, %d %b %Y %H:%M:%S %z')"
        printf 'Message-ID: <%s@%s>\r\n' "$(cat /proc/sys/kernel/random/uuid 2> /dev/null ||
            printf '%s.%s' "$(date +%s)" "$$")" "$domain"
        printf 'X-KVC-Dienstkennung: %s\r\nX-KVC-Sendersystem: %s\r\n' "$dk" "curl-rest-pvs;1.0"
        tr -d '\r' < "$work/enc.eml" | awk '{ printf "%s\r\n", $0 }'
    } > "$work/mail.eml"

    # 5. POST mails.
    status=$(rest "$work/post.out" -H 'Content-Type: text/plain;charset=UTF-8' \
        --data-binary "@$work/mail.eml" "$url/mails") || die "POST mails failed"
    case "$status" in
        2??) ;;
        *) die "POST mails: HTTP $status: $(cat "$work/post.out")" ;;
    esac
    ;;
fetch)
    [ $# -eq 8 ] || die "usage: $0 fetch REST_URL CA_FILE USER PASSWORD KEY CERT USER_CA STORE"
    url=$1 ca=$2 user=$3 pass=$4 key=$5 cert=$6 userca=$7 store=$(store_dir "$8")
    mkdir -p "$store"
    touch "$store/store.tsv"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT

    # Login (the server redirects to the account resource) -> uid.
    status=$(rest "$work/account.xml" -L "$url/login/$(urlenc "$user")") || die "login failed"
    case "$status" in 2??) ;; *) die "login: HTTP $status" ;; esac
    uid=$(sed -n 's/.*<account[^>]* uid="\([^"]*\)".*/\1/p' "$work/account.xml" | head -n 1 |
        xml_unescape)
    [ -n "$uid" ] || die "login: no account uid in the answer"
    acc="$url/accounts/$(urlenc "$uid")"

    status=$(rest "$work/headers.xml" "$acc/headers") || die "header listing failed"
    case "$status" in 2??) ;; *) die "headers: HTTP $status" ;; esac
    tr '<' '\n' < "$work/headers.xml" | sed -n 's/^message-id>//p' | xml_unescape > "$work/ids"

    while IFS= read -r id; do
        [ -n "$id" ] || continue
        path="$acc/mails/$(urlenc "$id")"
        status=$(rest "$work/mail.eml" "$path") || die "fetching <$id> failed"
        case "$status" in 2??) ;; *) die "fetching <$id>: HTTP $status" ;; esac

        # Not decryptable: keep it on the server and stop this receive run.
        if ! openssl cms -decrypt -inkey "$key" -recip "$cert" -in "$work/mail.eml" \
            -out "$work/signed.eml" 2> "$work/decrypt.err"; then
            die "cannot decrypt <$id>, left on the server: $(openssl_reason "$work/decrypt.err")"
        fi

        warning=""
        if ! openssl cms -verify -CAfile "$userca" -no-CApath -no-CAstore -purpose any \
            -in "$work/signed.eml" -signer "$work/signer.pem" -out "$work/content.eml" \
            2> "$work/verify.err"; then
            warning="signature invalid or signer not trusted: $(openssl_reason "$work/verify.err")"
        else
            from=$(from_address "$work/mail.eml" | lower)
            if ! openssl x509 -in "$work/signer.pem" -noout -email | lower | grep -qxF "$from"; then
                emails=$(openssl x509 -in "$work/signer.pem" -noout -email | paste -s -d ',' -)
                warning="the signer certificate (${emails:-no e-mail address}) does not belong to the sender $from"
            fi
        fi
        # The store is tab separated: no tabs or line breaks in a warning.
        warning=$(printf '%s' "$warning" | tr '\t\r\n' '   ')
        if [ -n "$warning" ]; then
            echo "curl-rest-pvs: WARNING <$id>: $warning" >&2
            printf '%s\tfalse\t%s\n' "$id" "$warning" >> "$store/store.tsv"
        else
            printf '%s\ttrue\t\n' "$id" >> "$store/store.tsv"
        fi

        status=$(rest "$work/delete.out" -X DELETE "$path") || die "deleting <$id> failed"
        case "$status" in 2??) ;; *) die "deleting <$id>: HTTP $status" ;; esac
    done < "$work/ids"
    ;;
stored)
    [ $# -eq 1 ] || die "usage: $0 stored STORE"
    store=$(store_dir "$1")
    json_str() { printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"; }
    sep=""
    printf '['
    if [ -f "$store/store.tsv" ]; then
        while IFS="$(printf '\t')" read -r id valid warning; do
            [ -n "$id" ] || continue
            if [ -n "$warning" ]; then w=$(json_str "$warning"); else w=null; fi
            printf '%s{"message_id":%s,"valid":%s,"warning":%s}' "$sep" "$(json_str "$id")" "$valid" "$w"
            sep=","
        done < "$store/store.tsv"
    fi
    printf ']\n'
    ;;
*) echo "usage: $0 send|fetch|stored ..." >&2; exit 2 ;;
esac
