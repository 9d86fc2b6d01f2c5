//! The admission extension of TI card certificates (Common-PKI `AdmissionSyntax`, OID
//! 1.3.36.8.3.3): the holder's profession (text and OID) and the TelematikID as the
//! `registrationNumber`, optionally with the admitting authority (an HBA names its chamber).
//! gematik's TEST-ONLY SMC-B and HBA certificates are the reference shape
//! (`vectors/third-party/gematik-test-cards/`).

use der::asn1::{Any, ObjectIdentifier, OctetString, PrintableString};
use der::{Decode, Encode, Sequence};
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::{DirectoryString, GeneralName};
use x509_cert::name::Name;

use crate::error::{Result, SmimeError};

/// `id-isismtt-at-admission`.
pub const ADMISSION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.36.8.3.3");

/// What an admission extension says, reduced to what the TI uses: one admission with one
/// profession entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admission {
    /// The admitting authority (e.g. `C=DE, O=ÄK Berlin` on an HBA); SMC-B certificates name none.
    pub authority: Option<Name>,
    /// The profession as text, e.g. `Betriebsstätte Arzt`.
    pub profession_items: Vec<String>,
    /// The profession OIDs, e.g. 1.2.276.0.76.4.50 (Betriebsstätte Arzt).
    pub profession_oids: Vec<ObjectIdentifier>,
    /// The TelematikID, e.g. `1-2-ARZTPRAXIS-BerndRosenstrauch01`.
    pub telematik_id: Option<String>,
}

/// `AdmissionSyntax ::= SEQUENCE { admissionAuthority GeneralName OPTIONAL,
/// contentsOfAdmissions SEQUENCE OF Admissions }`
#[derive(Clone, Debug, Sequence)]
struct AdmissionSyntax {
    admission_authority: Option<GeneralName>,
    contents_of_admissions: Vec<Admissions>,
}

/// `Admissions ::= SEQUENCE { admissionAuthority [0] EXPLICIT GeneralName OPTIONAL,
/// namingAuthority [1] EXPLICIT NamingAuthority OPTIONAL, professionInfos SEQUENCE OF
/// ProfessionInfo }`
#[derive(Clone, Debug, Sequence)]
struct Admissions {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    admission_authority: Option<GeneralName>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    naming_authority: Option<Any>,
    profession_infos: Vec<ProfessionInfo>,
}

/// `ProfessionInfo ::= SEQUENCE { namingAuthority [0] EXPLICIT NamingAuthority OPTIONAL,
/// professionItems SEQUENCE OF DirectoryString, professionOIDs SEQUENCE OF OBJECT IDENTIFIER
/// OPTIONAL, registrationNumber PrintableString OPTIONAL, addProfessionInfo OCTET STRING
/// OPTIONAL }`
#[derive(Clone, Debug, Sequence)]
struct ProfessionInfo {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    naming_authority: Option<Any>,
    profession_items: Vec<DirectoryString>,
    profession_oids: Option<Vec<ObjectIdentifier>>,
    registration_number: Option<PrintableString>,
    add_profession_info: Option<OctetString>,
}

fn bad(what: impl std::fmt::Display) -> SmimeError {
    SmimeError::build(format!("admission extension: {what}"))
}

fn directory_text(d: &DirectoryString) -> String {
    match d {
        DirectoryString::PrintableString(s) => s.to_string(),
        DirectoryString::TeletexString(s) => s.to_string(),
        DirectoryString::Utf8String(s) => s.clone(),
        DirectoryString::BmpString(s) => s.to_string(),
    }
}

impl Admission {
    /// The admission of `cert`, if it carries the extension.
    pub fn of_certificate(cert: &Certificate) -> Result<Option<Admission>> {
        let found = cert
            .tbs_certificate()
            .extensions()
            .into_iter()
            .flatten()
            .find(|e| e.extn_id == ADMISSION);
        found
            .map(|e| Admission::from_der(e.extn_value.as_bytes()))
            .transpose()
    }

    /// Reads the extension value (the DER of an `AdmissionSyntax`). Only the first admission
    /// and its first profession entry are kept: a TI card certificate has exactly one.
    pub fn from_der(der: &[u8]) -> Result<Admission> {
        let syntax = AdmissionSyntax::from_der(der).map_err(bad)?;
        let admission = syntax
            .contents_of_admissions
            .first()
            .ok_or_else(|| bad("no admission"))?;
        let info = admission
            .profession_infos
            .first()
            .ok_or_else(|| bad("no profession entry"))?;
        let authority = admission
            .admission_authority
            .as_ref()
            .or(syntax.admission_authority.as_ref())
            .and_then(|g| match g {
                GeneralName::DirectoryName(n) => Some(n.clone()),
                _ => None,
            });
        Ok(Admission {
            authority,
            profession_items: info.profession_items.iter().map(directory_text).collect(),
            profession_oids: info.profession_oids.clone().unwrap_or_default(),
            telematik_id: info.registration_number.as_ref().map(|s| s.to_string()),
        })
    }

    /// The extension as gematik's cards carry it (not critical; the authority, if any, at the
    /// top of the syntax; professionItems as UTF8String; the TelematikID as PrintableString).
    pub fn to_extension(&self) -> Result<Extension> {
        let registration_number = self
            .telematik_id
            .as_deref()
            .map(PrintableString::new)
            .transpose()
            .map_err(|e| bad(format!("TelematikID is not a PrintableString: {e}")))?;
        let syntax = AdmissionSyntax {
            admission_authority: self.authority.clone().map(GeneralName::DirectoryName),
            contents_of_admissions: vec![Admissions {
                admission_authority: None,
                naming_authority: None,
                profession_infos: vec![ProfessionInfo {
                    naming_authority: None,
                    profession_items: self
                        .profession_items
                        .iter()
                        .map(|s| DirectoryString::Utf8String(s.clone()))
                        .collect(),
                    profession_oids: (!self.profession_oids.is_empty())
                        .then(|| self.profession_oids.clone()),
                    registration_number,
                    add_profession_info: None,
                }],
            }],
        };
        Ok(Extension {
            extn_id: ADMISSION,
            critical: false,
            extn_value: OctetString::new(syntax.to_der().map_err(bad)?).map_err(bad)?,
        })
    }
}
