//! Tests of token verification and signing: RFC 7515's example, then each check of
//! [`Verifier::verify`] in the order it runs, then whole classes of bad input.

use super::*;
use crate::test_support::SplitRng;

/// RFC 7515 appendix A.1: the HMAC key (the JWK's `k`), the token, and its claims.
const RFC_7515_KEY: &str = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
const RFC_7515_TOKEN: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9\
    .eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ\
    .dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const RFC_7515_EXP: u64 = 1300819380;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const OTHER_SECRET: &[u8] = b"fedcba9876543210fedcba9876543210";
const NOW: u64 = 1_767_225_300;

fn key(secret: &[u8]) -> Hs256Key {
    Hs256Key::new(secret).unwrap()
}

fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

/// A token made of the given header and claims texts, signed with `secret` whatever its `alg`
/// says: the verifier must refuse it for what it says, not for a bad signature.
fn token(header: &str, claims: &str, secret: &[u8]) -> String {
    let signing_input = format!("{}.{}", base64url::encode(header.as_bytes()), base64url::encode(claims.as_bytes()));
    let signature = hmac::hmac_sha256(secret, signing_input.as_bytes());
    format!("{signing_input}.{}", base64url::encode(&signature))
}

/// An HS256 access token with these claims, signed with [`SECRET`].
fn hs256(claims: &str) -> String {
    token(r#"{"alg":"HS256","typ":"at+jwt"}"#, claims, SECRET)
}

/// A verifier of [`SECRET`]'s tokens with no other requirement than `exp`.
fn verifier() -> Verifier {
    Verifier::new(key(SECRET))
}

fn verify(verifier: &Verifier, token: &str) -> Result<Claims, Error> {
    verifier.verify(token, at(NOW))
}

#[test]
fn rfc_7515_appendix_a1_token_verifies_with_its_key() {
    let key = Hs256Key::new(base64url::decode(RFC_7515_KEY).unwrap()).unwrap();
    let claims = Verifier::new(key.clone()).verify(RFC_7515_TOKEN, at(RFC_7515_EXP - 1)).unwrap();
    assert_eq!(claims.issuer(), Some("joe"));
    assert_eq!(claims.get("exp").and_then(Value::as_i64), Some(RFC_7515_EXP as i64));
    assert_eq!(claims.get("http://example.com/is_root"), Some(&Value::Bool(true)));
    assert_eq!(claims.as_json().as_object().unwrap().len(), 3);
    assert_eq!(claims.expires_at(), Some(at(RFC_7515_EXP)));

    // Its issuer is "joe", its typ "JWT", and it expired in 2011.
    assert!(Verifier::for_issuer("joe", key.clone()).verify(RFC_7515_TOKEN, at(RFC_7515_EXP - 1)).is_ok());
    let wrong_issuer = Verifier::for_issuer("ann", key.clone());
    assert_eq!(wrong_issuer.verify(RFC_7515_TOKEN, at(RFC_7515_EXP - 1)), Err(Error::WrongIssuer));
    let as_jwt = Verifier::new(key.clone()).token_type("JWT");
    assert!(as_jwt.verify(RFC_7515_TOKEN, at(RFC_7515_EXP - 1)).is_ok());
    let as_access_token = Verifier::new(key.clone()).token_type(ACCESS_TOKEN_TYPE);
    assert_eq!(
        as_access_token.verify(RFC_7515_TOKEN, at(RFC_7515_EXP - 1)),
        Err(Error::WrongType { typ: Some("JWT".into()) })
    );
    assert_eq!(Verifier::new(key).verify(RFC_7515_TOKEN, at(RFC_7515_EXP)), Err(Error::Expired));
}

#[test]
fn rfc_7515_appendix_a1_signature_is_the_hmac_of_the_first_two_parts() {
    let key = base64url::decode(RFC_7515_KEY).unwrap();
    let (signing_input, signature) = RFC_7515_TOKEN.rsplit_once('.').unwrap();
    assert_eq!(base64url::encode(&hmac::hmac_sha256(&key, signing_input.as_bytes())), signature);
    // Its header and claims have CR LF and spaces in them: what is signed is the bytes as sent,
    // so a verifier that re-encoded the parsed JSON would fail here.
    assert_eq!(
        base64url::decode(signing_input.split('.').next().unwrap()).unwrap(),
        b"{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}"
    );
}

#[test]
fn a_signed_token_verifies_and_keeps_its_claims() {
    let claims = json::parse(r#"{"iss":"a","sub":"ann","exp":1767225600,"n":[1,{"x":null}]}"#).unwrap();
    let token = sign_hs256(&key(SECRET), ACCESS_TOKEN_TYPE, &claims);
    let verified = verify(&Verifier::for_issuer("a", key(SECRET)).token_type(ACCESS_TOKEN_TYPE), &token).unwrap();
    assert_eq!(verified.as_json(), &claims);
    assert_eq!(verified.subject(), Some("ann"));
    assert_eq!(verified.clone().into_json(), claims);
    assert_eq!(verify(&Verifier::new(key(OTHER_SECRET)), &token), Err(Error::BadSignature));
}

#[test]
fn keys_shorter_than_256_bits_are_refused() {
    assert_eq!(Hs256Key::new(vec![1; 31]).unwrap_err(), Error::KeyTooShort { length: 31 });
    assert_eq!(Hs256Key::new("").unwrap_err(), Error::KeyTooShort { length: 0 });
    assert!(Hs256Key::new(vec![1; 32]).is_ok());
    assert_eq!(format!("{:?}", key(SECRET)), "Hs256Key(32 bytes)", "Debug never shows the secret");
    assert!(!format!("{:?}", verifier()).contains("0123456789"));
}

// --- 1. Length ----------------------------------------------------------------------------------

#[test]
fn token_length_limit_is_inclusive() {
    let token = hs256(r#"{"exp":1767225600,"filler":"xxxxxxxxxxxxxxxxxxxxxxxx"}"#);
    assert!(verify(&verifier().max_token_bytes(token.len()), &token).is_ok());
    assert_eq!(
        verify(&verifier().max_token_bytes(token.len() - 1), &token),
        Err(Error::TooLong { length: token.len(), limit: token.len() - 1 })
    );
}

#[test]
fn default_token_length_limit_is_8_kib() {
    // The longest token of this shape within 8 KiB passes, the next longer one does not.
    let with_filler = |length: usize| hs256(&format!(r#"{{"exp":1767225600,"filler":"{}"}}"#, "x".repeat(length)));
    let longest = (6000..DEFAULT_MAX_TOKEN_BYTES).map(with_filler).take_while(|t| t.len() <= 8192).last().unwrap();
    assert!(longest.len() > 8192 - 4, "base64 grows in steps of at most 4 characters");
    assert!(verify(&verifier(), &longest).is_ok());
    let too_long = (6000..DEFAULT_MAX_TOKEN_BYTES).map(with_filler).find(|t| t.len() > 8192).unwrap();
    assert_eq!(verify(&verifier(), &too_long), Err(Error::TooLong { length: too_long.len(), limit: 8192 }));
}

// --- 2. Structure -------------------------------------------------------------------------------

#[test]
fn tokens_without_three_parts_are_malformed() {
    let good = hs256(r#"{"exp":1767225600}"#);
    let (header, rest) = good.split_once('.').unwrap();
    let (claims, signature) = rest.split_once('.').unwrap();
    for bad in [
        String::new(),
        ".".into(),
        header.into(),
        format!("{header}.{claims}"),
        format!("{header}.{claims}.{signature}."),
        format!("{header}.{claims}.{signature}.{signature}"),
        format!(".{header}.{claims}.{signature}"),
    ] {
        assert!(matches!(verify(&verifier(), &bad), Err(Error::Malformed { .. })), "{bad:?}");
    }
    let five = format!("{header}.{claims}.{signature}.{signature}.{signature}");
    assert!(verify(&verifier(), &five).unwrap_err().to_string().contains("encrypted token (JWE)"));
}

#[test]
fn parts_that_are_not_strict_base64url_are_refused() {
    let good = hs256(r#"{"exp":1767225600}"#);
    let (header, rest) = good.split_once('.').unwrap();
    let (claims, signature) = rest.split_once('.').unwrap();
    let cases = [
        (format!("{header}=.{claims}.{signature}"), Part::Header),
        (format!("{header}.{claims} .{signature}"), Part::Claims),
        (format!("{header}.{claims}.{signature}="), Part::Signature),
        (format!("{header}.{claims}.{}", signature.replace('-', "+").replace('_', "/")), Part::Signature),
        (format!(" {header}.{claims}.{signature}"), Part::Header),
    ];
    for (bad, part) in cases {
        match verify(&verifier(), &bad) {
            Err(Error::Base64 { part: found, .. }) => assert_eq!(found, part, "{bad}"),
            // A signature that had neither '-' nor '_' is unchanged by the replacement.
            Ok(_) if bad == good => {}
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn header_and_claims_must_be_json_objects() {
    let header = r#"{"alg":"HS256"}"#;
    assert!(matches!(verify(&verifier(), &token("[]", "{}", SECRET)), Err(Error::Malformed { .. })));
    assert!(matches!(verify(&verifier(), &token(header, "[]", SECRET)), Err(Error::Malformed { .. })));
    assert!(matches!(verify(&verifier(), &token(header, "\"exp\"", SECRET)), Err(Error::Malformed { .. })));
    assert!(matches!(
        verify(&verifier(), &token("{\"alg\":", "{}", SECRET)),
        Err(Error::Json { part: Part::Header, .. })
    ));
    assert!(matches!(
        verify(&verifier(), &token(header, "{\"exp\":1,}", SECRET)),
        Err(Error::Json { part: Part::Claims, .. })
    ));
    assert!(matches!(verify(&verifier(), &token(header, "", SECRET)), Err(Error::Json { part: Part::Claims, .. })));
    // Not UTF-8.
    let latin1 = format!("{}.{}.x", base64url::encode(header.as_bytes()), base64url::encode(b"{\"n\":\"\xe9\"}"));
    assert!(matches!(verify(&verifier(), &latin1), Err(Error::Json { part: Part::Claims, .. })));
    // Nested past the JSON parser's depth limit: an error, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(2000), "]".repeat(2000));
    let deep_claims = format!(r#"{{"exp":1767225600,"deep":{deep}}}"#);
    let error = verify(&verifier().max_token_bytes(usize::MAX), &hs256(&deep_claims)).unwrap_err();
    assert!(matches!(error, Error::Json { part: Part::Claims, .. }), "{error}");
    assert!(std::error::Error::source(&error).unwrap().to_string().contains("invalid JSON"));
}

// --- 3. Algorithm -------------------------------------------------------------------------------

#[test]
fn every_alg_other_than_hs256_is_refused_even_with_a_valid_hmac() {
    let claims = r#"{"exp":1767225600}"#;
    for alg in ["none", "None", "NONE", "hs256", "HS256 ", "HS384", "HS512", "RS256", "ES256", "EdDSA", "PS256", ""] {
        let header = format!(r#"{{"alg":"{alg}","typ":"at+jwt"}}"#);
        let expected = Err(Error::UnsupportedAlgorithm { alg: alg.into() });
        assert_eq!(verify(&verifier(), &token(&header, claims, SECRET)), expected, "{alg}");
        // The classic `none` token: no signature at all.
        let unsigned = format!("{}.{}.", base64url::encode(header.as_bytes()), base64url::encode(claims.as_bytes()));
        assert_eq!(verify(&verifier(), &unsigned), expected, "{alg}, unsigned");
    }
}

#[test]
fn a_header_without_a_string_alg_is_malformed() {
    for header in [r#"{}"#, r#"{"typ":"JWT"}"#, r#"{"alg":null}"#, r#"{"alg":["HS256"]}"#, r#"{"alg":256}"#] {
        let error = verify(&verifier(), &token(header, r#"{"exp":1767225600}"#, SECRET)).unwrap_err();
        assert!(matches!(error, Error::Malformed { .. }), "{header}: {error:?}");
    }
}

#[test]
fn the_last_alg_of_a_repeated_member_is_the_one_checked() {
    // RFC 7515 section 5.2 lets a parser reject repeated names or keep the last one; the JSON
    // parser keeps the last, and the check sees that same value.
    let header = r#"{"alg":"HS256","alg":"none"}"#;
    let expected = Err(Error::UnsupportedAlgorithm { alg: "none".into() });
    assert_eq!(verify(&verifier(), &token(header, r#"{"exp":1767225600}"#, SECRET)), expected);
    let header = r#"{"alg":"none","alg":"HS256"}"#;
    assert!(verify(&verifier(), &token(header, r#"{"exp":1767225600}"#, SECRET)).is_ok());
}

// --- 4. Critical extensions ---------------------------------------------------------------------

#[test]
fn a_crit_header_is_refused() {
    for crit in [r#"["b64"]"#, r#"["exp"]"#, "[]", "null"] {
        let header = format!(r#"{{"alg":"HS256","crit":{crit},"b64":false}}"#);
        assert_eq!(
            verify(&verifier(), &token(&header, r#"{"exp":1767225600}"#, SECRET)),
            Err(Error::UnsupportedCriticalHeader),
            "{crit}"
        );
    }
}

// --- 5. Type ------------------------------------------------------------------------------------

#[test]
fn typ_is_compared_without_case_and_without_the_application_prefix() {
    let claims = r#"{"exp":1767225600}"#;
    let wants_access_token = verifier().token_type(ACCESS_TOKEN_TYPE);
    for typ in ["at+jwt", "AT+JWT", "application/at+jwt", "Application/At+Jwt"] {
        let header = format!(r#"{{"alg":"HS256","typ":"{typ}"}}"#);
        assert!(verify(&wants_access_token, &token(&header, claims, SECRET)).is_ok(), "{typ}");
    }
    for typ in ["JWT", "jwt", "application/jwt", "at+jwt ", "application/", "applicationat+jwt", "x/at+jwt"] {
        let header = format!(r#"{{"alg":"HS256","typ":"{typ}"}}"#);
        let expected = Err(Error::WrongType { typ: Some(typ.into()) });
        assert_eq!(verify(&wants_access_token, &token(&header, claims, SECRET)), expected, "{typ}");
    }
    let no_typ = token(r#"{"alg":"HS256"}"#, claims, SECRET);
    assert_eq!(verify(&wants_access_token, &no_typ), Err(Error::WrongType { typ: None }));
    let number_typ = token(r#"{"alg":"HS256","typ":1}"#, claims, SECRET);
    assert_eq!(verify(&wants_access_token, &number_typ), Err(Error::WrongType { typ: None }));
    // A verifier that asks for the prefixed form accepts the short one.
    let wants_long = verifier().token_type("application/at+jwt");
    assert!(verify(&wants_long, &hs256(claims)).is_ok());
    // Without a type asked for, typ is not looked at.
    assert!(verify(&verifier(), &no_typ).is_ok());
    assert!(verify(&verifier(), &number_typ).is_ok());
}

// --- 6. Signature and issuer --------------------------------------------------------------------

#[test]
fn changing_any_character_of_a_token_makes_it_fail() {
    let good = hs256(r#"{"iss":"a","aud":"hub","exp":1767225600,"sub":"ann"}"#);
    let verifier = Verifier::for_issuer("a", key(SECRET)).audience("hub");
    assert!(verify(&verifier, &good).is_ok());
    for position in 0..good.len() {
        for replacement in ['A', 'Q', 'g', 'w', '0', '-', '_', '.'] {
            let mut altered = good.clone().into_bytes();
            if altered[position] == replacement as u8 {
                continue;
            }
            altered[position] = replacement as u8;
            let altered = String::from_utf8(altered).unwrap();
            assert!(verify(&verifier, &altered).is_err(), "{altered}");
        }
    }
}

#[test]
fn only_the_keys_of_the_tokens_issuer_are_tried() {
    let verifier = Verifier::for_issuer("a", key(SECRET)).trust_issuer("b", key(OTHER_SECRET));
    let from_a = r#"{"iss":"a","exp":1767225600}"#;
    let from_b = r#"{"iss":"b","exp":1767225600}"#;
    let header = r#"{"alg":"HS256"}"#;
    assert!(verify(&verifier, &token(header, from_a, SECRET)).is_ok());
    assert!(verify(&verifier, &token(header, from_b, OTHER_SECRET)).is_ok());
    // Each issuer's key is trusted, but not for the other issuer's tokens.
    assert_eq!(verify(&verifier, &token(header, from_a, OTHER_SECRET)), Err(Error::BadSignature));
    assert_eq!(verify(&verifier, &token(header, from_b, SECRET)), Err(Error::BadSignature));
    let from_c = r#"{"iss":"c","exp":1767225600}"#;
    assert_eq!(verify(&verifier, &token(header, from_c, SECRET)), Err(Error::WrongIssuer));
    let from_nobody = r#"{"exp":1767225600}"#;
    assert_eq!(verify(&verifier, &token(header, from_nobody, SECRET)), Err(Error::MissingClaim { name: "iss" }));
    let from_a_number = r#"{"iss":1,"exp":1767225600}"#;
    assert!(matches!(
        verify(&verifier, &token(header, from_a_number, SECRET)),
        Err(Error::InvalidClaim { name: "iss", .. })
    ));
    // Issuers are compared exactly.
    for near in ["A", "a ", " a", "a/", ""] {
        let claims = format!(r#"{{"iss":"{near}","exp":1767225600}}"#);
        assert_eq!(verify(&verifier, &token(header, &claims, SECRET)), Err(Error::WrongIssuer), "{near:?}");
    }
}

#[test]
fn an_issuer_may_have_several_keys() {
    let verifier = Verifier::for_issuer("a", key(OTHER_SECRET)).trust_issuer("a", key(SECRET));
    let claims = r#"{"iss":"a","exp":1767225600}"#;
    assert!(verify(&verifier, &token(r#"{"alg":"HS256"}"#, claims, SECRET)).is_ok());
    assert!(verify(&verifier, &token(r#"{"alg":"HS256"}"#, claims, OTHER_SECRET)).is_ok());
    let third = b"a third key, not trusted by anyone";
    assert_eq!(verify(&verifier, &token(r#"{"alg":"HS256"}"#, claims, third)), Err(Error::BadSignature));
}

#[test]
fn a_key_without_an_issuer_accepts_any_issuer() {
    for claims in [r#"{"exp":1767225600}"#, r#"{"iss":"anyone","exp":1767225600}"#] {
        assert!(verify(&verifier(), &hs256(claims)).is_ok(), "{claims}");
    }
}

#[test]
fn signatures_of_another_length_are_refused() {
    let good = hs256(r#"{"exp":1767225600}"#);
    let (signing_input, signature) = good.rsplit_once('.').unwrap();
    let full = base64url::decode(signature).unwrap();
    for length in [0, 1, 16, 31, 33, 64] {
        let mut bytes = full.clone();
        bytes.resize(length, 0);
        let altered = format!("{signing_input}.{}", base64url::encode(&bytes));
        assert_eq!(verify(&verifier(), &altered), Err(Error::BadSignature), "{length} bytes");
    }
}

#[test]
fn constant_time_eq_compares_every_byte() {
    let a = [0x5au8; 32];
    assert!(constant_time_eq(&a, &a));
    assert!(constant_time_eq(&[], &[]));
    for position in 0..32 {
        for bit in 0..8 {
            let mut b = a;
            b[position] ^= 1 << bit;
            assert!(!constant_time_eq(&a, &b), "byte {position} bit {bit}");
        }
    }
    assert!(!constant_time_eq(&a, &a[..31]));
}

// --- 7. Time ------------------------------------------------------------------------------------

#[test]
fn exp_is_the_first_second_the_token_is_refused() {
    let token = hs256(r#"{"exp":1000}"#);
    assert!(verifier().verify(&token, at(999)).is_ok());
    assert!(verifier().verify(&token, at(999) + Duration::from_nanos(999_999_999)).is_ok());
    assert_eq!(verifier().verify(&token, at(1000)), Err(Error::Expired));
    assert_eq!(verifier().verify(&token, at(5000)), Err(Error::Expired));
    // A fractional exp (RFC 7519 NumericDate allows one).
    let token = hs256(r#"{"exp":1000.5}"#);
    assert!(verifier().verify(&token, at(1000)).is_ok());
    assert_eq!(verifier().verify(&token, at(1000) + Duration::from_millis(500)), Err(Error::Expired));
}

#[test]
fn nbf_is_the_first_second_the_token_is_accepted() {
    let token = hs256(r#"{"nbf":1000,"exp":2000}"#);
    assert_eq!(verifier().verify(&token, at(999)), Err(Error::NotYetValid));
    assert_eq!(verifier().verify(&token, at(999) + Duration::from_nanos(999_999_999)), Err(Error::NotYetValid));
    assert!(verifier().verify(&token, at(1000)).is_ok());
    assert!(verifier().verify(&token, at(1999)).is_ok());
    // A time before 1970 is before any nbf at or after it.
    assert_eq!(verifier().verify(&token, UNIX_EPOCH - Duration::from_secs(1)), Err(Error::NotYetValid));
}

#[test]
fn leeway_extends_both_ends() {
    let token = hs256(r#"{"nbf":1000,"exp":2000}"#);
    let lenient = verifier().leeway(Duration::from_secs(30));
    assert_eq!(lenient.verify(&token, at(969)), Err(Error::NotYetValid));
    assert!(lenient.verify(&token, at(970)).is_ok());
    assert!(lenient.verify(&token, at(2029)).is_ok());
    assert_eq!(lenient.verify(&token, at(2030)), Err(Error::Expired));
    assert_eq!(DEFAULT_LEEWAY, Duration::ZERO);
}

#[test]
fn exp_is_required_unless_turned_off() {
    let token = hs256(r#"{"sub":"ann"}"#);
    assert_eq!(verify(&verifier(), &token), Err(Error::MissingClaim { name: "exp" }));
    let without_expiry = verifier().require_expiry(false);
    assert!(verify(&without_expiry, &token).is_ok());
    assert_eq!(verify(&without_expiry, &hs256(r#"{"exp":1}"#)), Err(Error::Expired));
    assert_eq!(
        verify(&verifier(), &token).unwrap_err().to_string(),
        "the token has no \"exp\" claim, which is required"
    );
}

#[test]
fn times_that_are_not_numbers_are_invalid() {
    for claims in [r#"{"exp":"1767225600"}"#, r#"{"exp":null}"#, r#"{"exp":1767225600,"nbf":true}"#, r#"{"exp":[1]}"#] {
        let error = verify(&verifier(), &hs256(claims)).unwrap_err();
        assert!(matches!(error, Error::InvalidClaim { name: "exp" | "nbf", .. }), "{claims}: {error:?}");
    }
    // Out of an f64's range: an infinity, so never expired, or always.
    assert!(verify(&verifier(), &hs256(r#"{"exp":1e999}"#)).is_ok());
    assert_eq!(verify(&verifier(), &hs256(r#"{"exp":-1e999}"#)), Err(Error::Expired));
}

#[test]
fn expires_at_is_none_when_no_system_time_holds_it() {
    let lenient = verifier().require_expiry(false);
    assert_eq!(verify(&lenient, &hs256(r#"{}"#)).unwrap().expires_at(), None);
    assert_eq!(verify(&lenient, &hs256(r#"{"exp":1e999}"#)).unwrap().expires_at(), None);
    let fraction = verify(&lenient, &hs256(r#"{"exp":1767225600.25}"#)).unwrap();
    assert_eq!(fraction.expires_at(), Some(at(1_767_225_600) + Duration::from_millis(250)));
}

// --- 8. Audience --------------------------------------------------------------------------------

#[test]
fn aud_is_a_string_or_an_array_holding_the_audience() {
    let verifier = verifier().audience("https://hub.example.com/.well-known/mercure");
    for aud in [
        r#""https://hub.example.com/.well-known/mercure""#,
        r#"["https://hub.example.com/.well-known/mercure"]"#,
        r#"["other","https://hub.example.com/.well-known/mercure"]"#,
    ] {
        assert!(verify(&verifier, &hs256(&format!(r#"{{"aud":{aud},"exp":1767225600}}"#))).is_ok(), "{aud}");
    }
    for aud in [
        r#""https://hub.example.com""#,
        r#""https://hub.example.com/.well-known/mercure/""#,
        r#""HTTPS://hub.example.com/.well-known/mercure""#,
        r#"[]"#,
        r#"["other"]"#,
    ] {
        let claims = format!(r#"{{"aud":{aud},"exp":1767225600}}"#);
        assert_eq!(verify(&verifier, &hs256(&claims)), Err(Error::WrongAudience), "{aud}");
    }
    for aud in ["1", "null", r#"{"a":1}"#, r#"["https://hub.example.com/.well-known/mercure",1]"#, r#"[["x"]]"#] {
        let claims = format!(r#"{{"aud":{aud},"exp":1767225600}}"#);
        assert!(matches!(verify(&verifier, &hs256(&claims)), Err(Error::InvalidClaim { name: "aud", .. })), "{aud}");
    }
    assert_eq!(verify(&verifier, &hs256(r#"{"exp":1767225600}"#)), Err(Error::MissingClaim { name: "aud" }));
}

#[test]
fn a_verifier_without_an_audience_refuses_tokens_that_have_one() {
    // RFC 7519 section 4.1.3: a recipient that does not identify itself with a value in `aud`
    // must reject the token.
    assert_eq!(verify(&verifier(), &hs256(r#"{"aud":"x","exp":1767225600}"#)), Err(Error::WrongAudience));
    assert_eq!(verify(&verifier(), &hs256(r#"{"aud":[],"exp":1767225600}"#)), Err(Error::WrongAudience));
    assert!(verify(&verifier(), &hs256(r#"{"exp":1767225600}"#)).is_ok());
}

#[test]
fn a_verifier_of_any_audience_takes_any_named_one_but_still_checks_its_form() {
    let verifier = verifier().any_audience();
    for aud in [r#""x""#, r#"["x","y"]"#] {
        assert!(verify(&verifier, &hs256(&format!(r#"{{"aud":{aud},"exp":1767225600}}"#))).is_ok(), "{aud}");
    }
    assert!(verify(&verifier, &hs256(r#"{"exp":1767225600}"#)).is_ok());
    assert_eq!(verify(&verifier, &hs256(r#"{"aud":[],"exp":1767225600}"#)), Err(Error::WrongAudience));
    let numeric = verify(&verifier, &hs256(r#"{"aud":1,"exp":1767225600}"#));
    assert!(matches!(numeric, Err(Error::InvalidClaim { name: "aud", .. })));
    // Told its audience, it checks it.
    let named = verifier.audience("hub");
    assert_eq!(verify(&named, &hs256(r#"{"aud":"x","exp":1767225600}"#)), Err(Error::WrongAudience));
}

// --- Order --------------------------------------------------------------------------------------

#[test]
fn claims_are_judged_only_once_the_signature_is_right() {
    // Expired, wrong audience and not yet valid, all signed with another key: the signature is
    // what is reported, so an attacker learns nothing about the checks after it.
    let verifier = verifier().audience("hub");
    for claims in [r#"{"exp":1}"#, r#"{"aud":"x","exp":1767225600}"#, r#"{"nbf":9999999999,"exp":9999999999}"#] {
        let forged = token(r#"{"alg":"HS256"}"#, claims, OTHER_SECRET);
        assert_eq!(verify(&verifier, &forged), Err(Error::BadSignature), "{claims}");
    }
}

// --- Classes of bad input -----------------------------------------------------------------------

#[test]
fn random_tokens_are_refused_without_panicking() {
    let mut rng = SplitRng::new(7519);
    let alphabet = b"AZaz09-_.=+/ eyJhbGciOiJIUzI1NiJ9";
    for _ in 0..5000 {
        let bytes = rng.bytes(alphabet, 120);
        let text = String::from_utf8(bytes).unwrap();
        assert!(verify(&verifier(), &text).is_err(), "{text}");
    }
}

#[test]
fn random_headers_and_claims_never_panic() {
    // Signed with the right key, so that every check after the signature is reached too.
    let mut rng = SplitRng::new(7515);
    let pieces: [&str; 16] = [
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"alg\"",
        "\"HS256\"",
        "\"exp\"",
        "\"nbf\"",
        "\"aud\"",
        "\"iss\"",
        "1e999",
        "-1",
        "\"x\"",
        "null",
    ];
    for _ in 0..5000 {
        let mut texts = [String::new(), String::new()];
        for text in &mut texts {
            for _ in 0..rng.below(12) {
                text.push_str(pieces[rng.below(pieces.len())]);
            }
        }
        let _ = verify(&verifier().audience("x"), &token(&texts[0], &texts[1], SECRET));
        // A valid header: the claims are read, and the signature, right, must be found so.
        let claims_checked = verify(&verifier(), &hs256(&texts[1]));
        assert!(!matches!(claims_checked, Err(Error::BadSignature)), "{:?}", texts[1]);
    }
}

#[test]
fn errors_read_as_sentences() {
    let cases = [
        (Error::TooLong { length: 9000, limit: 8192 }, "9000 bytes long, more than the limit of 8192"),
        (Error::UnsupportedAlgorithm { alg: "none".into() }, "\"none\" is not accepted: only HS256 is"),
        (Error::BadSignature, "signature does not match"),
        (Error::WrongAudience, "audience"),
        (Error::KeyTooShort { length: 3 }, "at least 32 bytes long, this one is 3"),
    ];
    for (error, text) in cases {
        assert!(error.to_string().contains(text), "{error}");
    }
    let base64 = verify(&verifier(), "a.b.c").unwrap_err();
    assert!(base64.to_string().starts_with("malformed token: its header: invalid base64url at byte 0"), "{base64}");
    assert!(std::error::Error::source(&base64).is_some());
}
