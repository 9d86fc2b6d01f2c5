//! Opening the KOM-LE messages a KIM mock captured (what a Clientmodul under test handed the
//! Fachdienst MTA) with the C.ENC keys of the recipients' cards, so that the runner lints the
//! outer and the inner message as `kvc-check lint --key` would. Role-neutral: any KIM role whose
//! world holds the cards of its mailboxes uses it from its [`MockHost::open_captured`].
//!
//! [`MockHost::open_captured`]: crate::runner::observe::MockHost::open_captured

use kvc_smime::Certificate;
use kvc_smime::card_pki::{Card, CardKeyRole};

use crate::lint::SmimeKeys;
use crate::runner::observe::{Captured, CapturedOpening};

/// The mailboxes whose card keys the mocks hold, and the card CAs signatures verify against.
#[derive(Clone, Debug)]
pub struct CardKeyring {
    mailboxes: Vec<(String, Card)>,
    trust: Vec<Certificate>,
}

impl CardKeyring {
    pub fn new(mailboxes: Vec<(String, Card)>, trust: Vec<Certificate>) -> CardKeyring {
        CardKeyring { mailboxes, trust }
    }

    /// The opening of a captured message: the first envelope recipient (then To/Cc addressee)
    /// whose C.ENC key decrypts it, else the first such recipient the keyring holds at all (the
    /// lint then says why it does not open). `None`: not S/MIME, or no recipient is ours.
    pub fn open(&self, message: &Captured<'_>) -> Option<CapturedOpening> {
        let blob = kvc_smime::message::cms_from_message(message.data, "captured message").ok()?;
        let (head, _) = kvc_smime::mime::split_header_body(message.data);
        let headers = kvc_smime::mime::Headers::parse(head);
        let addressees: Vec<String> = message
            .rcpt_to
            .iter()
            .cloned()
            .chain(
                ["To", "Cc"]
                    .iter()
                    .flat_map(|n| headers.get_all(n))
                    .flat_map(kvc_smime::mime::addresses),
            )
            .collect();
        let ours: Vec<&(String, Card)> = addressees
            .iter()
            .filter_map(|a| {
                self.mailboxes
                    .iter()
                    .find(|(m, _)| m.eq_ignore_ascii_case(a))
            })
            .collect();
        let key_of = |card: &Card, address: &str| {
            card.key(CardKeyRole::Enc)
                .map(|k| k.rsa.to_key_material(&format!("C.ENC of {address}")))
        };
        let opens = |(address, card): &(String, Card)| {
            key_of(card, address)
                .is_some_and(|k| kvc_smime::cms::decrypt(&blob, &k, "captured message").is_ok())
        };
        let mut decryptable_by: Vec<String> = Vec::new();
        for m in &self.mailboxes {
            if opens(m) && !decryptable_by.contains(&m.0) {
                decryptable_by.push(m.0.clone());
            }
        }
        let chosen = ours
            .iter()
            .find(|m| decryptable_by.contains(&m.0))
            .or_else(|| ours.first())?;
        Some(CapturedOpening {
            recipient: chosen.0.clone(),
            keys: SmimeKeys {
                key: key_of(&chosen.1, &chosen.0)?,
                trust: self.trust.clone(),
                at: None,
            },
            decryptable_by,
        })
    }
}
