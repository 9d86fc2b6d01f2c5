//! A SOAP client of the Konnektor as a KIM Clientmodul uses it: reads `connector.sds` over
//! HTTPS (trusting one CA, optionally showing a TLS client certificate), picks the endpoints of
//! the service versions it speaks, and calls GetCards, SignDocument, VerifyDocument,
//! EncryptDocument and DecryptDocument with the Context in every call.
//!
//! The dialect is the one of gematik's WSDL/XSD (and so of the mock Konnektor in this module):
//! SOAP 1.1 (`text/xml`, quoted `SOAPAction` header), the body element in the namespace of the
//! service version announced in connector.sds (SignatureService 7.5 preferred over 7.4,
//! EventService 7.2, EncryptionService 6.1 with its `…/conn/crypt/…` DecryptDocument
//! soapAction), the Context as `CCTX:Context` with `CONN:MandantId`, `CONN:ClientSystemId`,
//! `CONN:WorkplaceId`, documents as `dss:Base64Data`, the RecipientEmailsAttribute as a
//! `dss:Property` whose `dss:Value` holds the base64 DER `Attribute` in a `CMSAttribute`
//! element. Answers are read namespace-aware (roxmltree); a SOAP fault's TelematikError
//! becomes [`KonnektorError::Fault`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::Method;
use hyper::header::HeaderName;
use roxmltree::{Document, Node};
use rustls::pki_types::ServerName;

use super::services::{NS_COMMON, NS_CONTEXT, NS_DSS, NS_ERROR, NS_SOAP11, NS_SOAP12};
use super::xml::{b64, escape, unb64};
use crate::http::client::{HttpResponse, HttpsClient, HttpsTarget};
use crate::net::client::ClientError;
use crate::net::tls::ClientIdentity;

/// Largest answer body read from the Konnektor.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

const NS_SI: &str = "http://ws.gematik.de/conn/ServiceInformation/v2.0";
const NS_SDS: &str = "http://ws.gematik.de/conn/ServiceDirectory/v3.1";
const NS_EVENT: &str = "http://ws.gematik.de/conn/EventService/v7.2";
const NS_CARD: &str = "http://ws.gematik.de/conn/CardService/v8.1";
const NS_CARD_COMMON: &str = "http://ws.gematik.de/conn/CardServiceCommon/v2.0";
const NS_CRYPT: &str = "http://ws.gematik.de/conn/EncryptionService/v6.1";
/// SignatureType / EncryptionType of CMS.
const CMS: &str = "urn:ietf:rfc:5652";

/// The Context every call carries (ConnectorContext v2.0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KonnektorContext {
    pub mandant_id: String,
    pub client_system_id: String,
    pub workplace_id: String,
}

impl Default for KonnektorContext {
    /// The Context the mock Konnektor knows by default (`Mandant1`, `KIM-CM`, `Workplace1`).
    fn default() -> Self {
        let k = super::KnownContext::default();
        KonnektorContext {
            mandant_id: k.mandant_id,
            client_system_id: k.client_system_id,
            workplace_id: k.workplace_id,
        }
    }
}

impl KonnektorContext {
    /// `<CCTX:Context>` (prefixes `CCTX` and `CONN` declared on it).
    fn element(&self) -> String {
        format!(
            "<CCTX:Context xmlns:CCTX=\"{NS_CONTEXT}\" xmlns:CONN=\"{NS_COMMON}\"><CONN:MandantId>{}</CONN:MandantId><CONN:ClientSystemId>{}</CONN:ClientSystemId><CONN:WorkplaceId>{}</CONN:WorkplaceId></CCTX:Context>",
            escape(&self.mandant_id),
            escape(&self.client_system_id),
            escape(&self.workplace_id)
        )
    }
}

/// Why a Konnektor call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KonnektorError {
    /// No TLS/TCP connection or HTTP failure (text says which URL and why).
    Unreachable(String),
    /// A SOAP fault with a TelematikError (code, ErrorText).
    Fault { code: u32, text: String },
    /// An answer that is not what the WSDL promises (text says what was wrong).
    Malformed(String),
}

impl std::fmt::Display for KonnektorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KonnektorError::Unreachable(t) => write!(f, "Konnektor unreachable: {t}"),
            KonnektorError::Fault { code, text } => {
                write!(f, "Konnektor fault {code}: {text}")
            }
            KonnektorError::Malformed(t) => write!(f, "malformed Konnektor answer: {t}"),
        }
    }
}

impl std::error::Error for KonnektorError {}

/// What VerifyDocument said about a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOutcome {
    /// `VerificationResult/HighLevelResult`: `VALID`, `INCONCLUSIVE`, `INVALID`.
    pub high_level_result: String,
    /// The TelematikError code in `Status/Error` (with a `Warning` or `Error` result), if any.
    pub code: Option<u32>,
}

/// One card as GetCards lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardInfo {
    pub handle: String,
    /// `SMC-B`, `HBA`, …
    pub card_type: String,
    pub iccsn: Option<String>,
    pub ct_id: Option<String>,
    pub slot_id: Option<u32>,
    pub holder_name: Option<String>,
    /// `CertificateExpirationDate` as sent (xs:date).
    pub certificate_expiration: Option<String>,
}

/// A service version the client speaks: where connector.sds puts it and what it is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `Service@Name`.
    pub service: String,
    /// `Version@Version`.
    pub version: String,
    /// `EndpointTLS@Location`.
    pub url: String,
    /// Namespace of the request and response elements.
    pub namespace: &'static str,
    path: String,
    host: usize,
}

/// The HTTPS clients of one `host:port` (one per resolved address, tried in order).
struct Host {
    authority: String,
    clients: Vec<HttpsClient>,
}

/// The service versions the client speaks, by preference: (service, WSDL namespace of
/// connector.sds, element namespace).
const SPOKEN: &[(&str, &str, &str)] = &[
    (
        "EventService",
        "http://ws.gematik.de/conn/EventService/WSDL/v7.2",
        NS_EVENT,
    ),
    (
        "SignatureService",
        "http://ws.gematik.de/conn/SignatureService/WSDL/v7.5",
        "http://ws.gematik.de/conn/SignatureService/v7.5",
    ),
    (
        "SignatureService",
        "http://ws.gematik.de/conn/SignatureService/WSDL/v7.4",
        "http://ws.gematik.de/conn/SignatureService/v7.4",
    ),
    (
        "EncryptionService",
        "http://ws.gematik.de/conn/EncryptionService/WSDL/v6.1",
        NS_CRYPT,
    ),
];

/// A Konnektor as connector.sds describes it; calls are independent (one connection each).
pub struct KonnektorClient {
    sds_url: String,
    context: KonnektorContext,
    timeout: Duration,
    tls: Arc<rustls::ClientConfig>,
    hosts: Vec<Host>,
    event: Endpoint,
    signature: Endpoint,
    encryption: Endpoint,
    client_auth_mandatory: bool,
}

impl std::fmt::Debug for KonnektorClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KonnektorClient")
            .field("sds_url", &self.sds_url)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

/// `https://host[:port]/path` split up: (host without brackets, authority as written, port,
/// path with query).
fn split_https_url(url: &str) -> Result<(String, String, u16, String), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| {
            url.get(..8)
                .filter(|p| p.eq_ignore_ascii_case("https://"))
                .map(|_| &url[8..])
        })
        .ok_or_else(|| format!("`{url}` is not an https URL"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.contains('@') {
        return Err(format!(
            "`{url}`: user information in the URL is not supported"
        ));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("`{url}`: unclosed `[` in the host"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(format!("`{url}`: junk after the IPv6 address")),
        };
        (h.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(format!("`{url}` names no host"));
    }
    let port = match port {
        None => 443,
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("`{url}`: port `{p}` is not a number 0-65535"))?,
    };
    Ok((host, authority.to_string(), port, path.to_string()))
}

fn unreachable(url: &str, why: impl std::fmt::Display) -> KonnektorError {
    KonnektorError::Unreachable(format!("{url}: {why}"))
}

fn malformed(what: impl Into<String>) -> KonnektorError {
    KonnektorError::Malformed(what.into())
}

/// The first child element `{ns}name`.
fn child<'a, 'i>(node: Node<'a, 'i>, ns: &str, name: &str) -> Option<Node<'a, 'i>> {
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

fn need<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &str,
    name: &str,
    op: &str,
) -> Result<Node<'a, 'i>, KonnektorError> {
    child(node, ns, name).ok_or_else(|| {
        malformed(format!(
            "{op}: {}/{name} ({{{ns}}}{name}) is missing",
            node.tag_name().name()
        ))
    })
}

fn text(node: Node<'_, '_>) -> String {
    node.text().unwrap_or("").trim().to_string()
}

fn opt_text(node: Node<'_, '_>, ns: &str, name: &str) -> Option<String> {
    child(node, ns, name).map(text).filter(|t| !t.is_empty())
}

/// The TelematikError (`GERROR:Error`) at or below `node`: its `Trace/Code` and
/// `Trace/ErrorText` (the first trace that has a code).
fn telematik_error(node: Node<'_, '_>) -> Option<(u32, String)> {
    let error = node.descendants().find(|n| {
        n.is_element()
            && n.tag_name().name() == "Error"
            && n.tag_name().namespace() == Some(NS_ERROR)
    })?;
    children(error, NS_ERROR, "Trace").find_map(|t| {
        let code = opt_text(t, NS_ERROR, "Code")?.parse::<u32>().ok()?;
        Some((code, opt_text(t, NS_ERROR, "ErrorText").unwrap_or_default()))
    })
}

/// A `dss:Property` with Identifier `RecipientEmailsAttribute` whose `dss:Value` holds the DER
/// `Attribute` base64-encoded in a `CMSAttribute` element (no namespace), as gemSpec_CM_KOMLE's
/// example writes it.
fn recipient_emails_property(der: &[u8]) -> String {
    format!(
        "<dss:Property><dss:Identifier>RecipientEmailsAttribute</dss:Identifier><dss:Value><CMSAttribute>{}</CMSAttribute></dss:Value></dss:Property>",
        b64(der)
    )
}

/// The RecipientEmailsAttribute (`Attribute`, DER) for `recipients` (address, the recipient's
/// encryption certificate), as SignDocument and EncryptDocument take it.
pub fn recipient_emails_attribute(
    recipients: &[(String, x509_cert::Certificate)],
) -> Result<Vec<u8>, String> {
    use der::Encode;
    let list = kvc_smime::cms::recipient_emails_for(recipients);
    let attr = kvc_smime::asn1::recipient_emails_attribute(&list)
        .map_err(|e| format!("RecipientEmailsAttribute: {e}"))?;
    attr.to_der()
        .map_err(|e| format!("RecipientEmailsAttribute encoding: {e}"))
}

/// One service version connector.sds announces with a TLS endpoint.
struct Announced {
    service: String,
    version: String,
    target_namespace: String,
    location: String,
}

/// Reads the service directory: `ClientAutMandatory` and the endpoint of every version
/// announced.
fn read_sds(sds_url: &str, body: &[u8]) -> Result<(bool, Vec<Announced>), KonnektorError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| malformed(format!("connector.sds at {sds_url} is not UTF-8: {e}")))?;
    let doc = Document::parse(text)
        .map_err(|e| malformed(format!("connector.sds at {sds_url} is not XML: {e}")))?;
    let root = doc.root_element();
    if root.tag_name().name() != "ConnectorServices" || root.tag_name().namespace() != Some(NS_SDS)
    {
        return Err(malformed(format!(
            "connector.sds at {sds_url}: root element is `{}` in `{}`, not {{{NS_SDS}}}ConnectorServices",
            root.tag_name().name(),
            root.tag_name().namespace().unwrap_or("(none)")
        )));
    }
    let client_auth = opt_text(root, NS_SDS, "ClientAutMandatory").is_some_and(|v| v == "true");
    let mut out = Vec::new();
    for info in children(root, NS_SI, "ServiceInformation") {
        for service in children(info, NS_SI, "Service") {
            let name = service.attribute("Name").unwrap_or("").to_string();
            for versions in children(service, NS_SI, "Versions") {
                for v in children(versions, NS_SI, "Version") {
                    let Some(loc) =
                        child(v, NS_SI, "EndpointTLS").and_then(|e| e.attribute("Location"))
                    else {
                        continue;
                    };
                    out.push(Announced {
                        service: name.clone(),
                        version: v.attribute("Version").unwrap_or("").to_string(),
                        target_namespace: v.attribute("TargetNamespace").unwrap_or("").to_string(),
                        location: loc.to_string(),
                    });
                }
            }
        }
    }
    Ok((client_auth, out))
}

impl KonnektorClient {
    /// Reads connector.sds at `sds_url` (https), trusting `ca_pem`; optional TLS client
    /// identity for `ClientAutMandatory`. Every later call (like this one) ends within
    /// `timeout`.
    pub async fn connect(
        sds_url: &str,
        ca_pem: &str,
        identity: Option<&ClientIdentity>,
        context: KonnektorContext,
        timeout: Duration,
    ) -> Result<KonnektorClient, KonnektorError> {
        let tls = match identity {
            Some(id) => crate::net::tls::client_config_with_identity(
                ca_pem,
                &id.certificate_pem,
                &id.key_pem,
            ),
            None => crate::net::tls::client_config_trusting(ca_pem),
        }
        .map_err(|e| unreachable(sds_url, format!("TLS client configuration: {e}")))?;
        let work = async {
            let mut hosts = Vec::new();
            let (sds_host, sds_path) = Self::host_for(&mut hosts, &tls, sds_url).await?;
            let resp =
                Self::send(&hosts[sds_host], sds_url, Method::GET, &sds_path, &[], None).await?;
            if resp.status != 200 {
                return Err(unreachable(
                    sds_url,
                    format!("GET connector.sds answered HTTP {}", resp.status),
                ));
            }
            let (client_auth_mandatory, announced) = read_sds(sds_url, &resp.body)?;
            let pick = |service: &str| {
                SPOKEN
                    .iter()
                    .filter(|(s, _, _)| *s == service)
                    .find_map(|(s, wsdl, ns)| {
                        announced
                            .iter()
                            .find(|a| a.service == *s && a.target_namespace == *wsdl)
                            .map(|a| {
                                let (n, v) = (a.service.clone(), a.version.clone());
                                (n, v, a.location.clone(), *ns)
                            })
                    })
                    .ok_or_else(|| {
                        malformed(format!(
                            "connector.sds at {sds_url} announces no {service} version this client speaks ({})",
                            SPOKEN
                                .iter()
                                .filter(|(s, _, _)| *s == service)
                                .map(|(_, w, _)| *w)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })
            };
            let event = pick("EventService")?;
            let signature = pick("SignatureService")?;
            let encryption = pick("EncryptionService")?;
            let mut endpoints = Vec::new();
            for (service, version, url, namespace) in [event, signature, encryption] {
                let (host, path) = Self::host_for(&mut hosts, &tls, &url).await?;
                endpoints.push(Endpoint {
                    service,
                    version,
                    url,
                    namespace,
                    path,
                    host,
                });
            }
            Ok((hosts, endpoints, client_auth_mandatory))
        };
        let (hosts, mut endpoints, client_auth_mandatory) =
            tokio::time::timeout(timeout, work).await.map_err(|_| {
                unreachable(
                    sds_url,
                    format!("connector.sds not read within {} ms", timeout.as_millis()),
                )
            })??;
        let (Some(encryption), Some(signature), Some(event)) =
            (endpoints.pop(), endpoints.pop(), endpoints.pop())
        else {
            return Err(malformed("endpoint selection"));
        };
        Ok(KonnektorClient {
            sds_url: sds_url.to_string(),
            context,
            timeout,
            tls,
            hosts,
            event,
            signature,
            encryption,
            client_auth_mandatory,
        })
    }

    /// The host entry for `url` (resolved and added if new) and the URL's path.
    async fn host_for(
        hosts: &mut Vec<Host>,
        tls: &Arc<rustls::ClientConfig>,
        url: &str,
    ) -> Result<(usize, String), KonnektorError> {
        let (host, authority, port, path) =
            split_https_url(url).map_err(|e| unreachable(url, e))?;
        let key = format!("{host}:{port}");
        if let Some(i) = hosts.iter().position(|h| h.authority == key) {
            return Ok((i, path));
        }
        let name = ServerName::try_from(host.clone())
            .map_err(|e| unreachable(url, format!("`{host}` is not a valid server name: {e}")))?;
        let addrs: Vec<SocketAddr> = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|e| unreachable(url, format!("cannot resolve `{host}`: {e}")))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(unreachable(url, format!("`{host}` resolves to no address")));
        }
        let clients = addrs
            .into_iter()
            .map(|addr| {
                HttpsClient::new(HttpsTarget {
                    what: "Konnektor",
                    connect_to: addr,
                    name: name.clone(),
                    tls: tls.clone(),
                    headers: vec![(HeaderName::from_static("host"), authority.clone())],
                    max_response_bytes: MAX_RESPONSE_BYTES,
                })
            })
            .collect();
        hosts.push(Host {
            authority: key,
            clients,
        });
        Ok((hosts.len() - 1, path))
    }

    /// One request, to the host's addresses in turn while the TCP connect is refused.
    async fn send(
        host: &Host,
        url: &str,
        method: Method,
        path: &str,
        extra: &[(HeaderName, String)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<HttpResponse, KonnektorError> {
        let mut last = None;
        let mut body = body;
        let n = host.clients.len();
        for (i, client) in host.clients.iter().enumerate() {
            // The body is cloned only while another address may still be tried.
            let this = if i + 1 == n {
                body.take()
            } else {
                body.clone()
            };
            match client.request_with(method.clone(), path, extra, this).await {
                Ok(r) => return Ok(r),
                Err(e @ ClientError::Connect { .. }) => last = Some(e),
                Err(e) => return Err(unreachable(url, e)),
            }
        }
        Err(match last {
            Some(e) => unreachable(url, e),
            None => unreachable(url, "no address to connect to"),
        })
    }

    /// The Context the calls carry.
    pub fn context(&self) -> &KonnektorContext {
        &self.context
    }

    /// The connector.sds URL this client was built from.
    pub fn sds_url(&self) -> &str {
        &self.sds_url
    }

    /// Whether connector.sds announced `ClientAutMandatory` true.
    pub fn client_auth_mandatory(&self) -> bool {
        self.client_auth_mandatory
    }

    /// The endpoints in use: EventService, SignatureService, EncryptionService.
    pub fn endpoints(&self) -> [&Endpoint; 3] {
        [&self.event, &self.signature, &self.encryption]
    }

    /// The TLS client configuration in use.
    pub fn tls_config(&self) -> Arc<rustls::ClientConfig> {
        self.tls.clone()
    }

    /// Posts `body` (the operation element) in a SOAP 1.1 envelope to `endpoint` with
    /// `action`, within the timeout, and returns the answer: the body element (named
    /// `response` in the endpoint's namespace) checked, or the fault as an error.
    async fn call(
        &self,
        endpoint: &Endpoint,
        action: &str,
        body: &str,
        response: &str,
    ) -> Result<String, KonnektorError> {
        let envelope = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soap:Envelope xmlns:soap=\"{NS_SOAP11}\"><soap:Body>{body}</soap:Body></soap:Envelope>"
        );
        let host = self
            .hosts
            .get(endpoint.host)
            .ok_or_else(|| unreachable(&endpoint.url, "no host for the endpoint"))?;
        let extra = [(
            HeaderName::from_static("soapaction"),
            format!("\"{action}\""),
        )];
        let sent = Self::send(
            host,
            &endpoint.url,
            Method::POST,
            &endpoint.path,
            &extra,
            Some(("text/xml; charset=utf-8", envelope.into_bytes())),
        );
        let resp = tokio::time::timeout(self.timeout, sent)
            .await
            .map_err(|_| {
                unreachable(
                    &endpoint.url,
                    format!(
                        "no answer to {response} within {} ms",
                        self.timeout.as_millis()
                    ),
                )
            })??;
        let text = String::from_utf8(resp.body).map_err(|e| {
            malformed(format!(
                "{response} from {}: body is not UTF-8: {e}",
                endpoint.url
            ))
        })?;
        let is_xml = resp
            .headers
            .iter()
            .any(|(n, v)| n == "content-type" && v.to_ascii_lowercase().contains("xml"));
        if resp.status != 200 && !(resp.status == 500 && is_xml) {
            return Err(unreachable(
                &endpoint.url,
                format!("HTTP {} to the {response} request", resp.status),
            ));
        }
        Ok(text)
    }

    /// The operation's answer element out of an envelope, or the fault.
    fn answer<'a, 'i>(
        doc: &'a Document<'i>,
        endpoint: &Endpoint,
        ns: &str,
        response: &str,
    ) -> Result<Node<'a, 'i>, KonnektorError> {
        let env = doc.root_element();
        let env_ns = match env.tag_name().namespace() {
            Some(n @ (NS_SOAP11 | NS_SOAP12)) if env.tag_name().name() == "Envelope" => n,
            _ => {
                return Err(malformed(format!(
                    "{response} from {}: root element `{}` is not a SOAP Envelope",
                    endpoint.url,
                    env.tag_name().name()
                )));
            }
        };
        let body = need(env, env_ns, "Body", response)?;
        let el = body.children().find(Node::is_element).ok_or_else(|| {
            malformed(format!("{response} from {}: empty SOAP Body", endpoint.url))
        })?;
        if el.tag_name().name() == "Fault" && el.tag_name().namespace() == Some(env_ns) {
            return match telematik_error(el) {
                Some((code, text)) => Err(KonnektorError::Fault { code, text }),
                None => {
                    let reason = el
                        .descendants()
                        .find(|n| {
                            n.is_element() && matches!(n.tag_name().name(), "faultstring" | "Text")
                        })
                        .map(text)
                        .unwrap_or_default();
                    Err(malformed(format!(
                        "{response} from {}: SOAP fault without TelematikError ({reason})",
                        endpoint.url
                    )))
                }
            };
        }
        if el.tag_name().name() != response || el.tag_name().namespace() != Some(ns) {
            return Err(malformed(format!(
                "{} answered `{{{}}}{}` instead of {{{ns}}}{response}",
                endpoint.url,
                el.tag_name().namespace().unwrap_or(""),
                el.tag_name().name()
            )));
        }
        Ok(el)
    }

    /// `CONN:Status` of an answer: Ok for `OK` (and, with `warning_ok`, `Warning`), the
    /// TelematikError in it otherwise. Returns the code of an error it carries.
    fn status(el: Node<'_, '_>, op: &str, warning_ok: bool) -> Result<Option<u32>, KonnektorError> {
        let status = need(el, NS_COMMON, "Status", op)?;
        let result = opt_text(status, NS_COMMON, "Result").unwrap_or_default();
        let error = telematik_error(status);
        match result.as_str() {
            "OK" => Ok(error.map(|(c, _)| c)),
            "Warning" if warning_ok => Ok(error.map(|(c, _)| c)),
            _ => match error {
                Some((code, text)) => Err(KonnektorError::Fault { code, text }),
                None => Err(malformed(format!(
                    "{op}: Status/Result is `{result}` without a TelematikError"
                ))),
            },
        }
    }

    fn parse<'i>(
        text: &'i str,
        endpoint: &Endpoint,
        op: &str,
    ) -> Result<Document<'i>, KonnektorError> {
        Document::parse(text)
            .map_err(|e| malformed(format!("{op} from {}: not XML: {e}", endpoint.url)))
    }

    /// GetCards (of `card_type`, e.g. `SMC-B`, or all): the cards as the Konnektor lists them.
    pub async fn cards(&self, card_type: Option<&str>) -> Result<Vec<CardInfo>, KonnektorError> {
        let ep = &self.event;
        let ns = ep.namespace;
        let wanted = card_type
            .map(|t| {
                format!(
                    "<CARDCMN:CardType xmlns:CARDCMN=\"{NS_CARD_COMMON}\">{}</CARDCMN:CardType>",
                    escape(t)
                )
            })
            .unwrap_or_default();
        let body = format!(
            "<EVT:GetCards xmlns:EVT=\"{ns}\">{}{wanted}</EVT:GetCards>",
            self.context.element()
        );
        let text = self
            .call(ep, &format!("{ns}#GetCards"), &body, "GetCardsResponse")
            .await?;
        let doc = Self::parse(&text, ep, "GetCardsResponse")?;
        let el = Self::answer(&doc, ep, ns, "GetCardsResponse")?;
        Self::status(el, "GetCardsResponse", false)?;
        let list = need(el, NS_CARD, "Cards", "GetCardsResponse")?;
        let mut out = Vec::new();
        for (i, card) in children(list, NS_CARD, "Card").enumerate() {
            let handle = opt_text(card, NS_COMMON, "CardHandle").ok_or_else(|| {
                malformed(format!(
                    "GetCardsResponse: Cards/Card[{i}] has no CardHandle"
                ))
            })?;
            let slot = opt_text(card, NS_CARD_COMMON, "SlotId");
            out.push(CardInfo {
                handle,
                card_type: opt_text(card, NS_CARD_COMMON, "CardType").unwrap_or_default(),
                iccsn: opt_text(card, NS_CARD_COMMON, "Iccsn"),
                ct_id: opt_text(card, NS_CARD_COMMON, "CtId"),
                slot_id: slot.and_then(|s| s.parse().ok()),
                holder_name: opt_text(card, NS_CARD, "CardHolderName"),
                certificate_expiration: opt_text(card, NS_CARD, "CertificateExpirationDate"),
            });
        }
        Ok(out)
    }

    /// GetCards (SMC-B): the card handles in the order the Konnektor lists them (see
    /// [`KonnektorClient::cards`] for their ICCSN and holder).
    pub async fn smcb_handles(&self) -> Result<Vec<String>, KonnektorError> {
        Ok(self
            .cards(Some("SMC-B"))
            .await?
            .into_iter()
            .filter(|c| c.card_type == "SMC-B")
            .map(|c| c.handle)
            .collect())
    }

    /// GetJobNumber of the SignatureService (SignDocument sends one, as the XSD demands at
    /// the Konnektor).
    pub async fn job_number(&self) -> Result<String, KonnektorError> {
        let ep = &self.signature;
        let ns = ep.namespace;
        let body = format!(
            "<SIG:GetJobNumber xmlns:SIG=\"{ns}\">{}</SIG:GetJobNumber>",
            self.context.element()
        );
        let text = self
            .call(
                ep,
                &format!("{ns}#GetJobNumber"),
                &body,
                "GetJobNumberResponse",
            )
            .await?;
        let doc = Self::parse(&text, ep, "GetJobNumberResponse")?;
        let el = Self::answer(&doc, ep, ns, "GetJobNumberResponse")?;
        opt_text(el, ns, "JobNumber")
            .ok_or_else(|| malformed("GetJobNumberResponse has no JobNumber"))
    }

    /// SignDocument (CMS, `IncludeEContent` true) of `document` with the card's signature key;
    /// `recipient_emails` is the DER of the RecipientEmailsAttribute `Attribute` (see
    /// [`recipient_emails_attribute`]), sent as a signed property. Returns the CMS SignedData
    /// (ContentInfo DER) from `Base64Signature`.
    pub async fn sign_document(
        &self,
        card_handle: &str,
        document: &[u8],
        recipient_emails: Option<&[u8]>,
    ) -> Result<Vec<u8>, KonnektorError> {
        let job = self.job_number().await?;
        let ep = &self.signature;
        let ns = ep.namespace;
        let properties = recipient_emails
            .map(|der| {
                format!(
                    "<dss:Properties><dss:SignedProperties>{}</dss:SignedProperties></dss:Properties>",
                    recipient_emails_property(der)
                )
            })
            .unwrap_or_default();
        let body = format!(
            "<SIG:SignDocument xmlns:SIG=\"{ns}\" xmlns:CONN=\"{NS_COMMON}\" xmlns:dss=\"{NS_DSS}\"><CONN:CardHandle>{}</CONN:CardHandle>{}<SIG:TvMode>NONE</SIG:TvMode><SIG:JobNumber>{}</SIG:JobNumber><SIG:SignRequest RequestID=\"Doc1\"><SIG:OptionalInputs><dss:SignatureType>{CMS}</dss:SignatureType>{properties}<SIG:IncludeEContent>true</SIG:IncludeEContent></SIG:OptionalInputs><SIG:Document><dss:Base64Data MimeType=\"application/octet-stream\">{}</dss:Base64Data></SIG:Document><SIG:IncludeRevocationInfo>false</SIG:IncludeRevocationInfo></SIG:SignRequest></SIG:SignDocument>",
            escape(card_handle),
            self.context.element(),
            escape(&job),
            b64(document)
        );
        let op = "SignDocumentResponse";
        let text = self
            .call(ep, &format!("{ns}#SignDocument"), &body, op)
            .await?;
        let doc = Self::parse(&text, ep, op)?;
        let el = Self::answer(&doc, ep, ns, op)?;
        let resp = children(el, ns, "SignResponse")
            .find(|r| r.attribute("RequestID") == Some("Doc1"))
            .ok_or_else(|| malformed(format!("{op} has no SignResponse with RequestID Doc1")))?;
        Self::status(resp, op, false)?;
        let sig = child(resp, NS_DSS, "SignatureObject")
            .and_then(|s| child(s, NS_DSS, "Base64Signature"))
            .ok_or_else(|| {
                malformed(format!(
                    "{op}: SignResponse has no SignatureObject/Base64Signature"
                ))
            })?;
        let cms = unb64(sig.text().unwrap_or(""))
            .ok_or_else(|| malformed(format!("{op}: Base64Signature is not base64")))?;
        if cms.is_empty() {
            return Err(malformed(format!("{op}: Base64Signature is empty")));
        }
        Ok(cms)
    }

    /// EncryptDocument (CMS) of `document` to the DER `certificates`; `recipient_emails` goes
    /// into the unprotected properties. Returns the EnvelopedData/AuthEnvelopedData
    /// ContentInfo DER.
    pub async fn encrypt_document(
        &self,
        certificates: &[Vec<u8>],
        recipient_emails: Option<&[u8]>,
        document: &[u8],
    ) -> Result<Vec<u8>, KonnektorError> {
        let ep = &self.encryption;
        let ns = ep.namespace;
        let certs: String = certificates
            .iter()
            .map(|c| format!("<CRYPT:Certificate>{}</CRYPT:Certificate>", b64(c)))
            .collect();
        let unprotected = recipient_emails
            .map(|der| {
                format!(
                    "<CRYPT:UnprotectedProperties>{}</CRYPT:UnprotectedProperties>",
                    recipient_emails_property(der)
                )
            })
            .unwrap_or_default();
        let body = format!(
            "<CRYPT:EncryptDocument xmlns:CRYPT=\"{ns}\" xmlns:CONN=\"{NS_COMMON}\" xmlns:dss=\"{NS_DSS}\">{}<CRYPT:RecipientKeys>{certs}</CRYPT:RecipientKeys><CONN:Document><dss:Base64Data MimeType=\"application/octet-stream\">{}</dss:Base64Data></CONN:Document><CRYPT:OptionalInputs><CRYPT:EncryptionType>{CMS}</CRYPT:EncryptionType>{unprotected}</CRYPT:OptionalInputs></CRYPT:EncryptDocument>",
            self.context.element(),
            b64(document)
        );
        let op = "EncryptDocumentResponse";
        let text = self
            .call(ep, &format!("{ns}#EncryptDocument"), &body, op)
            .await?;
        let doc = Self::parse(&text, ep, op)?;
        let el = Self::answer(&doc, ep, ns, op)?;
        Self::status(el, op, false)?;
        Self::document_of(el, op)
    }

    /// DecryptDocument of `document` with the card's `C.ENC` key; returns the plaintext.
    pub async fn decrypt_document(
        &self,
        card_handle: &str,
        document: &[u8],
    ) -> Result<Vec<u8>, KonnektorError> {
        let ep = &self.encryption;
        let ns = ep.namespace;
        let body = format!(
            "<CRYPT:DecryptDocument xmlns:CRYPT=\"{ns}\" xmlns:CONN=\"{NS_COMMON}\" xmlns:dss=\"{NS_DSS}\">{}<CRYPT:PrivateKeyOnCard><CONN:CardHandle>{}</CONN:CardHandle><CRYPT:KeyReference>C.ENC</CRYPT:KeyReference></CRYPT:PrivateKeyOnCard><CONN:Document><dss:Base64Data MimeType=\"application/pkcs7-mime\">{}</dss:Base64Data></CONN:Document></CRYPT:DecryptDocument>",
            self.context.element(),
            escape(card_handle),
            b64(document)
        );
        // The WSDL's soapAction of DecryptDocument sits under `…/conn/crypt/…` (gematik's quirk).
        let action = match ns.strip_prefix("http://ws.gematik.de/conn/") {
            Some(rest) => format!("http://ws.gematik.de/conn/crypt/{rest}#DecryptDocument"),
            None => format!("{ns}#DecryptDocument"),
        };
        let op = "DecryptDocumentResponse";
        let text = self.call(ep, &action, &body, op).await?;
        let doc = Self::parse(&text, ep, op)?;
        let el = Self::answer(&doc, ep, ns, op)?;
        Self::status(el, op, false)?;
        Self::document_of(el, op)
    }

    /// `CONN:Document/dss:Base64Data` of an answer, decoded.
    fn document_of(el: Node<'_, '_>, op: &str) -> Result<Vec<u8>, KonnektorError> {
        let d = need(el, NS_COMMON, "Document", op)?;
        let data = need(d, NS_DSS, "Base64Data", op)?;
        unb64(data.text().unwrap_or(""))
            .ok_or_else(|| malformed(format!("{op}: Document/Base64Data is not base64")))
    }

    /// VerifyDocument of a CMS signature (content embedded): the HighLevelResult and the
    /// TelematikError code the Konnektor gave with it (a `Warning` status), if any.
    pub async fn verify_document(&self, signature: &[u8]) -> Result<VerifyOutcome, KonnektorError> {
        let ep = &self.signature;
        let ns = ep.namespace;
        let body = format!(
            "<SIG:VerifyDocument xmlns:SIG=\"{ns}\" xmlns:dss=\"{NS_DSS}\">{}<SIG:TvMode>NONE</SIG:TvMode><dss:SignatureObject><dss:Base64Signature Type=\"{CMS}\">{}</dss:Base64Signature></dss:SignatureObject><SIG:IncludeRevocationInfo>false</SIG:IncludeRevocationInfo></SIG:VerifyDocument>",
            self.context.element(),
            b64(signature)
        );
        let op = "VerifyDocumentResponse";
        let text = self
            .call(ep, &format!("{ns}#VerifyDocument"), &body, op)
            .await?;
        let doc = Self::parse(&text, ep, op)?;
        let el = Self::answer(&doc, ep, ns, op)?;
        let code = Self::status(el, op, true)?;
        let result = need(el, ns, "VerificationResult", op)?;
        let high_level_result = opt_text(result, ns, "HighLevelResult")
            .ok_or_else(|| malformed(format!("{op}: VerificationResult has no HighLevelResult")))?;
        Ok(VerifyOutcome {
            high_level_result,
            code,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split() {
        assert_eq!(
            split_https_url("https://localhost:8443/connector.sds").ok(),
            Some((
                "localhost".into(),
                "localhost:8443".into(),
                8443,
                "/connector.sds".into()
            ))
        );
        assert_eq!(
            split_https_url("https://[::1]:99/ws/x").ok(),
            Some(("::1".into(), "[::1]:99".into(), 99, "/ws/x".into()))
        );
        assert_eq!(
            split_https_url("https://konnektor").ok(),
            Some(("konnektor".into(), "konnektor".into(), 443, "/".into()))
        );
        assert!(split_https_url("http://konnektor/").is_err());
        assert!(split_https_url("https://k:99999/").is_err());
        assert!(split_https_url("https://:1/").is_err());
    }

    #[test]
    fn fault_reads_the_telematik_error() {
        let v = crate::kim::konnektor::soap::Violation {
            code: 4008,
            error_text: "Karte nicht als gesteckt identifiziert",
            reason: String::new(),
        };
        let body = super::super::operations::error_element(v.code, v.error_text);
        let xml = format!(
            "<soap:Envelope xmlns:soap=\"{NS_SOAP11}\"><soap:Body><soap:Fault><faultcode>soap:Server</faultcode><faultstring>x</faultstring><detail>{body}</detail></soap:Fault></soap:Body></soap:Envelope>"
        );
        let doc = Document::parse(&xml).ok();
        let got = doc.as_ref().and_then(|d| telematik_error(d.root_element()));
        assert_eq!(
            got,
            Some((4008, "Karte nicht als gesteckt identifiziert".to_string()))
        );
    }
}
