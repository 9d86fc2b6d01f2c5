//! Responses checked against gematik's interface files (api-kim `openapi/`, embedded): for the
//! operation a request reached (server base path + path template + method), the status must be
//! documented, the content type must be one the response documents, the body UTF-8 and valid
//! against its schema. OpenAPI 3.0 schema objects are not JSON Schema, so each file's schemas go
//! into one JSON Schema document (`$defs`), `$ref`s rewritten to point there, `nullable` mapped
//! to a null type, `example` dropped; the `jsonschema` crate validates (draft 4, whose
//! boolean `exclusiveMinimum` OpenAPI 3.0 shares). A violation is one sentence with the schema
//! path.

use std::collections::BTreeMap;

use kvc_mocks::kim::kas::KasApi;
use serde_json::{Map, Value, json};

macro_rules! api_file {
    ($dir:literal, $file:literal) => {
        include_str!(concat!(
            "../../../vectors/third-party/api-kim/",
            $dir,
            "/",
            $file
        ))
    };
}

/// The interface files of one API generation, each under the name the others reference it by
/// (`CommonSchemas.yaml`), as published (vectors/third-party/api-kim).
type FileSet = &'static [(&'static str, &'static str)];

/// The current Account Manager files (api-kim `openapi/`).
const AM_CURRENT: FileSet = &[
    (
        "AccountManager.yaml",
        api_file!("openapi", "AccountManager.yaml"),
    ),
    (
        "AccountLimit.yaml",
        api_file!("openapi", "AccountLimit.yaml"),
    ),
    (
        "ServiceInformation.yaml",
        api_file!("openapi", "ServiceInformation.yaml"),
    ),
    (
        "CommonSchemas.yaml",
        api_file!("openapi", "CommonSchemas.yaml"),
    ),
];

/// KIM 1.5.3: Account Manager 2.3.1 (api-kim `history/`). Also stands in for KIM 1.5.2, whose
/// Account Manager 2.2.1 is not in our material (catalogue note of A_20063).
const AM_1_5_3: FileSet = &[
    (
        "AccountManager.yaml",
        api_file!("history", "AccountManager_v2.3.1_KIM-1.5.3.yaml"),
    ),
    (
        "AccountLimit.yaml",
        api_file!("history", "AccountLimit_v1.1.2_KIM-1.5.3.yaml"),
    ),
    (
        "ServiceInformation.yaml",
        api_file!("history", "ServiceInformation_v1.0.2_KIM-1.5.3.yaml"),
    ),
    (
        "CommonSchemas.yaml",
        api_file!("history", "CommonSchemas_KIM-1.5.3.yaml"),
    ),
];

/// The files of an API generation, selected by the KAS API version the provider serves: its
/// Account Manager files and its AttachmentService file.
fn file_set(api: KasApi) -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    let (am, kas): (FileSet, FileSet) = match api {
        KasApi::V2_2 => (
            AM_1_5_3,
            &[(
                "AttachmentService.yaml",
                api_file!("history", "AttachmentService_v2.2.0_KIM-1.5.2.yaml"),
            )],
        ),
        KasApi::V2_3 => (
            AM_1_5_3,
            &[(
                "AttachmentService.yaml",
                api_file!("history", "AttachmentService_v2.3.2_KIM-1.5.3.yaml"),
            )],
        ),
        KasApi::V2_4 => (
            AM_CURRENT,
            &[(
                "AttachmentService.yaml",
                api_file!("openapi", "AttachmentService.yaml"),
            )],
        ),
    };
    am.iter().chain(kas)
}

/// Which files describe a service of the Fachdienst.
fn files_of(service: &str) -> &'static [&'static str] {
    match service {
        "kas" => &["AttachmentService.yaml"],
        "account-manager" => &[
            "AccountManager.yaml",
            "AccountLimit.yaml",
            "ServiceInformation.yaml",
        ],
        _ => &[],
    }
}

/// One operation of a file: its path template (with the server base) and method.
struct Operation {
    file: &'static str,
    template: Vec<String>,
    method: String,
    id: String,
    responses: Value,
}

/// The loaded interface files.
pub struct InterfaceFiles {
    docs: BTreeMap<&'static str, Value>,
    operations: Vec<Operation>,
    /// Every schema of every file under `$defs/<file>__<name>`.
    defs: Map<String, Value>,
}

impl std::fmt::Debug for InterfaceFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InterfaceFiles")
            .field("operations", &self.operations.len())
            .finish_non_exhaustive()
    }
}

fn def_name(file: &str, name: &str) -> String {
    format!("{}__{name}", file.trim_end_matches(".yaml"))
}

/// Rewrites an OpenAPI 3.0 schema object of `file` into JSON Schema (draft 4).
fn convert(file: &str, v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, val) in m {
                match k.as_str() {
                    "$ref" => {
                        let r = val.as_str().unwrap_or_default();
                        let (target_file, pointer) = match r.split_once('#') {
                            Some(("", p)) => (file, p),
                            Some((f, p)) => (f, p),
                            None => (file, ""),
                        };
                        let name = pointer.rsplit('/').next().unwrap_or_default();
                        out.insert(
                            "$ref".into(),
                            json!(format!("#/definitions/{}", def_name(target_file, name))),
                        );
                    }
                    "example" | "examples" | "xml" | "externalDocs" | "discriminator"
                    | "readOnly" | "writeOnly" | "deprecated" => {}
                    "nullable" => {}
                    _ => {
                        out.insert(k.clone(), convert(file, val));
                    }
                }
            }
            if m.get("nullable") == Some(&Value::Bool(true))
                && let Some(t) = out.get("type").cloned()
            {
                out.insert("type".into(), json!([t, "null"]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| convert(file, x)).collect()),
        other => other.clone(),
    }
}

impl InterfaceFiles {
    /// Loads the embedded files of the API generation of `api`; an unreadable file is a
    /// build defect, reported as such.
    pub fn embedded(api: KasApi) -> Result<InterfaceFiles, String> {
        let mut docs = BTreeMap::new();
        let mut defs = Map::new();
        let mut operations = Vec::new();
        for (name, text) in file_set(api) {
            let doc: Value =
                serde_saphyr::from_str(text).map_err(|e| format!("interface file {name}: {e}"))?;
            if let Some(schemas) = doc["components"]["schemas"].as_object() {
                for (s, schema) in schemas {
                    defs.insert(def_name(name, s), convert(name, schema));
                }
            }
            // The server URL's path (2.2.0 gives a whole URL, later files a path).
            let url = doc["servers"][0]["url"].as_str().unwrap_or("");
            let path = match url.split_once("://") {
                Some((_, rest)) => rest.find('/').map(|i| &rest[i..]).unwrap_or(""),
                None => url,
            };
            let base = path.trim_end_matches('/').to_string();
            if let Some(paths) = doc["paths"].as_object() {
                for (path, item) in paths {
                    let Some(item) = item.as_object() else {
                        continue;
                    };
                    for (method, op) in item {
                        if !["get", "put", "post", "delete", "head", "patch"]
                            .contains(&method.as_str())
                        {
                            continue;
                        }
                        let full = format!("{base}{path}");
                        operations.push(Operation {
                            file: name,
                            template: segments(&full),
                            method: method.to_ascii_uppercase(),
                            id: op["operationId"].as_str().unwrap_or(method).to_string(),
                            responses: op["responses"].clone(),
                        });
                    }
                }
            }
            docs.insert(*name, doc);
        }
        Ok(InterfaceFiles {
            docs,
            operations,
            defs,
        })
    }

    /// The operation `method path` reaches, among the files of `service`.
    fn operation(&self, service: &str, method: &str, path: &str) -> Option<&Operation> {
        let files = files_of(service);
        let path = path.split('?').next().unwrap_or(path);
        let got = segments(path);
        self.operations.iter().find(|op| {
            files.contains(&op.file)
                && op.method == method
                && op.template.len() == got.len()
                && op
                    .template
                    .iter()
                    .zip(&got)
                    .all(|(t, g)| t.starts_with('{') || t == g)
        })
    }

    /// Follows a `$ref` to a response object (`CommonSchemas.yaml#/components/responses/401`).
    fn response_object(&self, file: &str, v: &Value) -> (String, Value) {
        let Some(r) = v["$ref"].as_str() else {
            return (file.to_string(), v.clone());
        };
        let (f, pointer) = match r.split_once('#') {
            Some(("", p)) => (file, p),
            Some((f, p)) => (f, p),
            None => (file, ""),
        };
        let target = self
            .docs
            .get(f)
            .and_then(|d| d.pointer(pointer))
            .cloned()
            .unwrap_or(Value::Null);
        (f.to_string(), target)
    }

    /// The violations of one response (empty: it conforms, or no operation of the files is
    /// reached by the request, which the probe's own checks judge).
    pub fn check(
        &self,
        service: &str,
        method: &str,
        path: &str,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Vec<String> {
        let Some(op) = self.operation(service, method, path) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let code = status.to_string();
        let documented = op
            .responses
            .get(&code)
            .or_else(|| op.responses.get("default"));
        let Some(response) = documented else {
            let known: Vec<&String> = op
                .responses
                .as_object()
                .map(|m| m.keys().collect())
                .unwrap_or_default();
            out.push(format!(
                "{} {}: status {status} is not documented (documented: {})",
                op.file,
                op.id,
                known
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            return out;
        };
        let (file, response) = self.response_object(op.file, response);
        if let Some(documented) = response["headers"].as_object() {
            for (name, h) in documented {
                let present = headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
                if h["required"] == Value::Bool(true) && !present {
                    out.push(format!(
                        "{} {} {status}: required header {name} missing",
                        op.file, op.id
                    ));
                }
            }
        }
        let Some(content) = response["content"].as_object() else {
            return out;
        };
        if method == "HEAD" || content.is_empty() {
            return out;
        }
        let content_type = headers
            .iter()
            .find(|(n, _)| n == "content-type")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        let media = |s: &str| {
            s.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        };
        let at = format!("{} {} {status}", op.file, op.id);
        let Some((_, media_object)) = content
            .iter()
            .find(|(k, _)| media(k) == media(content_type))
        else {
            let documented: Vec<&String> = content.keys().collect();
            out.push(format!(
                "{at}: content type `{content_type}` is not documented ({})",
                documented
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            return out;
        };
        if media(content_type) != "application/json" {
            return out;
        }
        let Ok(text) = std::str::from_utf8(body) else {
            out.push(format!("{at}: body is not UTF-8"));
            return out;
        };
        let instance: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                out.push(format!("{at}: body is not JSON ({e})"));
                return out;
            }
        };
        let schema = convert(&file, &media_object["schema"]);
        let mut document = schema;
        if let Value::Object(m) = &mut document {
            m.insert("definitions".into(), Value::Object(self.defs.clone()));
        }
        match jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .build(&document)
        {
            Ok(validator) => {
                for e in validator.iter_errors(&instance) {
                    out.push(format!(
                        "{at}: body{} {e} (schema path {})",
                        e.instance_path(),
                        e.schema_path()
                    ));
                }
            }
            Err(e) => out.push(format!("{at}: schema not usable: {e}")),
        }
        out
    }
}

fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(h) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(h, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> InterfaceFiles {
        InterfaceFiles::embedded(KasApi::V2_4).unwrap()
    }

    #[test]
    fn each_api_generation_has_its_kas_paths() {
        for (api, path) in [
            (KasApi::V2_2, "/attachments/v2.2/attachment/x"),
            (KasApi::V2_3, "/attachments/v2.3/attachment/x"),
            (KasApi::V2_4, "/attachments/v2.4/attachment/x"),
        ] {
            let f = InterfaceFiles::embedded(api).unwrap();
            // The operation IDs changed over time (2.2.0: `read_Attachment`).
            let op = f
                .operation("kas", "GET", path)
                .map(|o| o.id.to_ascii_lowercase());
            assert!(
                op.as_deref().is_some_and(|o| o.contains("read")),
                "{api:?}: {op:?}"
            );
            assert!(
                f.operation("kas", "GET", "/attachments/v9/attachment/x")
                    .is_none()
            );
        }
        // DELETE arrived with 2.3.
        let two = InterfaceFiles::embedded(KasApi::V2_2).unwrap();
        assert!(
            two.operation("kas", "DELETE", "/attachments/v2.2/attachment/x")
                .is_none()
        );
    }

    #[test]
    fn every_file_loads_and_names_its_operations() {
        let f = files();
        for op in ["getAccount", "setAccount", "revokeDeregistration", "getOTP"] {
            assert!(f.operations.iter().any(|o| o.id == op), "{op}");
        }
        assert!(
            f.operations
                .iter()
                .any(|o| o.file == "AttachmentService.yaml")
        );
    }

    const JSON: (&str, &str) = ("content-type", "application/json; charset=utf-8");

    fn headers() -> Vec<(String, String)> {
        vec![(JSON.0.into(), JSON.1.into())]
    }

    #[test]
    fn a_conforming_account_passes_and_a_wrong_type_is_named_with_its_path() {
        let f = files();
        let path = "/AccountMgmt/v2.4/account/praxis@kim.telematik-test";
        let good = br#"{"username":"praxis@kim.telematik-test","dataTimeToLive":90}"#;
        assert_eq!(
            f.check("account-manager", "GET", path, 200, &headers(), good),
            Vec::<String>::new()
        );
        let bad = br#"{"username":"praxis@kim.telematik-test","dataTimeToLive":"90"}"#;
        let v = f.check("account-manager", "GET", path, 200, &headers(), bad);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].contains("getAccount") && v[0].contains("/dataTimeToLive"),
            "{v:?}"
        );
    }

    #[test]
    fn undocumented_status_content_type_and_non_json_are_violations() {
        let f = files();
        let path = "/AccountMgmt/v2.4/account/praxis@kim.telematik-test";
        let v = f.check("account-manager", "GET", path, 418, &headers(), b"{}");
        assert!(v[0].contains("status 418 is not documented"), "{v:?}");
        let text = vec![("content-type".to_string(), "text/html".to_string())];
        let v = f.check("account-manager", "GET", path, 200, &text, b"<html>");
        assert!(v[0].contains("content type `text/html`"), "{v:?}");
        let v = f.check("account-manager", "GET", path, 200, &headers(), b"not json");
        assert!(v[0].contains("not JSON"), "{v:?}");
        // A path no operation has is left to the probe's checks.
        assert!(
            f.check("account-manager", "GET", "/nothing", 200, &headers(), b"x")
                .is_empty()
        );
    }
}
