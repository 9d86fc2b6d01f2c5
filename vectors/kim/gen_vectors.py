#!/usr/bin/env python3
"""Writes the constructed KIM vectors (vectors/kim/*.eml) and their part of MANIFEST.yaml.

Each failing vector is a passing one with exactly one defect; `breaks` names the rule ids that
defect must trigger. Run from the repository root: python3 vectors/kim/gen_vectors.py
The gematik samples under vectors/kim/gematik/ are verbatim copies and not generated here.
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
CRLF = "\r\n"

A23165_TEXT = ("Beim Empfang dieser KIM Nachricht wurde eine Sicherheitsverletzung erkannt. Dies kann "
               "eine technisches Ursache haben oder auf eine missbräuchliche Nutzung des KIM Dienstes "
               "hinweisen. Zu Ihrem Schutz wurde der Inhalt dieser Nachricht durch diesen Text "
               "ausgetauscht. Zusätzlich wurde der Absender der ursprünglichen Nachricht automatisch "
               "über diesen Vorfall informiert.")
A19372_TEXT = ("Beim Empfang dieser KIM Nachricht wurde eine Sicherheitsverletzung erkannt. Dies kann "
               "eine technisches Ursache haben oder auf eine missbräuchliche Nutzung des KIM Dienstes "
               "hinweisen. Zu Ihrem Schutz wurde der Inhalt dieser Nachricht durch diesen Text "
               "ausgetauscht. Der Absender wurde über diesen Vorfall informiert. Bitte antworten Sie "
               "nicht auf diese Nachricht. Sie können diese Nachricht löschen.")

SENDER = "praxis.a@arzt.kim.telematik-test"
RCPT = "praxis.b@arzt.kim.telematik-test"


def wrap(text, width=76):
    out, line = [], ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    out.append(line)
    return CRLF.join(out)


def msg(headers, body):
    return CRLF.join(headers) + CRLF + CRLF + body


def client_headers(**over):
    return headers(CLIENT, **over)


def hname(k):
    return {"Message_ID": "Message-ID", "MIME_Version": "MIME-Version", "Content_Type": "Content-Type",
            "Content_Transfer_Encoding": "Content-Transfer-Encoding", "Reply_To": "Reply-To"}.get(k, k.replace("_", "-"))


def headers(base, **over):
    h = dict(base)
    for k, v in over.items():
        k = hname(k)
        if v is None:
            h.pop(k, None)
        else:
            h[k] = v
    return [f"{k}: {v}" for k, v in h.items()]


CLIENT = {
    "Message-ID": "<4f1c2a9e-0b7d-4c55-9b1e-2d0c7a1e9f01@arzt.kim.telematik-test>",
    "Date": "Fri, 9 Sep 2022 15:47:00 +0200",
    "From": f"Praxis A <{SENDER}>",
    "To": f"Praxis B <{RCPT}>",
    "Subject": "Befundbericht",
    "MIME-Version": "1.0",
    "X-KIM-Dienstkennung": "KIM-Mail;Default;V1.0",
    "X-KIM-Sendersystem": "Beispiel-PVS;2.81",
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Transfer-Encoding": "8bit",
}
CLIENT_BODY = "Sehr geehrte Kollegin, anbei der Befundbericht." + CRLF

KOMLE = {
    "Subject": "KOM-LE-Nachricht",
    "Date": "Fri, 9 Sep 2022 15:47:00 +0200",
    "From": f"Praxis A <{SENDER}>",
    "To": f"Praxis B <{RCPT}>",
    "Message-ID": "<4f1c2a9e-0b7d-4c55-9b1e-2d0c7a1e9f01@arzt.kim.telematik-test>",
    "X-KIM-Dienstkennung": "KIM-Mail;Default;V1.0",
    "X-KIM-Sendersystem": "Beispiel-PVS;2.81",
    "X-KOM-LE-Version": "1.5",
    "X-KIM-CMVersion": "AKNET_1.1.0-0",
    "X-KIM-PTVersion": "1.2.1",
    "X-KIM-KONVersion": "<secunet konnektor 2.0.0><Konnektor PTV5><5.0.2><2.0.0><5.0.5>",
    "MIME-Version": "1.0",
    "Expires": "Thu, 08 Dec 2022 15:48:35 +0200",
    "Content-Type": "application/pkcs7-mime; smime-type=authenticated-enveloped-data; name=smime.p7m",
    "Content-Disposition": "attachment; filename=smime.p7m",
    "Content-Transfer-Encoding": "base64",
}
KOMLE_BODY = "MIAGCyqGSIb3DQEJEAEXoIAwgAIBADGCAUYwggFCAgEAMCowJDELMAkGA1UEBhMCREUxFTATBgNV" + CRLF

LINK = "https://kas.arzt.kim.telematik-test/attachments/v2.4/attachment/a566f001-7fa6-4f87-a088-7def2d609c87"
K = "AZtUCtV3M5mTC/XzfDDl25mZ4FwoOADyaIi3Fn8wH6w="
HASH = "Wc148UGImi84VG3H/fF+3x6ouGMtH4cWzFZr1FjYl8A="


def kas_json(**over):
    fields = {"link": f'"{LINK}"', "k": f'"{K}"', "hash": f'"{HASH}"', "size": "27262976"}
    for k, v in over.items():
        if v is None:
            fields.pop(k, None)
        else:
            fields[k] = v
    return "{" + ",".join(f'"{k}":{v}' for k, v in fields.items()) + "}" + CRLF


KAS = dict(CLIENT)
KAS["Content-Type"] = "text/plain; charset=utf-8"
KAS["Content-Disposition"] = "x-kas"
KAS.pop("Content-Transfer-Encoding")

DELIVERED = dict(CLIENT)
DELIVERED["X-KIM-DecryptionResult"] = "00"
DELIVERED["X-KIM-IntegrityCheckResult"] = "01"
VERMERK = ("---------------------------------------------" + CRLF + "Die Nachricht wurde entschlüsselt." + CRLF
           + "Die Signatur wurde erfolgreich geprüft." + CRLF)
DELIVERED_BODY = CLIENT_BODY + CRLF + VERMERK


def original_kas_two():
    """The received message that had two KIM-Attachment structures (for A_19369 error mails)."""
    h = headers(CLIENT, Content_Type='multipart/mixed; boundary="orig"', Content_Transfer_Encoding=None)
    part = "Content-Type: text/plain; charset=utf-8" + CRLF + "Content-Disposition: x-kas" + CRLF + CRLF + kas_json()
    body = "--orig" + CRLF + part + "--orig" + CRLF + part + "--orig--" + CRLF
    return msg(h, body)


def error_mail(subject, text, extra=None, original=True, over=None, mixed=True):
    base = {
        "Message-ID": "<err-7c1d@cm.arzt.kim.telematik-test>",
        "Date": CLIENT["Date"],
        "From": CLIENT["From"],
        "To": CLIENT["To"],
        "Subject": subject,
        "MIME-Version": "1.0",
        "Content-Type": 'multipart/mixed; boundary="err"',
    }
    if extra:
        base.update(extra)
    if over:
        for k, v in over.items():
            if v is None:
                base.pop(k, None)
            else:
                base[k] = v
    h = [f"{k}: {v}" for k, v in base.items()]
    if not mixed:
        return msg(h, text + CRLF)
    body = ("--err" + CRLF + "Content-Type: text/plain; charset=utf-8" + CRLF + "Content-Transfer-Encoding: 8bit"
            + CRLF + CRLF + text + CRLF)
    if original:
        body += ("--err" + CRLF + "Content-Type: message/rfc822" + CRLF + "Content-Disposition: attachment"
                 + CRLF + CRLF + original_kas_two())
    body += "--err--" + CRLF
    return msg(h, body)


def dsn(code, report_type="delivery-status", status_part=True, signed=False, encrypted=False,
        header="X-KIM-IntegrityCheckResult"):
    base = {
        "Message-ID": "<dsn-11aa@cm.arzt.kim.telematik-test>",
        "Date": "Fri, 9 Sep 2022 15:52:00 +0200",
        "From": "Mail Delivery Subsystem <postmaster@arzt.kim.telematik-test>",
        "To": f"Praxis A <{SENDER}>",
        "Subject": "Fehler bei der Integritätsprüfung beim Empfänger",
        "MIME-Version": "1.0",
        header: code,
        "Content-Type": f'multipart/report; report-type={report_type}; boundary="rep"',
    }
    h = [f"{k}: {v}" for k, v in base.items()]
    body = ("--rep" + CRLF + "Content-Type: text/plain; charset=utf-8" + CRLF + CRLF
            + "Beim Empfänger ist die Integritätsprüfung Ihrer Nachricht fehlgeschlagen." + CRLF)
    if status_part:
        body += ("--rep" + CRLF + "Content-Type: message/delivery-status" + CRLF + CRLF
                 + "Reporting-MTA: dns; cm.arzt.kim.telematik-test" + CRLF + CRLF
                 + f"Final-Recipient: rfc822; {RCPT}" + CRLF + "Action: failed" + CRLF
                 + "Status: 5.7.0" + CRLF)
    if signed:
        body += ("--rep" + CRLF + "Content-Type: application/pkcs7-signature; name=smime.p7s" + CRLF
                 + "Content-Transfer-Encoding: base64" + CRLF + CRLF + "MIAGCSqGSIb3DQEHAqCAMIACAQEx" + CRLF)
    if encrypted:
        body += ("--rep" + CRLF + "Content-Type: application/pkcs7-mime; smime-type=enveloped-data" + CRLF
                 + "Content-Transfer-Encoding: base64" + CRLF + CRLF + "MIAGCSqGSIb3DQEHA6CAMIACAQAx" + CRLF)
    body += "--rep--" + CRLF
    return msg(h, body)


def a22412(subject=None, part_type="text/plain; charset=utf-8", code="4013"):
    base = dict(CLIENT)
    base.pop("Content-Transfer-Encoding")
    base["Subject"] = subject or "[Fehler beim Abruf eines Anhangs 20mb.test_Fehlermeldung.txt] Befundbericht"
    base["X-KIM-Fehlermeldung"] = code
    base["Content-Type"] = 'multipart/mixed; boundary="b1"'
    h = [f"{k}: {v}" for k, v in base.items()]
    body = ("--b1" + CRLF + "Content-Type: text/plain; charset=utf-8" + CRLF + CRLF + CLIENT_BODY
            + "--b1" + CRLF + f"Content-Type: {part_type}" + CRLF
            + "Content-Disposition: attachment; filename=20mb.test_Fehlermeldung.txt" + CRLF + CRLF
            + 'Der Anhang { "name": "20mb.test", "size": 20971520, "type": "text/plain" } konnte nicht abgerufen werden.'
            + CRLF + "--b1--" + CRLF)
    return msg(h, body)


def delivered_text(text, **over):
    h = dict(DELIVERED)
    h["X-KIM-DecryptionResult"] = "00"
    h["X-KIM-IntegrityCheckResult"] = "02"
    for k, v in over.items():
        k = hname(k)
        if v is None:
            h.pop(k, None)
        else:
            h[k] = v
    return msg([f"{k}: {v}" for k, v in h.items()], wrap(text) + CRLF)


# Rule id -> requirement (as in src/rules/kim/); a broken rule fails its requirement.
RULE_REQ = {
    "kim/crlf-only": "KOM-LE-A_2006", "kim/message-id": "KOM-LE-A_2006", "kim/date": "KOM-LE-A_2006",
    "kim/dienstkennung": "A_19488", "kim/sendersystem": "KIM-PS-Sendersystem",
    "kim/cm-version": "A_21388", "kim/pt-version": "A_21388", "kim/kon-version": "A_21388",
    "kim/kom-le-version": "KOM-LE-A_2100", "kim/outer-version-headers": "A_21388", "kim/outer-expires": "A_22417",
    "kim/outer-subject": "KOM-LE-A_2102", "kim/outer-content-type": "KOM-LE-A_2104",
    "kim/decryption-result": "KOM-LE-A_2047", "kim/integrity-check-result": "KOM-LE-A_2050",
    "kim/fehlermeldung": "A_20650", "kim/kas-part-headers": "A_19359", "kim/kas-only-body-element": "A_19359",
    "kim/kas-json": "A_19359", "kim/kas-values": "A_19359", "kim/kas-link": "A_19364",
    "kim/kas-single-structure": "A_19369", "kim/client-mail-limit": "A_23171", "kim/kas-threshold": "A_19357",
    "kim/body-limit": "A_19366", "kim/dsn-integrity": "A_23165", "kim/dsn-kas-hash": "A_19372",
    "kim/integrity-replacement": "A_23165", "kim/error-mail-ambiguous": "A_19369",
    "kim/error-mail-download": "A_19370", "kim/error-mail-decrypt": "A_19371",
    "kim/kas-hash-mismatch": "A_19372", "kim/kas-access-limit": "A_22412",
    "kim/success-vermerk": "KOM-LE-A_2050", "kim/decrypted-vermerk": "KOM-LE-A_2179",
}

V = []  # (file, profile, content, breaks, passes, note, forced, also, warnings)


def add(file, profile, content, breaks=(), passes=(), note="", forced=False, also=None, warnings=None):
    """`also`: further requirement verdicts (e.g. {"A_19370": "skip"}); `warnings`: when given,
    the exact set of rule ids that must report warnings."""
    V.append((file, profile, content, list(breaks), list(passes), note, forced, dict(also or {}),
              None if warnings is None else list(warnings)))


# --- client mails
add("client-mail-pass.eml", "kim-1.5", msg(headers(CLIENT), CLIENT_BODY),
    passes=["KOM-LE-A_2006", "A_19488", "KIM-PS-Sendersystem"], note="a client mail as a client system hands it over")
add("client-mail-lf.eml", "kim-1.5", msg(headers(CLIENT), CLIENT_BODY).replace(CRLF, "\n"),
    breaks=["kim/crlf-only"], note="bare LF line ends")
add("client-mail-msgid-no-brackets.eml", "kim-1.5",
    msg(headers(CLIENT, Message_ID="4f1c2a9e-0b7d-4c55-9b1e-2d0c7a1e9f01@arzt.kim.telematik-test"), CLIENT_BODY),
    breaks=["kim/message-id"], note="Message-ID without angle brackets")
add("client-mail-date-german-month.eml", "kim-1.5",
    msg(headers(CLIENT, Date="Thu, 15 Dez 2022 11:51:21 +0100"), CLIENT_BODY),
    breaks=["kim/date"], note="German month name in Date")
add("client-mail-no-sendersystem.eml", "kim-1.5",
    msg(headers(CLIENT, **{"X-KIM-Sendersystem": None}), CLIENT_BODY),
    breaks=["kim/sendersystem"], note="X-KIM-Sendersystem missing")
add("client-mail-sendersystem-one-part.eml", "kim-1.5",
    msg(headers(CLIENT, **{"X-KIM-Sendersystem": "Beispiel-PVS"}), CLIENT_BODY),
    breaks=["kim/sendersystem"], note="X-KIM-Sendersystem without version")
add("client-mail-dienstkennung-two-parts.eml", "kim-1.5",
    msg(headers(CLIENT, **{"X-KIM-Dienstkennung": "atf;Empfangsbestaetigung"}), CLIENT_BODY),
    breaks=["kim/dienstkennung"], note="X-KIM-Dienstkennung with two parts")
add("client-mail-dienstkennung-bad-version.eml", "kim-1.5",
    msg(headers(CLIENT, **{"X-KIM-Dienstkennung": "KIM-Mail;Default;1.0"}), CLIENT_BODY),
    breaks=["kim/dienstkennung"], note="version part without V")

# --- KOM-LE messages
add("komle-1.5-pass.eml", "kim-1.5", msg(headers(KOMLE), KOMLE_BODY),
    passes=["KOM-LE-A_2006", "A_19488", "A_21388", "KOM-LE-A_2100", "A_22417", "KOM-LE-A_2102", "KOM-LE-A_2104"],
    note="outer KOM-LE message, KIM 1.5 header set")
add("komle-1.0-pass.eml", "kim-1.0",
    msg(headers(KOMLE, **{"X-KOM-LE-Version": "1.0", "X-KIM-CMVersion": None, "X-KIM-PTVersion": None,
                          "X-KIM-KONVersion": None, "Expires": None}), KOMLE_BODY),
    passes=["KOM-LE-A_2006", "A_19488", "KOM-LE-A_2100", "KOM-LE-A_2102", "KOM-LE-A_2104"], also={"A_21388": "skip"},
    note="outer KOM-LE message, KIM 1.0 header set (as the gematik SMIME-Profil sample)")
add("komle-cmversion-bad.eml", "kim-1.5", msg(headers(KOMLE, **{"X-KIM-CMVersion": "KIM_CM_1.1.0-0"}), KOMLE_BODY),
    breaks=["kim/cm-version"], note="vendor prefix longer than five characters (as gematik sample 2_1)")
add("komle-ptversion-bad.eml", "kim-1.5", msg(headers(KOMLE, **{"X-KIM-PTVersion": "1.2"}), KOMLE_BODY),
    breaks=["kim/pt-version"], note="PT version with two numbers")
add("komle-konversion-bad.eml", "kim-1.5",
    msg(headers(KOMLE, **{"X-KIM-KONVersion": "<secunet konnektor 2.0.0><Konnektor PTV5><5.0.2>"}), KOMLE_BODY),
    breaks=["kim/kon-version"], note="three elements instead of five")
add("komle-version-2.0.eml", "kim-1.5", msg(headers(KOMLE, **{"X-KOM-LE-Version": "2.0"}), KOMLE_BODY),
    breaks=["kim/kom-le-version"], note="unknown X-KOM-LE-Version")
add("komle-missing-expires.eml", "kim-1.5", msg(headers(KOMLE, Expires=None), KOMLE_BODY),
    breaks=["kim/outer-expires"], note="KIM 1.5 outer header without Expires")
add("komle-missing-cmversion.eml", "kim-1.5", msg(headers(KOMLE, **{"X-KIM-CMVersion": None}), KOMLE_BODY),
    breaks=["kim/outer-version-headers"], passes=["A_22417"], note="KIM 1.5 outer header without X-KIM-CMVersion")
add("komle-subject-wrong.eml", "kim-1.5", msg(headers(KOMLE, Subject="Befundbericht"), KOMLE_BODY),
    breaks=["kim/outer-subject"], note="the real subject leaks into the outer header")
add("komle-content-type-enveloped.eml", "kim-1.5",
    msg(headers(KOMLE, Content_Type="application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m"), KOMLE_BODY),
    breaks=["kim/outer-content-type"], note="enveloped-data instead of authenticated-enveloped-data")

# --- KIM-Attachment (x-kas)
add("kas-body-pass.eml", "kim-1.5", msg(headers(KAS), kas_json()),
    passes=["A_19359", "A_19364", "A_19369"], note="inner message whose body is the KIM-Attachment structure")
add("kas-content-type-latin1.eml", "kim-1.5",
    msg(headers(KAS, Content_Type="text/plain; charset=iso-8859-1"), kas_json()),
    breaks=["kim/kas-part-headers"], note="x-kas part with another charset")
mixed = headers(CLIENT, Content_Type='multipart/mixed; boundary="b1"', Content_Transfer_Encoding=None)
add("kas-in-multipart.eml", "kim-1.5",
    msg(mixed, "--b1" + CRLF + "Content-Type: text/plain; charset=utf-8" + CRLF + CRLF + CLIENT_BODY
        + "--b1" + CRLF + "Content-Type: text/plain; charset=utf-8" + CRLF + "Content-Disposition: x-kas"
        + CRLF + CRLF + kas_json() + "--b1--" + CRLF),
    breaks=["kim/kas-only-body-element"], note="x-kas part next to a text part (KIM 1.5.2 style)")
add("kas-json-missing-hash.eml", "kim-1.5", msg(headers(KAS), kas_json(hash=None)),
    breaks=["kim/kas-json"], note="required field hash missing")
add("kas-json-size-string.eml", "kim-1.5", msg(headers(KAS), kas_json(size='"27262976"')),
    breaks=["kim/kas-json"], note="size given as a string")
add("kas-k-16-bytes.eml", "kim-1.5", msg(headers(KAS), kas_json(k='"AZtUCtV3M5mTC/XzfDDl2w=="')),
    breaks=["kim/kas-values"], note="k decodes to 16 bytes")
add("kas-size-negative.eml", "kim-1.5", msg(headers(KAS), kas_json(size="-1")),
    breaks=["kim/kas-values"], note="negative size")
add("kas-link-http.eml", "kim-1.5", msg(headers(KAS), kas_json(link='"' + LINK.replace("https:", "http:") + '"')),
    breaks=["kim/kas-link"], note="link over http")
add("kas-link-ip-host.eml", "kim-1.5",
    msg(headers(KAS), kas_json(link='"https://10.65.0.11/attachments/v2.4/attachment/a566f001-7fa6-4f87-a088-7def2d609c87"')),
    breaks=["kim/kas-link"], note="link host is an IP address")
add("kas-two-structures.eml", "kim-1.5", msg(headers(KAS), kas_json().rstrip() + kas_json()),
    breaks=["kim/kas-single-structure"], note="two KIM-Attachment structures in one x-kas body")
add("kas-no-disposition.eml", "kim-1.5", msg(headers(KAS, Content_Disposition=None), kas_json()),
    breaks=["kim/kas-part-headers"], passes=["A_19364", "A_19369"],
    note="text/plain body holding a complete KIM-Attachment structure without Content-Disposition: x-kas (issue 12)")
add("client-mail-json-body-pass.eml", "kim-1.5", msg(headers(CLIENT), '{"link":"' + LINK + '"}' + CRLF),
    passes=["KOM-LE-A_2006", "KIM-PS-Sendersystem"], also={"A_19359": "skip"},
    note="a client mail whose text is JSON but no complete KIM-Attachment structure: not a KAS body")

# --- delivered messages
add("delivered-pass.eml", "kim-1.5", msg(headers(DELIVERED), DELIVERED_BODY),
    passes=["KOM-LE-A_2047", "KOM-LE-A_2050", "KOM-LE-A_2179"], note="decrypted and verified, with both Vermerke")
rep = [f"{k}: {v}" for k, v in DELIVERED.items()] + ["X-KIM-IntegrityCheckResult: 08", "X-KIM-DecryptionResult: X99"]
add("delivered-repeated-results-pass.eml", "kim-1.5", msg(rep, DELIVERED_BODY),
    passes=["KOM-LE-A_2047", "KOM-LE-A_2050"], note="result headers repeated (01 and 08; 00 and vendor code X99)")
add("delivered-integrity-bad-code.eml", "kim-1.5",
    msg(headers(DELIVERED, **{"X-KIM-IntegrityCheckResult": "10"}), DELIVERED_BODY),
    breaks=["kim/integrity-check-result"], note="integrity ID 10 is not in Tab_Verm_Sig_Prüf")
add("delivered-decryption-bad-code.eml", "kim-1.5",
    msg(headers(DELIVERED, **{"X-KIM-DecryptionResult": "04"}), DELIVERED_BODY),
    breaks=["kim/decryption-result"], note="decryption ID 04 is not in Tab_Fehlertext_Entschl")
add("delivered-missing-vermerk.eml", "kim-1.5", msg(headers(DELIVERED), CLIENT_BODY),
    breaks=["kim/success-vermerk", "kim/decrypted-vermerk"], note="success headers without the Vermerk lines")
add("delivered-missing-signature-vermerk.eml", "kim-1.5",
    msg(headers(DELIVERED), DELIVERED_BODY.replace("Die Signatur wurde erfolgreich geprüft." + CRLF, "")),
    breaks=["kim/success-vermerk"], passes=["KOM-LE-A_2179"],
    note="decryption Vermerk present, signature Vermerk (integrity 01) missing")
add("delivered-missing-decrypted-vermerk.eml", "kim-1.5",
    msg(headers(DELIVERED), DELIVERED_BODY.replace("Die Nachricht wurde entschlüsselt." + CRLF, "")),
    breaks=["kim/decrypted-vermerk"], passes=["KOM-LE-A_2050"],
    note="signature Vermerk present, decryption Vermerk (decryption 00, KOM-LE-A_2179-01) missing")

# --- error mails
E4008 = {"X-KIM-Fehlermeldung": "4008"}
add("error-4008-pass.eml", "kim-1.5",
    error_mail("Die KIM-Version der empfangenen Nachricht wird nicht unterstützt",
               "Die Nachricht verwendet eine nicht unterstützte KIM-Version.", extra=E4008, original=False),
    passes=["A_20650"], note="error mail with X-KIM-Fehlermeldung 4008")
add("error-fehlermeldung-bad.eml", "kim-1.5",
    error_mail("Die KIM-Version der empfangenen Nachricht wird nicht unterstützt",
               "Die Nachricht verwendet eine nicht unterstützte KIM-Version.",
               extra={"X-KIM-Fehlermeldung": "E42"}, original=False),
    breaks=["kim/fehlermeldung"], note="X-KIM-Fehlermeldung value E42")
S69 = "Nachricht konnte aufgrund uneindeutiger Informationen nicht abgerufen werden"
add("a19369-pass.eml", "kim-1.5", error_mail(S69, S69 + "."),
    passes=["A_19369"], note="error mail for two KIM-Attachment structures")
add("a19369-subject-with-period.eml", "kim-1.5", error_mail(S69 + ".", S69 + "."),
    breaks=["kim/error-mail-ambiguous"], note="subject differs from the fixed value (trailing period)")
add("a19369-no-original.eml", "kim-1.5", error_mail(S69, S69 + ".", original=False),
    breaks=["kim/error-mail-ambiguous"], note="original not attached as message/rfc822")
add("a19369-from-not-copied.eml", "kim-1.5",
    error_mail(S69, S69 + ".", over={"From": "Clientmodul <cm@arzt.kim.telematik-test>"}),
    breaks=["kim/error-mail-ambiguous"], note="From not taken over from the original")
add("a19370-pass.eml", "kim-1.5",
    error_mail("Die E-Mail-Daten konnten nicht heruntergeladen werden",
               "E-Mail-Daten dieser Nachricht konnten nicht heruntergeladen werden. Bitte leiten Sie diese "
               f"Nachricht nach einer angemessenen Zeit an Ihre eigene E-Mail-Adresse ({RCPT}) weiter. Beim "
               "nächsten Abholen wird der Download wiederholt.", extra={"X-KIM-Fehlermeldung": "4006"}),
    passes=["A_19370", "A_20650"], note="error mail after a failed KAS download")
add("a19370-no-4006.eml", "kim-1.5",
    error_mail("Die E-Mail-Daten konnten nicht heruntergeladen werden",
               "E-Mail-Daten dieser Nachricht konnten nicht heruntergeladen werden."),
    breaks=["kim/error-mail-download"], note="X-KIM-Fehlermeldung 4006 missing")
add("a19371-pass.eml", "kim-1.5",
    error_mail("Abgerufene E-Mail-Daten konnten nicht entschlüsselt werden",
               "E-Mail-Daten dieser Nachricht konnten nicht entschlüsselt werden.",
               extra={"X-KIM-Fehlermeldung": "4007"}),
    passes=["A_19371", "A_20650"], note="error mail after failed decryption of KAS data")
add("a19371-not-multipart.eml", "kim-1.5",
    error_mail("Abgerufene E-Mail-Daten konnten nicht entschlüsselt werden",
               "E-Mail-Daten dieser Nachricht konnten nicht entschlüsselt werden.",
               extra={"X-KIM-Fehlermeldung": "4007"}, over={"Content-Type": "text/plain; charset=utf-8"},
               mixed=False),
    breaks=["kim/error-mail-decrypt"], note="plain text instead of multipart/mixed with the original")
E4006 = {"X-KIM-Fehlermeldung": "4006"}
add("a19369-code-4006-pass.eml", "kim-1.5", error_mail(S69, S69 + ".", extra=E4006),
    passes=["A_19369", "A_20650"], also={"A_19370": "skip"},
    note="A_19369 error mail (seed subject and text) that carries X-KIM-Fehlermeldung 4006: told apart from A_19370 by its fixed texts (issue 12)")
add("a19369-code-4006-text-altered.eml", "kim-1.5",
    error_mail(S69, "Nachricht konnte nicht abgerufen werden.", extra=E4006),
    breaks=["kim/error-mail-ambiguous"], also={"A_19370": "skip"},
    note="A_19369 error mail (by its subject) with 4006 and a reworded text: fails A_19369 only, not A_19370")
add("a19370-cm116-subject-pass.eml", "kim-1.5",
    error_mail("Die E-Mail-Daten konnten nicht abgerufen werden",
               "E-Mail-Daten dieser Nachricht konnten nicht heruntergeladen werden.", extra=E4006),
    passes=["A_19370", "A_20650"], warnings=["kim/error-mail-download"],
    note="A_19370 subject of CM-1.16: the allowed alternative to the seed's subject, named in a warning")
DECRYPT_FAIL = {"X-KIM-DecryptionResult": "02"}
add("error-decrypt-4010-pass.eml", "kim-1.5",
    error_mail("Die Nachricht konnte nicht entschlüsselt werden", "Die Nachricht konnte nicht entschlüsselt werden.",
               extra=dict(DECRYPT_FAIL, **{"X-KIM-Fehlermeldung": "4010"})),
    passes=["A_20650", "KOM-LE-A_2047"], note="error mail after a failed decryption, X-KIM-Fehlermeldung 4010")
add("error-decrypt-konnektor-code.eml", "kim-1.5",
    error_mail("Die Nachricht konnte nicht entschlüsselt werden", "Die Nachricht konnte nicht entschlüsselt werden.",
               extra=dict(DECRYPT_FAIL, **{"X-KIM-Fehlermeldung": "4092"})),
    breaks=["kim/fehlermeldung"],
    note="decryption failure with X-KIM-Fehlermeldung 4092 (not in Tab_Fehlercodes_KOMLE-Clientmodul): Konnektor codes are taken over only for integrity results (issue 12)")
add("a23165-replacement-pass.eml", "kim-1.5", delivered_text(A23165_TEXT),
    passes=["A_23165", "KOM-LE-A_2050"], note="replacement after failed integrity check (ID 02)")
add("a23165-replacement-text-altered.eml", "kim-1.5",
    delivered_text(A23165_TEXT.replace("Sicherheitsverletzung erkannt", "Sicherheitsverletzung festgestellt")),
    breaks=["kim/integrity-replacement"], note="replacement text reworded")
add("a23165-replacement-no-header.eml", "kim-1.5",
    delivered_text(A23165_TEXT, **{"X-KIM-IntegrityCheckResult": None, "X-KIM-DecryptionResult": None}),
    breaks=["kim/integrity-replacement"], note="replacement text without X-KIM-IntegrityCheckResult")
add("a23165-id06-konnektor-code-pass.eml", "kim-1.5",
    delivered_text(A23165_TEXT, **{"X-KIM-IntegrityCheckResult": "06", "X-KIM-Fehlermeldung": "4092"}),
    passes=["A_23165", "A_20650"], warnings=["kim/fehlermeldung"],
    note="integrity ID 06 with the Konnektor's own code 4092 taken over (Tab_Verm_Sig_Prüf): warning only")
CM116 = ("Beim Empfang dieser KIM-Nachricht wurde eine Sicherheitsverletzung erkannt. [Text des Clientmoduls] "
         "Bitte kontaktieren Sie den Absender und/oder Ihren Administrator.")
add("a23165-cm116-text-kim15-pass.eml", "kim-1.5", delivered_text(CM116),
    passes=["A_23165"], warnings=["kim/integrity-replacement"],
    note="replacement text of CM 1.16 (KIM 1.5.3), accepted in kim-1.5 as the allowed alternative (named in a warning)")
add("a23165-dsn-pass.eml", "kim-1.5", dsn("02"), passes=["A_23165"], note="DSN to the sender, ID 02")
add("a23165-dsn-report-type.eml", "kim-1.5", dsn("02", report_type="disposition-notification"),
    breaks=["kim/dsn-integrity"], note="report-type is not delivery-status")
add("a23165-dsn-no-status-part.eml", "kim-1.5", dsn("02", status_part=False),
    breaks=["kim/dsn-integrity"], note="no message/delivery-status part")
add("a23165-dsn-signed.eml", "kim-1.5", dsn("02", signed=True),
    breaks=["kim/dsn-integrity"], note="DSN carries a signature part")
add("a19372-pass.eml", "kim-1.5",
    delivered_text(A19372_TEXT + " Die Prüfsumme des Anhangs 20mb.test stimmt nicht überein. Der empfangene "
                   "Anhang entspricht eventuell nicht dem originalen Anhang.",
                   **{"X-KIM-IntegrityCheckResult": "4012"}),
    passes=["A_19372"], note="KAS hash mismatch: security text, Vermerk, 4012")
add("a19372-no-vermerk.eml", "kim-1.5",
    delivered_text(A19372_TEXT, **{"X-KIM-IntegrityCheckResult": "4012"}),
    breaks=["kim/kas-hash-mismatch"], note="Vermerk naming the checksum missing")
add("a19372-dsn-pass.eml", "kim-1.5", dsn("4012"), passes=["A_19372"], note="DSN to the sender, 4012")
# Allowed alternative A_19372-4012-fehlermeldung (kim_alternatives.yaml): 4012 in X-KIM-Fehlermeldung.
A19372_FULL = (A19372_TEXT + " Die Prüfsumme des Anhangs 20mb.test stimmt nicht überein. Der empfangene "
               "Anhang entspricht eventuell nicht dem originalen Anhang.")
add("a19372-fehlermeldung-4012-pass.eml", "kim-1.5",
    delivered_text(A19372_FULL, **{"X-KIM-IntegrityCheckResult": None, "X-KIM-Fehlermeldung": "4012"}),
    passes=["A_19372", "A_20650"], warnings=["kim/kas-hash-mismatch"],
    note="4012 in X-KIM-Fehlermeldung instead of X-KIM-IntegrityCheckResult: the allowed alternative, named in a warning")
add("a19372-no-code.eml", "kim-1.5",
    delivered_text(A19372_FULL, **{"X-KIM-IntegrityCheckResult": None}),
    breaks=["kim/kas-hash-mismatch", "kim/decrypted-vermerk"],
    note="security text and Vermerk, but 4012 in neither header (so the message also reads as a successful delivery without the decryption Vermerk)")
add("a19372-dsn-fehlermeldung-4012-pass.eml", "kim-1.5", dsn("4012", header="X-KIM-Fehlermeldung"),
    passes=["A_19372"], warnings=["kim/dsn-kas-hash"],
    note="DSN to the sender with 4012 in X-KIM-Fehlermeldung: the allowed alternative, named in a warning")
add("a19372-dsn-encrypted.eml", "kim-1.5", dsn("4012", encrypted=True),
    breaks=["kim/dsn-kas-hash"], note="DSN carries an encrypted part")
add("a22412-pass.eml", "kim-1.5", a22412(), passes=["A_22412", "A_20650"], note="KAS answered 429")
add("a22412-subject-unprefixed.eml", "kim-1.5", a22412(subject="Befundbericht"),
    breaks=["kim/kas-access-limit"], note="subject without the fixed prefix")
add("a22412-placeholder-octet-stream.eml", "kim-1.5", a22412(part_type="application/octet-stream"),
    breaks=["kim/kas-access-limit"], note="placeholder part is not text/plain; charset=utf-8")


# Verbatim gematik samples (public, Apache-2.0; see gematik/SOURCE.txt): expected findings.
# The KAS samples (api-kim samples/KAS) are fragments: "[...]" stands for cut base64 and the
# files use LF. The corpus examples come from gematik implementation guides (LF as published).
LF_NOTE = "LF line ends as published"
GEMATIK = [
    ("gematik/1_1_Client-Mail_empfangen.txt", ["kim/crlf-only", "kim/sendersystem"], {"KOM-LE-A_2006": "fail"},
     f"KAS sample 1_1, client mail from Thunderbird (fragment): {LF_NOTE}, no X-KIM-Sendersystem; recognised as KIM by its kim.telematik-test addresses"),
    ("gematik/1_2_Client-Mail_prozessiert.txt", ["kim/crlf-only", "kim/sendersystem"], {"KOM-LE-A_2006": "fail"},
     f"KAS sample 1_2, client mail after the Clientmodul's header edits (fragment): {LF_NOTE}, no X-KIM-Sendersystem"),
    ("gematik/1_3_Client-Mail_hochgeladen.txt", ["kim/crlf-only"],
     {"KOM-LE-A_2006": "fail", "A_19359": "pass", "A_19364": "pass", "A_19369": "pass"},
     f"KAS sample 1_3, x-kas body after upload: KIM-Attachment rules apply and pass; {LF_NOTE}"),
    ("gematik/1_4_KOM-LE-Mail_finalisiert.txt", ["kim/crlf-only"], {"KOM-LE-A_2006": "fail"},
     f"KAS sample 1_4, outer KOM-LE message: outer header rules pass (warning: sixth <null> in X-KIM-KONVersion); {LF_NOTE}"),
    ("gematik/2_1_KOM-LE-Mail_empfangen.txt", ["kim/crlf-only", "kim/cm-version"], {"KOM-LE-A_2006": "fail"},
     f"KAS sample 2_1, received KOM-LE message: X-KIM-CMVersion KIM_CM_1.1.0-0 has a six-character vendor prefix; {LF_NOTE}"),
    ("gematik/2_2_KOM-LE-Mail_prozessiert.txt", ["kim/crlf-only"],
     {"KOM-LE-A_2006": "fail", "A_19359": "pass", "A_19364": "pass", "A_19369": "pass"},
     f"KAS sample 2_2, decrypted inner message with the x-kas body; {LF_NOTE}"),
    ("gematik/2_3_Client-Mail_heruntergeladen.txt", ["kim/crlf-only", "kim/sendersystem"], {"KOM-LE-A_2006": "fail"},
     f"KAS sample 2_3, client mail fetched from the KAS (fragment): {LF_NOTE}, no X-KIM-Sendersystem"),
    ("gematik/2_4_Client-Mail_finalisiert.txt", ["kim/crlf-only", "kim/success-vermerk", "kim/decrypted-vermerk"],
     {"KOM-LE-A_2006": "fail", "KOM-LE-A_2047": "pass", "KOM-LE-A_2050": "fail"},
     f"KAS sample 2_4, delivered mail: the Vermerk lines are double-encoded UTF-8 (entschlÃ¼sselt), so the fixed texts are not there; {LF_NOTE}"),
    ("gematik/atf_Eingangsbestaetigung_1.eml", ["kim/crlf-only", "kim/message-id", "kim/date", "kim/dienstkennung"],
     {"KOM-LE-A_2006": "fail"},
     f"ATF example: Message-ID without angle brackets, German month Dez, two-part Dienstkennung, broken boundary folding, header block not terminated; {LF_NOTE}"),
    ("gematik/atf_Rezeptanforderung_1.eml", ["kim/crlf-only", "kim/dienstkennung"], {"KOM-LE-A_2006": "fail"},
     f"ATF example: two-part Dienstkennung; {LF_NOTE}"),
    ("gematik/erp-servicerequest_CancellationByPractitioner_1.eml", ["kim/crlf-only"], {"KOM-LE-A_2006": "fail"},
     f"E-Rezept ServiceRequest example; only defect: {LF_NOTE}"),
    ("gematik/erp-servicerequest_CancellationByRequester_1.eml", ["kim/crlf-only"], {"KOM-LE-A_2006": "fail"},
     f"E-Rezept ServiceRequest example; only defect: {LF_NOTE}"),
    ("gematik/erp-servicerequest_DeliveryStatusNotification_1.eml", ["kim/crlf-only", "kim/message-id", "kim/date"],
     {"KOM-LE-A_2006": "fail", "A_23165": "skip"},
     f"E-Rezept DSN example: Message-Id without angle brackets, German month Dez; not a KIM integrity DSN (no X-KIM-IntegrityCheckResult); {LF_NOTE}"),
    ("gematik/erp-servicerequest_DispenseInformation_1.eml", ["kim/crlf-only"], {"KOM-LE-A_2006": "fail"},
     f"E-Rezept ServiceRequest example; only defect: {LF_NOTE}"),
    ("gematik/erp-servicerequest_Response_1.eml", ["kim/crlf-only"], {"KOM-LE-A_2006": "fail"},
     f"E-Rezept ServiceRequest example ({LF_NOTE}); its Dienstkennung is unknown to the observed list (warning)"),
    ("gematik/erp-servicerequest_kim_example_1.eml", ["kim/crlf-only", "kim/dienstkennung", "kim/sendersystem"],
     {"KOM-LE-A_2006": "fail"},
     f"E-Rezept KIM example: Dienstkennung version without V, no X-KIM-Sendersystem; {LF_NOTE}"),
]

# Large messages are built by tests/kim_vectors.rs (name -> generator there).
GENERATED = [
    ("client-12mib-attachment", "kim-1.5", False, [], {"A_19357": "pass", "A_19366": "pass"},
     "16.2 MiB on the wire but 12 MiB net: within the 15 MB limit (base64 factor)"),
    ("client-12mib-attachment", "kim-1.0", True, [], {"A_23171": "pass"},
     "the same mail in KIM 1.0: within the limit because the net size counts"),
    ("client-16mib-attachment", "kim-1.5", False, [], {"A_19357": "pass"},
     "16 MiB net client mail in KIM 1.5: goes to the KAS (warning only)"),
    ("client-16mib-attachment", "kim-1.0", True, ["kim/client-mail-limit"], {"A_23171": "fail"},
     "16 MiB net client mail in KIM 1.0: must be refused with X.3.4"),
    ("komle-1.0-16mib", "kim-1.0", False, ["kim/client-mail-limit"], {"A_23171": "fail"},
     "KOM-LE message (X-KOM-LE-Version 1.0) carrying 16 MiB itself"),
    ("komle-1.0-16mib", "kim-1.5", True, ["kim/kas-threshold"], {"A_19357": "fail"},
     "the same KOM-LE message in KIM 1.5: should have gone through the KAS"),
    ("client-26mib-text", "kim-1.5", False, ["kim/body-limit"], {"A_19366": "fail"},
     "26 MiB text body without attachments"),
]


def entry(lines, head, profile, forced, breaks, reqs, note, warnings=None):
    lines.append(head)
    lines.append(f"    profile: {profile}")
    if forced:
        lines.append("    forced_profile: true")
    lines.append(f"    verdict: {'fail' if breaks else 'pass'}")
    lines.append(f"    errors: [{', '.join(breaks)}]")
    if warnings is not None:
        lines.append(f"    warnings: [{', '.join(warnings)}]")
    lines.append("    requirements: {" + ", ".join(f"{k}: {v}" for k, v in reqs.items()) + "}")
    lines.append("    note: " + '"' + note.replace('"', "'") + '"')


def main():
    lines = [
        "# KIM lint vectors: each entry is linted with --profile auto (or the given profile when",
        "# forced_profile is true) by tests/kim_vectors.rs, which compares the profile auto-detection",
        "# picks, the file verdict, the exact set of rule ids reporting errors, and the listed",
        "# per-requirement verdicts (and, where `warnings` is given, the exact set of rule ids reporting",
        "# warnings). Constructed vectors are written by gen_vectors.py (edit it, not",
        "# the .eml files); gematik/ holds verbatim gematik samples; `generated` entries are built by",
        "# the test (too large to store).",
        "vectors:",
    ]
    for file, profile, content, breaks, passes, note, forced, also, warnings in V:
        with open(os.path.join(HERE, file), "wb") as f:
            f.write(content.encode("utf-8"))
        reqs = {p: "pass" for p in passes}
        for b in breaks:
            reqs[RULE_REQ[b]] = "fail"
        reqs.update(also)
        entry(lines, f"  - file: {file}", profile, forced, breaks, reqs, note, warnings)
    for file, breaks, reqs, note in GEMATIK:
        reqs = dict(reqs)
        for b in breaks:
            reqs[RULE_REQ[b]] = "fail"
        entry(lines, f"  - file: {file}", "kim-1.5", False, breaks, reqs, note)
    for name, profile, forced, breaks, reqs, note in GENERATED:
        entry(lines, f"  - generated: {name}", profile, forced, breaks, reqs, note)
    with open(os.path.join(HERE, "MANIFEST.yaml"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
