//! What a recipient finds in a KIM 1.5 large mail (the suite reading, as the peer, what the
//! Clientmodul under test sent): the outer version and X-KIM-KAS-Size, the KIM-Attachment
//! structure inside, the data behind its link, whether `k` decrypts it and the hash and size
//! match. Facts only, for the checks; no key is recorded (the IV and a key fingerprint are).

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use sha2::Digest;

fn header(raw: &[u8], name: &str) -> Option<String> {
    let (head, _) = kvc_smime::mime::split_header_body(raw);
    kvc_smime::mime::Headers::parse(head)
        .get(name)
        .map(|v| v.trim().to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The facts of one received message.
pub async fn inspect(
    raw: &[u8],
    key: &kvc_smime::PrivateKeyMaterial,
    me: &str,
    ca_pem: &str,
) -> BTreeMap<String, String> {
    let mut f = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        f.insert(k.to_string(), v);
    };
    put(
        "kom_le_version",
        header(raw, crate::rules::kim::KOM_LE_VERSION).unwrap_or_else(|| "absent".into()),
    );
    put(
        "kas_size_header",
        header(raw, "X-KIM-KAS-Size").unwrap_or_else(|| "absent".into()),
    );
    let inner = match kvc_smime::message::open_message(raw, key, &[], None) {
        Ok(o) => o.inner_message,
        Err(e) => {
            put("opened", format!("false: {e}"));
            return f;
        }
    };
    let Some(inner) = inner else {
        put("opened", "false: nothing decrypted".into());
        return f;
    };
    put("opened", "true".into());
    let structures = kvc_mocks::reference::kim_cm::kas::attachment_structures(&inner);
    put("kas_structures", structures.len().to_string());
    let Some(s) = structures.first() else {
        put("client_mail_bytes", inner.len().to_string());
        return f;
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let link = s["link"].as_str().unwrap_or_default().to_string();
    put("kas_link", link.clone());
    let key_bytes = s["k"].as_str().and_then(|k| b64.decode(k).ok());
    let hash = s["hash"].as_str().and_then(|h| b64.decode(h).ok());
    let size = s["size"].as_u64();
    put(
        "kas_size",
        size.map_or_else(|| "absent".into(), |n| n.to_string()),
    );
    put(
        "kas_size_header_matches",
        (header(raw, "X-KIM-KAS-Size").and_then(|h| h.parse::<u64>().ok()) == size
            && size.is_some())
        .to_string(),
    );
    if let Some(k) = &key_bytes {
        put("kas_key_id", hex(&sha2::Sha256::digest(k)[..8]));
    }
    let data = match kvc_mocks::reference::kim_cm::kas::download(
        ca_pem,
        &link,
        me,
        Duration::from_secs(30),
    )
    .await
    {
        Ok(d) => d,
        Err(e) => {
            put(
                "kas_download",
                format!("failed: status {} {}", e.status, e.message),
            );
            return f;
        }
    };
    put("kas_download", "200".into());
    put("kas_data_bytes", data.len().to_string());
    put(
        "kas_iv",
        hex(&data[..data.len().min(kvc_smime::kas::IV_BYTES)]),
    );
    let plain = key_bytes
        .as_deref()
        .and_then(|k| kvc_smime::kas::open(&data, k).ok());
    put("kas_decrypts", plain.is_some().to_string());
    if let Some(plain) = plain {
        let digest = kvc_smime::kas::hash(&plain);
        put(
            "kas_hash_matches",
            (hash.as_deref() == Some(&digest[..])).to_string(),
        );
        put(
            "kas_size_matches",
            (size == Some(plain.len() as u64)).to_string(),
        );
        put(
            "kas_data_is_client_mail",
            (memchr::memmem::find(&plain, b"filename=\"bilder.bin\"").is_some()
                && header(&plain, "Message-ID").is_some())
            .to_string(),
        );
    }
    f
}
