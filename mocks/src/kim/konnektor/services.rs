//! The Konnektor services a KIM Clientmodul calls (KIM-FACTS §4), their versions, namespaces,
//! operations and soapActions, and the `connector.sds` that announces them
//! (`conn/ServiceDirectory.xsd` v3.1 with `conn/ServiceInformation.xsd` v2.0).
//!
//! Two soapAction quirks are gematik's, not ours (KIM-ANCHORS §7): DecryptDocument is announced
//! under `…/conn/crypt/EncryptionService/v6.1`, ExternalAuthenticate under
//! `…/SignatureService/v7.4`. The mock expects exactly what the WSDL files say.

use super::xml::escape;

pub const NS_SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const NS_SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
pub const NS_CONTEXT: &str = "http://ws.gematik.de/conn/ConnectorContext/v2.0";
pub const NS_COMMON: &str = "http://ws.gematik.de/conn/ConnectorCommon/v5.0";
pub const NS_ERROR: &str = "http://ws.gematik.de/tel/error/v2.0";
pub const NS_CARD: &str = "http://ws.gematik.de/conn/CardService/v8.1";
pub const NS_CARD_COMMON: &str = "http://ws.gematik.de/conn/CardServiceCommon/v2.0";
pub const NS_EVENT: &str = "http://ws.gematik.de/conn/EventService/v7.2";
pub const NS_CERT: &str = "http://ws.gematik.de/conn/CertificateService/v6.0";
pub const NS_CERT_COMMON: &str = "http://ws.gematik.de/conn/CertificateServiceCommon/v2.0";
pub const NS_SIG_74: &str = "http://ws.gematik.de/conn/SignatureService/v7.4";
pub const NS_SIG_75: &str = "http://ws.gematik.de/conn/SignatureService/v7.5";
pub const NS_CRYPT: &str = "http://ws.gematik.de/conn/EncryptionService/v6.1";
pub const NS_DSS: &str = "urn:oasis:names:tc:dss:1.0:core:schema";
const NS_SDS: &str = "http://ws.gematik.de/conn/ServiceDirectory/v3.1";
const NS_SI: &str = "http://ws.gematik.de/conn/ServiceInformation/v2.0";
const NS_PI: &str = "http://ws.gematik.de/int/version/ProductInformation/v1.1";

/// An operation of the Konnektor the mock serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Operation {
    GetCards,
    GetPinStatus,
    VerifyPin,
    ReadCardCertificate,
    VerifyCertificate,
    SignDocument,
    VerifyDocument,
    GetJobNumber,
    ExternalAuthenticate,
    EncryptDocument,
    DecryptDocument,
}

impl Operation {
    /// The body element's local name (= the operation name).
    pub fn name(self) -> &'static str {
        match self {
            Operation::GetCards => "GetCards",
            Operation::GetPinStatus => "GetPinStatus",
            Operation::VerifyPin => "VerifyPin",
            Operation::ReadCardCertificate => "ReadCardCertificate",
            Operation::VerifyCertificate => "VerifyCertificate",
            Operation::SignDocument => "SignDocument",
            Operation::VerifyDocument => "VerifyDocument",
            Operation::GetJobNumber => "GetJobNumber",
            Operation::ExternalAuthenticate => "ExternalAuthenticate",
            Operation::EncryptDocument => "EncryptDocument",
            Operation::DecryptDocument => "DecryptDocument",
        }
    }
}

/// One version of a service as the mock offers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceVersion {
    /// `Service@Name` in connector.sds.
    pub service: &'static str,
    /// `Version@Version`, e.g. `7.5.5`.
    pub version: &'static str,
    /// `Version@TargetNamespace`: the WSDL namespace.
    pub wsdl_namespace: &'static str,
    /// The namespace of the request and response elements (the XSD's).
    pub namespace: &'static str,
    /// Path of the endpoint below the server (prefix included).
    pub path: String,
    /// Operations with the soapAction each expects.
    pub operations: Vec<(Operation, &'static str)>,
}

/// The endpoint path layouts real Konnektoren use (KIM-ANCHORS §7).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndpointLayout {
    /// `/ws/<Service>` (secunet style).
    #[default]
    Ws,
    /// `/service/<service in lower case>` (CGM / KoCoBox style).
    Service,
    /// `/webservices/<service in lower case>` (RISE style).
    Webservices,
    /// `/soap-api/<Service>/<version>` (KonSim style).
    SoapApi,
}

impl EndpointLayout {
    fn path(self, service: &str, version: &str) -> String {
        // Two versions of one service must not share a path: the version is always part of it
        // where a service is offered twice.
        match self {
            EndpointLayout::Ws => format!("/ws/{service}/v{version}"),
            EndpointLayout::Service => {
                format!("/service/{}/v{version}", service.to_ascii_lowercase())
            }
            EndpointLayout::Webservices => {
                format!("/webservices/{}/v{version}", service.to_ascii_lowercase())
            }
            EndpointLayout::SoapApi => format!("/soap-api/{service}/{version}"),
        }
    }
}

/// Every service version the mock offers, at the paths of `layout`. SignatureService is
/// offered twice (7.4.2 and 7.5.5) as real Konnektoren do.
pub fn offered(layout: EndpointLayout) -> Vec<ServiceVersion> {
    use Operation::*;
    let v = |service: &'static str,
             version: &'static str,
             wsdl_namespace: &'static str,
             namespace: &'static str,
             operations: Vec<(Operation, &'static str)>| ServiceVersion {
        service,
        version,
        wsdl_namespace,
        namespace,
        path: layout.path(service, version),
        operations,
    };
    vec![
        v(
            "EventService",
            "7.2.1",
            "http://ws.gematik.de/conn/EventService/WSDL/v7.2",
            NS_EVENT,
            vec![(
                GetCards,
                "http://ws.gematik.de/conn/EventService/v7.2#GetCards",
            )],
        ),
        v(
            "CardService",
            "8.1.2",
            "http://ws.gematik.de/conn/CardService/WSDL/v8.1",
            NS_CARD,
            vec![
                (
                    GetPinStatus,
                    "http://ws.gematik.de/conn/CardService/v8.1#GetPinStatus",
                ),
                (
                    VerifyPin,
                    "http://ws.gematik.de/conn/CardService/v8.1#VerifyPin",
                ),
            ],
        ),
        v(
            "CertificateService",
            "6.0.1",
            "http://ws.gematik.de/conn/CertificateService/WSDL/v6.0",
            NS_CERT,
            vec![
                (
                    ReadCardCertificate,
                    "http://ws.gematik.de/conn/CertificateService/v6.0#ReadCardCertificate",
                ),
                (
                    VerifyCertificate,
                    "http://ws.gematik.de/conn/CertificateService/v6.0#VerifyCertificate",
                ),
            ],
        ),
        v(
            "SignatureService",
            "7.4.2",
            "http://ws.gematik.de/conn/SignatureService/WSDL/v7.4",
            NS_SIG_74,
            vec![
                (
                    SignDocument,
                    "http://ws.gematik.de/conn/SignatureService/v7.4#SignDocument",
                ),
                (
                    VerifyDocument,
                    "http://ws.gematik.de/conn/SignatureService/v7.4#VerifyDocument",
                ),
                (
                    GetJobNumber,
                    "http://ws.gematik.de/conn/SignatureService/v7.4#GetJobNumber",
                ),
            ],
        ),
        v(
            "SignatureService",
            "7.5.5",
            "http://ws.gematik.de/conn/SignatureService/WSDL/v7.5",
            NS_SIG_75,
            vec![
                (
                    SignDocument,
                    "http://ws.gematik.de/conn/SignatureService/v7.5#SignDocument",
                ),
                (
                    VerifyDocument,
                    "http://ws.gematik.de/conn/SignatureService/v7.5#VerifyDocument",
                ),
                (
                    GetJobNumber,
                    "http://ws.gematik.de/conn/SignatureService/v7.5#GetJobNumber",
                ),
            ],
        ),
        v(
            "AuthSignatureService",
            "7.4.1",
            "http://ws.gematik.de/conn/AuthSignatureService/WSDL/v7.4",
            NS_SIG_74,
            vec![(
                ExternalAuthenticate,
                "http://ws.gematik.de/conn/SignatureService/v7.4#ExternalAuthenticate",
            )],
        ),
        v(
            "EncryptionService",
            "6.1.1",
            "http://ws.gematik.de/conn/EncryptionService/WSDL/v6.1",
            NS_CRYPT,
            vec![
                (
                    EncryptDocument,
                    "http://ws.gematik.de/conn/EncryptionService/v6.1#EncryptDocument",
                ),
                (
                    DecryptDocument,
                    "http://ws.gematik.de/conn/crypt/EncryptionService/v6.1#DecryptDocument",
                ),
            ],
        ),
    ]
}

/// What connector.sds says about the Konnektor besides its services.
#[derive(Debug, Clone)]
pub struct SdsHeader {
    pub tls_mandatory: bool,
    pub client_auth_mandatory: bool,
    /// `https://host:port` of this server (endpoints are this + path).
    pub base_url: String,
}

/// The service directory (`GET /connector.sds`).
pub fn connector_sds(header: &SdsHeader, services: &[ServiceVersion]) -> String {
    let mut out = String::with_capacity(4096);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<SDS:ConnectorServices xmlns:SDS=\"{NS_SDS}\" xmlns:SI=\"{NS_SI}\" xmlns:PI=\"{NS_PI}\">\n"
    ));
    out.push_str(concat!(
        "  <PI:ProductInformation>\n",
        "    <PI:InformationDate>2026-01-01T00:00:00Z</PI:InformationDate>\n",
        "    <PI:ProductTypeInformation><PI:ProductType>Konnektor</PI:ProductType>",
        "<PI:ProductTypeVersion>5.1.0</PI:ProductTypeVersion></PI:ProductTypeInformation>\n",
        "    <PI:ProductIdentification><PI:ProductVendorID>KVCCK</PI:ProductVendorID>",
        "<PI:ProductCode>KVCMOCK</PI:ProductCode><PI:ProductVersion><PI:Local>",
        "<PI:HWVersion>1.0.0</PI:HWVersion><PI:FWVersion>1.0.0</PI:FWVersion></PI:Local>",
        "</PI:ProductVersion></PI:ProductIdentification>\n",
        "    <PI:ProductMiscellaneous><PI:ProductVendorName>kvc-check</PI:ProductVendorName>",
        "<PI:ProductName>kvc-check mock Konnektor</PI:ProductName></PI:ProductMiscellaneous>\n",
        "  </PI:ProductInformation>\n",
    ));
    out.push_str(&format!(
        "  <SDS:TLSMandatory>{}</SDS:TLSMandatory>\n  <SDS:ClientAutMandatory>{}</SDS:ClientAutMandatory>\n",
        header.tls_mandatory, header.client_auth_mandatory
    ));
    out.push_str("  <SI:ServiceInformation>\n");
    let mut names: Vec<&str> = services.iter().map(|s| s.service).collect();
    names.dedup();
    for name in names {
        out.push_str(&format!(
            "    <SI:Service Name=\"{name}\">\n      <SI:Abstract>{name}</SI:Abstract>\n      <SI:Versions>\n"
        ));
        for v in services.iter().filter(|s| s.service == name) {
            let url = escape(&format!("{}{}", header.base_url, v.path));
            out.push_str(&format!(
                "        <SI:Version TargetNamespace=\"{}\" Version=\"{}\">\n          <SI:Abstract>{} {}</SI:Abstract>\n          <SI:EndpointTLS Location=\"{url}\"/>\n        </SI:Version>\n",
                v.wsdl_namespace, v.version, v.service, v.version
            ));
        }
        out.push_str("      </SI:Versions>\n    </SI:Service>\n");
    }
    out.push_str("  </SI:ServiceInformation>\n</SDS:ConnectorServices>\n");
    out
}
