//! The two test practices of the KIM mock world (the standalone mocks and the tests use the
//! same ones): each a KIM address, a TelematikID and an SMC-B holder on the card test PKI. The
//! ICCSN and holder names follow gematik's TEST-ONLY SMC-B (`vectors/third-party/
//! gematik-test-cards/`); the second ICCSN is ours.

use kvc_smime::card_pki::{Card, CardKind, CardPki, CardVariant, Holder};

/// One test practice: its KIM address, TelematikID, card handle and SMC-B holder.
#[derive(Debug, Clone, Copy)]
pub struct Practice {
    pub mail: &'static str,
    pub telematik_id: &'static str,
    /// The card handle the mock Konnektor reports.
    pub card_handle: &'static str,
    pub iccsn: &'static str,
    pub given_name: &'static str,
    pub surname: &'static str,
}

/// The sender side of most tests.
pub const ROSENSTRAUCH: Practice = Practice {
    mail: "praxis.rosenstrauch@kim.telematik-test",
    telematik_id: "1-2-KVCCHECK-Rosenstrauch01",
    card_handle: "SMC-B-1",
    iccsn: "80276001011699901102",
    given_name: "Bernd",
    surname: "Rosenstrauch",
};

/// The recipient side of most tests.
pub const MUSTERFRAU: Practice = Practice {
    mail: "praxis.musterfrau@kim.telematik-test",
    telematik_id: "1-2-KVCCHECK-Musterfrau01",
    card_handle: "SMC-B-2",
    iccsn: "80276001011699901999",
    given_name: "Erika",
    surname: "Musterfrau",
};

/// An Account Manager account of the first practice's card, deregistered long enough ago that
/// its deregDate has passed (A_23175), in the standalone and the reference Fachdienst.
pub const DEREGISTERED: &str = "praxis.abgemeldet@kim.telematik-test";

/// Both, in the order the standalone world lists them.
pub const PRACTICES: [Practice; 2] = [ROSENSTRAUCH, MUSTERFRAU];

impl Practice {
    /// The SMC-B holder of the practice.
    pub fn holder(&self) -> Holder {
        Holder::practice(self.iccsn, self.telematik_id, self.given_name, self.surname)
    }

    /// The practice's SMC-B from `pki`, as `variant`.
    pub fn smcb(&self, pki: &CardPki, variant: CardVariant) -> kvc_smime::Result<Card> {
        pki.card(CardKind::SmcB, &self.holder(), variant)
    }
}
