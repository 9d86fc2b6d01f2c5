//! Fixed texts and codes of the receive path, quoted from the seed (kim-hotfix-1.5.2-1) and
//! CM-1.16 with the requirement beside each; the lint rules compare against the same values
//! (`src/rules/kim_profiles.yaml`).

/// KOM-LE-A_2179-01: the Vermerk of a decrypted message.
pub const VERMERK_DECRYPTED: &str = "Die Nachricht wurde entschlüsselt.";
/// KOM-LE-A_2050-04 (Tab_Verm_Sig_Prüf ID 01): the Vermerk of a valid signature.
pub const VERMERK_SIGNATURE_VALID: &str = "Die Signatur wurde erfolgreich geprüft.";
/// The line above the Vermerke (as in gematik's sample 2_4).
pub const VERMERK_SEPARATOR: &str = "---------------------------------------------";
/// KOM-LE-A_2046: the subject of the error mail for an undecryptable message.
pub const SUBJECT_NOT_DECRYPTED: &str = "Die Nachricht konnte nicht entschlüsselt werden";
/// A_21391-02: the subject of the error mail for an unsupported X-KOM-LE-Version.
pub const SUBJECT_UNSUPPORTED_VERSION: &str =
    "Die KIM-Version der empfangenen Nachricht wird nicht unterstützt";
/// A_21391-02 / A_20650-05: X-KIM-Fehlermeldung of that error mail.
pub const FEHLERMELDUNG_UNSUPPORTED_VERSION: &str = "4008";
/// A_23165: the text that replaces the content of a message whose integrity check failed.
pub const INTEGRITY_REPLACEMENT: &str = "Beim Empfang dieser KIM Nachricht wurde eine Sicherheitsverletzung erkannt. Dies kann eine technisches Ursache haben oder auf eine missbräuchliche Nutzung des KIM Dienstes hinweisen. Zu Ihrem Schutz wurde der Inhalt dieser Nachricht durch diesen Text ausgetauscht. Zusätzlich wurde der Absender der ursprünglichen Nachricht automatisch über diesen Vorfall informiert";

/// A failed decryption (KOM-LE-A_2047-02): the X-KIM-DecryptionResult ID, and the
/// X-KIM-Fehlermeldung code and error text of Tab_Fehlercodes (A_20650-05, seed table) for it.
/// The texts of Tab_Fehlertext_Entschl itself are not in our material; the Tab_Fehlercodes
/// texts say the same per cause.
pub fn decryption_error(result_id: &str) -> (&'static str, &'static str) {
    match result_id {
        "01" => (
            "4009",
            "Die KOM-LE-Nachricht konnte auf Grund eines nicht verfügbaren Schlüssels nicht entschlüsselt werden",
        ),
        "02" => (
            "4010",
            "Die KOM-LE-Nachricht konnte aufgrund des falschen Formats nicht entschlüsselt werden",
        ),
        _ => (
            "4011",
            "Der Konnektor steht für die Entschlüsselung nicht zur Verfügung",
        ),
    }
}

/// A_21391-02 / Tab_Fehlercodes 4008: the error text of an unsupported version.
pub const TEXT_UNSUPPORTED_VERSION: &str =
    "Das verwendete Client-Modul unterstützt die in der Mail verwendete Version nicht";

/// Tab_Verm_Sig_Prüf: the X-KIM-IntegrityCheckResult of a Konnektor VerifyDocument code
/// (CM-1.16; KIM-FACTS §1.5).
pub fn integrity_result(konnektor_code: u32) -> &'static str {
    match konnektor_code {
        4115 => "02",
        4253 => "03",
        4112 => "04",
        4206 => "05",
        4264 => "07",
        _ => "06",
    }
}

/// A_19370-04: the subject of the error mail when the mail data cannot be downloaded.
pub const SUBJECT_KAS_DOWNLOAD: &str = "Die E-Mail-Daten konnten nicht heruntergeladen werden";
/// A_19371-04: the subject of the error mail when the downloaded data does not decrypt.
pub const SUBJECT_KAS_DECRYPT: &str = "Abgerufene E-Mail-Daten konnten nicht entschlüsselt werden";
/// A_19369-02: subject and text when a message holds more than one KIM-Attachment structure.
pub const SUBJECT_KAS_AMBIGUOUS: &str =
    "Nachricht konnte aufgrund uneindeutiger Informationen nicht abgerufen werden";
pub const TEXT_KAS_AMBIGUOUS: &str =
    "Nachricht konnte aufgrund uneindeutiger Informationen nicht abgerufen werden.";
/// A_19372-03: the text that replaces the content when the hash of the downloaded data differs.
pub const HASH_MISMATCH_REPLACEMENT: &str = "Beim Empfang dieser KIM Nachricht wurde eine Sicherheitsverletzung erkannt. Dies kann eine technisches Ursache haben oder auf eine missbräuchliche Nutzung des KIM Dienstes hinweisen. Zu Ihrem Schutz wurde der Inhalt dieser Nachricht durch diesen Text ausgetauscht. Der Absender wurde über diesen Vorfall informiert. Bitte antworten Sie nicht auf diese Nachricht. Sie können diese Nachricht löschen.";
/// A_19372-03: the Vermerk after the replacement text (the whole client mail is the one
/// "Anhang" of the structure, which names none).
pub const VERMERK_HASH_MISMATCH: &str = "Die Prüfsumme des Anhangs stimmt nicht überein. Der empfangene Anhang entspricht eventuell nicht dem originalen Anhang.";
/// A_23512 (KIM-FACTS §2.2): subject and X-KIM-Fehlermeldung of the error mail for a large
/// KAS mail to an account that did not announce `1.5+`.
pub const SUBJECT_LARGE_NOT_ENABLED: &str = "Die KIM-Nachricht kann nicht empfangen werden, weil der Empfang großer Nachrichten nicht aktiviert wurde";
pub const FEHLERMELDUNG_LARGE_NOT_ENABLED: &str = "4018";
/// Tab_Fehlercodes (A_20650-05): download failed, decrypt failed, hash mismatch, KAS 429.
pub const FEHLERMELDUNG_KAS_DOWNLOAD: &str = "4006";
pub const FEHLERMELDUNG_KAS_DECRYPT: &str = "4007";
pub const FEHLERMELDUNG_KAS_HASH: &str = "4012";
pub const FEHLERMELDUNG_KAS_LIMIT: &str = "4013";
