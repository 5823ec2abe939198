//! JWT: verifying any text never panics, whether as a whole token or as a header and claims
//! signed here with the verifier's key (the fuzzer cannot forge a signature, and this way every
//! check after the signature runs too); a verified token's Mercure grants are read without
//! panicking; and base64url that decodes is the one encoding of its bytes.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use bare_sse::jwt::{base64url, hmac, Hs256Key, Verifier, ACCESS_TOKEN_TYPE};
use bare_sse::mercure::claims::Grants;
use libfuzzer_sys::fuzz_target;

const SECRET: [u8; 32] = [7; 32];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let now = UNIX_EPOCH + Duration::from_secs(1_767_225_300);
    let verifier = Verifier::for_issuer("https://example.com", Hs256Key::new(SECRET).unwrap())
        .trust_issuer("other", Hs256Key::new([8; 32]).unwrap())
        .audience("https://hub.example.com/.well-known/mercure")
        .token_type(ACCESS_TOKEN_TYPE)
        .leeway(Duration::from_secs(5));
    let lenient = Verifier::new(Hs256Key::new(SECRET).unwrap()).require_expiry(false);

    let _ = verifier.verify(text, now);
    let signed = format!("{text}.{}", base64url::encode(&hmac::hmac_sha256(&SECRET, text.as_bytes())));
    for verifier in [&verifier, &lenient] {
        if let Ok(claims) = verifier.verify(&signed, now) {
            let _ = claims.expires_at();
            if let Ok(grants) = Grants::from_claims(&claims) {
                for detail in grants.details() {
                    assert!(!detail.topics.is_empty());
                    assert!(detail.payload.as_ref().is_none_or(|payload| payload.as_object().is_some()));
                }
            }
        }
    }

    if let Ok(bytes) = base64url::decode(text) {
        assert_eq!(base64url::encode(&bytes), text);
    }
});
