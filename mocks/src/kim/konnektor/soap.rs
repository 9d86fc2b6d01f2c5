//! Reads a SOAP request to the Konnektor namespace-aware (roxmltree) and checks it against what
//! the WSDL/XSD demand for the operation: SOAP envelope, body element in the namespace of the
//! service version the endpoint serves, the soapAction of that operation, the elements the
//! operation requires, and a Context naming a Mandant, client system and workplace the mock is
//! configured with. What does not conform becomes a [`Violation`]: the caller answers it with a
//! SOAP fault carrying a TelematikError and records it.

use roxmltree::{Document, Node};

use super::services::{
    NS_CARD_COMMON, NS_CERT, NS_CERT_COMMON, NS_COMMON, NS_CONTEXT, NS_CRYPT, NS_DSS, NS_SOAP11,
    NS_SOAP12, Operation, ServiceVersion,
};
use super::xml::unb64;

/// Largest request body the reader accepts (a 25 MiB KIM message base64-encoded fits).
pub const MAX_REQUEST_BYTES: usize = 48 * 1024 * 1024;

/// A request that does not conform, with the Konnektor error code it is answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// TelematikError `Code`.
    pub code: u32,
    /// TelematikError `ErrorText` (German, like a Konnektor's).
    pub error_text: &'static str,
    /// What was wrong and where, for the record (English).
    pub reason: String,
}

/// Error codes the mock answers with. gemSpec_Kon is not in the stored material: the numbers
/// and texts follow the Konnektor's published error table as we know it (inferred), except the
/// VerifyDocument codes KIM-FACTS §1.5 lists.
pub mod codes {
    pub const SYNTAX: (u32, &str) = (4000, "Syntaxfehler");
    pub const MANDANT: (u32, &str) = (4004, "Ungültige Mandanten-ID");
    pub const CLIENT_SYSTEM: (u32, &str) = (4005, "Ungültige Clientsystem-ID");
    pub const WORKPLACE: (u32, &str) = (4006, "Ungültige Arbeitsplatz-ID");
    pub const CARD_HANDLE: (u32, &str) = (4101, "Karten-Handle ungültig");
    pub const NO_CARD: (u32, &str) = (4008, "Karte nicht als gesteckt identifiziert");
    pub const PIN_BLOCKED: (u32, &str) = (4063, "PIN blockiert");
    pub const SECURITY_STATUS: (u32, &str) = (4085, "Zugriffsbedingungen nicht erfüllt");
    pub const CERT_REF: (u32, &str) = (4149, "Ungültige Zertifikatsreferenz");
    pub const CRYPTO: (u32, &str) = (4120, "Kryptographische Operation fehlgeschlagen");
    pub const UNSUPPORTED: (u32, &str) = (4111, "Ungültiger Dokumentformat");
}

fn violation((code, error_text): (u32, &'static str), reason: impl Into<String>) -> Violation {
    Violation {
        code,
        error_text,
        reason: reason.into(),
    }
}

fn syntax(reason: impl Into<String>) -> Violation {
    violation(codes::SYNTAX, reason)
}

/// The Context of a call (ConnectorContext v2.0).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct CallContext {
    pub mandant_id: String,
    pub client_system_id: String,
    pub workplace_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// One SignRequest of a SignDocument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignRequest {
    pub request_id: String,
    pub signature_type: Option<String>,
    /// The DER `Attribute` of the `RecipientEmailsAttribute` property, if given.
    pub recipient_emails: Option<Vec<u8>>,
    pub include_econtent: bool,
    pub document: Vec<u8>,
}

/// What an operation asks for, read from its body element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    GetCards {
        card_type: Option<String>,
    },
    GetPinStatus {
        card_handle: String,
        pin_type: String,
    },
    VerifyPin {
        card_handle: String,
        pin_type: String,
    },
    ReadCardCertificate {
        card_handle: String,
        cert_refs: Vec<String>,
        crypt: Option<String>,
    },
    VerifyCertificate {
        certificate: Vec<u8>,
    },
    SignDocument {
        card_handle: String,
        crypt: Option<String>,
        requests: Vec<SignRequest>,
    },
    VerifyDocument {
        signature: Option<Vec<u8>>,
        document: Option<Vec<u8>>,
    },
    GetJobNumber,
    ExternalAuthenticate {
        card_handle: String,
        signature_type: Option<String>,
        scheme: Option<String>,
        binary: Vec<u8>,
    },
    EncryptDocument {
        certificates: Vec<Vec<u8>>,
        encryption_type: Option<String>,
        recipient_emails: Option<Vec<u8>>,
        document: Vec<u8>,
    },
    DecryptDocument {
        card_handle: String,
        key_reference: Option<String>,
        crypt: Option<String>,
        document: Vec<u8>,
    },
}

impl Call {
    /// The addresses of the RecipientEmailsAttribute a SignDocument or EncryptDocument carried
    /// (every sign request's, in order); `None` when no request carried one.
    pub fn recipient_emails(&self) -> Option<Vec<String>> {
        let attributes: Vec<&Vec<u8>> = match self {
            Call::SignDocument { requests, .. } => requests
                .iter()
                .filter_map(|r| r.recipient_emails.as_ref())
                .collect(),
            Call::EncryptDocument {
                recipient_emails, ..
            } => recipient_emails.iter().collect(),
            _ => Vec::new(),
        };
        if attributes.is_empty() {
            return None;
        }
        let mut out = Vec::new();
        for der in attributes {
            use der::Decode;
            match x509_cert::attr::Attribute::from_der(der)
                .map_err(|e| e.to_string())
                .and_then(|a| {
                    kvc_smime::asn1::parse_recipient_emails(&a).map_err(|e| e.to_string())
                }) {
                Ok(list) => out.extend(list.into_iter().map(|e| e.email)),
                Err(e) => out.push(format!("(undecodable attribute: {e})")),
            }
        }
        Some(out)
    }

    /// The card handle the call names, if any.
    pub fn card_handle(&self) -> Option<&str> {
        match self {
            Call::GetPinStatus { card_handle, .. }
            | Call::VerifyPin { card_handle, .. }
            | Call::ReadCardCertificate { card_handle, .. }
            | Call::SignDocument { card_handle, .. }
            | Call::ExternalAuthenticate { card_handle, .. }
            | Call::DecryptDocument { card_handle, .. } => Some(card_handle),
            _ => None,
        }
    }
}

/// A request that conforms so far: which operation, of which service version, with what.
#[derive(Debug, Clone)]
pub struct SoapRequest {
    pub operation: Operation,
    /// SOAP 1.1 or 1.2 (the answer uses the same).
    pub soap12: bool,
    pub context: CallContext,
    pub call: Call,
}

/// Which envelope version a body used (for the fault, before the request is understood).
pub fn envelope_is_soap12(body: &str) -> bool {
    Document::parse(body)
        .ok()
        .is_some_and(|d| d.root_element().tag_name().namespace() == Some(NS_SOAP12))
}

/// The soapAction of a request: SOAP 1.1 `SOAPAction` header (quotes removed) or the `action`
/// parameter of a SOAP 1.2 content type.
pub fn soap_action(soap_action_header: Option<&str>, content_type: Option<&str>) -> Option<String> {
    if let Some(h) = soap_action_header {
        return Some(h.trim().trim_matches('"').to_string());
    }
    content_type?.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("action")
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// Parses and checks a request sent to the endpoint of `service`.
pub fn read_request(
    body: &[u8],
    content_type: Option<&str>,
    action: Option<&str>,
    service: &ServiceVersion,
) -> Result<SoapRequest, Violation> {
    let text = std::str::from_utf8(body).map_err(|e| {
        syntax(format!(
            "request body is not UTF-8 (byte {})",
            e.valid_up_to()
        ))
    })?;
    let doc = Document::parse(text).map_err(|e| syntax(format!("request is not XML: {e}")))?;
    let envelope = doc.root_element();
    let soap12 = match envelope.tag_name().namespace() {
        Some(NS_SOAP11) => false,
        Some(NS_SOAP12) => true,
        other => {
            return Err(syntax(format!(
                "root element `{}` in namespace `{}` is not a SOAP Envelope",
                envelope.tag_name().name(),
                other.unwrap_or("(none)")
            )));
        }
    };
    let ns_env = if soap12 { NS_SOAP12 } else { NS_SOAP11 };
    if envelope.tag_name().name() != "Envelope" {
        return Err(syntax(format!(
            "root element is `{}`, not `Envelope`",
            envelope.tag_name().name()
        )));
    }
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    let ct_ok = if soap12 {
        ct.starts_with("application/soap+xml")
    } else {
        ct.starts_with("text/xml")
    };
    if !ct_ok {
        return Err(syntax(format!(
            "Content-Type `{}` does not fit a SOAP {} envelope ({} expected)",
            content_type.unwrap_or("(none)"),
            if soap12 { "1.2" } else { "1.1" },
            if soap12 {
                "application/soap+xml"
            } else {
                "text/xml"
            }
        )));
    }
    let soap_body =
        child(envelope, ns_env, "Body").ok_or_else(|| syntax("Envelope has no Body element"))?;
    let mut elements = soap_body.children().filter(Node::is_element);
    let op_el = elements
        .next()
        .ok_or_else(|| syntax("Body is empty (no operation element)"))?;
    if let Some(extra) = elements.next() {
        return Err(syntax(format!(
            "Body holds more than one element (`{}` after `{}`)",
            extra.tag_name().name(),
            op_el.tag_name().name()
        )));
    }
    let name = op_el.tag_name().name();
    let ns = op_el.tag_name().namespace().unwrap_or("");
    let Some((operation, expected_action)) = service
        .operations
        .iter()
        .find(|(op, _)| op.name() == name)
        .copied()
    else {
        return Err(syntax(format!(
            "`{name}` is not an operation of {} {} at this endpoint",
            service.service, service.version
        )));
    };
    if ns != service.namespace {
        return Err(syntax(format!(
            "`{name}` is in namespace `{}`; {} {} expects `{}`",
            if ns.is_empty() { "(none)" } else { ns },
            service.service,
            service.version,
            service.namespace
        )));
    }
    match action {
        Some(a) if a == expected_action => {}
        Some(a) => {
            return Err(syntax(format!(
                "soapAction `{a}` does not match {name} (the WSDL says `{expected_action}`)"
            )));
        }
        None => {
            return Err(syntax(format!(
                "no soapAction (SOAPAction header) given; {name} expects `{expected_action}`"
            )));
        }
    }
    let context = read_context(op_el)?;
    let call = read_call(operation, op_el, service.namespace)?;
    Ok(SoapRequest {
        operation,
        soap12,
        context,
        call,
    })
}

/// The first child element `{ns}name`.
pub fn child<'a, 'i>(node: Node<'a, 'i>, ns: &str, name: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|c| {
        c.is_element() && c.tag_name().name() == name && c.tag_name().namespace() == Some(ns)
    })
}

fn children<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &'a str,
    name: &'a str,
) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(move |c| {
        c.is_element() && c.tag_name().name() == name && c.tag_name().namespace() == Some(ns)
    })
}

/// `{ns}name` below `node` or a violation naming the path; a same-named element in another
/// namespace is named as such.
fn required<'a, 'i>(node: Node<'a, 'i>, ns: &str, name: &str) -> Result<Node<'a, 'i>, Violation> {
    if let Some(n) = child(node, ns, name) {
        return Ok(n);
    }
    let parent = node.tag_name().name();
    match node
        .children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
    {
        Some(other) => Err(syntax(format!(
            "{parent}/{name} is in namespace `{}`, the schema puts it in `{ns}`",
            other.tag_name().namespace().unwrap_or("(none)")
        ))),
        None => Err(syntax(format!(
            "{parent}/{name} is missing ({{{ns}}}{name})"
        ))),
    }
}

fn text_of(node: Node<'_, '_>) -> String {
    node.text().unwrap_or("").trim().to_string()
}

fn required_text(node: Node<'_, '_>, ns: &str, name: &str) -> Result<String, Violation> {
    let n = required(node, ns, name)?;
    let t = text_of(n);
    if t.is_empty() {
        return Err(syntax(format!(
            "{}/{name} is empty",
            node.tag_name().name()
        )));
    }
    Ok(t)
}

fn optional_text(node: Node<'_, '_>, ns: &str, name: &str) -> Option<String> {
    child(node, ns, name).map(text_of).filter(|t| !t.is_empty())
}

fn base64_of(node: Node<'_, '_>, path: &str) -> Result<Vec<u8>, Violation> {
    unb64(node.text().unwrap_or("")).ok_or_else(|| syntax(format!("{path} is not base64")))
}

/// `Document/dss:Base64Data` (or a `Base64XML`) of a document element.
fn document_bytes(document: Node<'_, '_>, path: &str) -> Result<Vec<u8>, Violation> {
    if let Some(b) = child(document, NS_DSS, "Base64Data") {
        return base64_of(b, &format!("{path}/Base64Data"));
    }
    let ns = document.tag_name().namespace().unwrap_or("");
    if let Some(b) =
        child(document, NS_COMMON, "Base64XML").or_else(|| child(document, ns, "Base64XML"))
    {
        return base64_of(b, &format!("{path}/Base64XML"));
    }
    Err(syntax(format!(
        "{path} has neither dss:Base64Data ({{{NS_DSS}}}Base64Data) nor Base64XML"
    )))
}

fn read_context(op: Node<'_, '_>) -> Result<CallContext, Violation> {
    let ctx = required(op, NS_CONTEXT, "Context")?;
    Ok(CallContext {
        mandant_id: required_text(ctx, NS_COMMON, "MandantId")?,
        client_system_id: required_text(ctx, NS_COMMON, "ClientSystemId")?,
        workplace_id: required_text(ctx, NS_COMMON, "WorkplaceId")?,
        user_id: optional_text(ctx, NS_COMMON, "UserId"),
    })
}

/// The DER attribute of a `dss:Property` list with Identifier `RecipientEmailsAttribute`: the
/// base64 text of `dss:Value` or of a `CMSAttribute` element inside it (its namespace is not
/// fixed by any schema; KIM-FACTS §4).
fn recipient_emails_property(
    properties: Node<'_, '_>,
    path: &str,
) -> Result<Option<Vec<u8>>, Violation> {
    for prop in children(properties, NS_DSS, "Property") {
        let id = optional_text(prop, NS_DSS, "Identifier").unwrap_or_default();
        if id != "RecipientEmailsAttribute" {
            continue;
        }
        let value = required(prop, NS_DSS, "Value")?;
        let holder = value
            .children()
            .find(|c| c.is_element() && c.tag_name().name() == "CMSAttribute")
            .unwrap_or(value);
        return base64_of(
            holder,
            &format!("{path}/Property[RecipientEmailsAttribute]/Value"),
        )
        .map(Some);
    }
    Ok(None)
}

fn read_call(op: Operation, el: Node<'_, '_>, ns: &str) -> Result<Call, Violation> {
    let handle = |n: Node<'_, '_>| required_text(n, NS_COMMON, "CardHandle");
    Ok(match op {
        Operation::GetCards => Call::GetCards {
            card_type: optional_text(el, NS_CARD_COMMON, "CardType"),
        },
        Operation::GetPinStatus | Operation::VerifyPin => {
            let card_handle = handle(el)?;
            let pin_type = required_text(el, NS_CARD_COMMON, "PinTyp")?;
            if op == Operation::GetPinStatus {
                Call::GetPinStatus {
                    card_handle,
                    pin_type,
                }
            } else {
                Call::VerifyPin {
                    card_handle,
                    pin_type,
                }
            }
        }
        Operation::ReadCardCertificate => {
            let card_handle = handle(el)?;
            let list = required(el, NS_CERT, "CertRefList")?;
            let cert_refs: Vec<String> = children(list, NS_CERT, "CertRef").map(text_of).collect();
            if cert_refs.is_empty() {
                return Err(syntax("ReadCardCertificate/CertRefList has no CertRef"));
            }
            Call::ReadCardCertificate {
                card_handle,
                cert_refs,
                crypt: optional_text(el, NS_CERT, "Crypt"),
            }
        }
        Operation::VerifyCertificate => {
            let c = required(el, NS_CERT_COMMON, "X509Certificate")?;
            Call::VerifyCertificate {
                certificate: base64_of(c, "VerifyCertificate/X509Certificate")?,
            }
        }
        Operation::SignDocument => {
            let card_handle = handle(el)?;
            required_text(el, ns, "TvMode")?;
            let mut requests = Vec::new();
            for (i, sr) in children(el, ns, "SignRequest").enumerate() {
                let path = format!("SignDocument/SignRequest[{i}]");
                let request_id = sr
                    .attribute("RequestID")
                    .ok_or_else(|| syntax(format!("{path} has no RequestID attribute")))?
                    .to_string();
                let doc = required(sr, ns, "Document")?;
                let document = document_bytes(doc, &format!("{path}/Document"))?;
                required_text(sr, ns, "IncludeRevocationInfo")?;
                let opt = child(sr, ns, "OptionalInputs");
                let signature_type = opt.and_then(|o| optional_text(o, NS_DSS, "SignatureType"));
                let include_econtent = opt
                    .and_then(|o| optional_text(o, ns, "IncludeEContent"))
                    .is_some_and(|v| v == "true" || v == "1");
                let recipient_emails = match opt
                    .and_then(|o| child(o, NS_DSS, "Properties"))
                    .and_then(|p| child(p, NS_DSS, "SignedProperties"))
                {
                    Some(sp) => recipient_emails_property(
                        sp,
                        &format!("{path}/OptionalInputs/Properties/SignedProperties"),
                    )?,
                    None => None,
                };
                requests.push(SignRequest {
                    request_id,
                    signature_type,
                    recipient_emails,
                    include_econtent,
                    document,
                });
            }
            if requests.is_empty() {
                return Err(syntax("SignDocument has no SignRequest"));
            }
            Call::SignDocument {
                card_handle,
                crypt: optional_text(el, ns, "Crypt"),
                requests,
            }
        }
        Operation::VerifyDocument => {
            required_text(el, ns, "IncludeRevocationInfo")?;
            let signature = match child(el, NS_DSS, "SignatureObject")
                .and_then(|s| child(s, NS_DSS, "Base64Signature"))
            {
                Some(s) => Some(base64_of(
                    s,
                    "VerifyDocument/SignatureObject/Base64Signature",
                )?),
                None => None,
            };
            let document = match child(el, ns, "Document") {
                Some(d) => Some(document_bytes(d, "VerifyDocument/Document")?),
                None => None,
            };
            if signature.is_none() && document.is_none() {
                return Err(syntax(
                    "VerifyDocument has neither a SignatureObject/Base64Signature nor a Document",
                ));
            }
            Call::VerifyDocument {
                signature,
                document,
            }
        }
        Operation::GetJobNumber => Call::GetJobNumber,
        Operation::ExternalAuthenticate => {
            let card_handle = handle(el)?;
            let bin = required(el, ns, "BinaryString")?;
            let b = required(bin, NS_DSS, "Base64Data")?;
            let opt = child(el, ns, "OptionalInputs");
            Call::ExternalAuthenticate {
                card_handle,
                signature_type: opt.and_then(|o| optional_text(o, NS_DSS, "SignatureType")),
                scheme: opt.and_then(|o| optional_text(o, ns, "SignatureSchemes")),
                binary: base64_of(b, "ExternalAuthenticate/BinaryString/Base64Data")?,
            }
        }
        Operation::EncryptDocument => {
            let keys = required(el, NS_CRYPT, "RecipientKeys")?;
            let mut certificates = Vec::new();
            for (i, c) in children(keys, NS_CRYPT, "Certificate").enumerate() {
                certificates.push(base64_of(
                    c,
                    &format!("EncryptDocument/RecipientKeys/Certificate[{i}]"),
                )?);
            }
            if certificates.is_empty() && child(keys, NS_CRYPT, "CertificateOnCard").is_none() {
                return Err(syntax(
                    "EncryptDocument/RecipientKeys names no Certificate and no CertificateOnCard",
                ));
            }
            let doc = required(el, NS_COMMON, "Document")?;
            let document = document_bytes(doc, "EncryptDocument/Document")?;
            let opt = child(el, NS_CRYPT, "OptionalInputs");
            let recipient_emails =
                match opt.and_then(|o| child(o, NS_CRYPT, "UnprotectedProperties")) {
                    Some(up) => recipient_emails_property(
                        up,
                        "EncryptDocument/OptionalInputs/UnprotectedProperties",
                    )?,
                    None => None,
                };
            Call::EncryptDocument {
                certificates,
                encryption_type: opt.and_then(|o| optional_text(o, NS_CRYPT, "EncryptionType")),
                recipient_emails,
                document,
            }
        }
        Operation::DecryptDocument => {
            let key = required(el, NS_CRYPT, "PrivateKeyOnCard")?;
            let doc = required(el, NS_COMMON, "Document")?;
            Call::DecryptDocument {
                card_handle: handle(key)?,
                key_reference: optional_text(key, NS_CRYPT, "KeyReference"),
                crypt: optional_text(key, NS_CRYPT, "Crypt"),
                document: document_bytes(doc, "DecryptDocument/Document")?,
            }
        }
    })
}
