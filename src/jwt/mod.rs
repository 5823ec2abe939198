//! JSON Web Tokens signed with HS256: verify one, check its claims, or sign one. Pure functions,
//! no I/O; a building block for the Mercure hub's authorization ([`crate::mercure::claims`] reads
//! what a verified token grants), usable on its own.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use bare_sse::json;
//! use bare_sse::jwt::{self, Hs256Key, Verifier};
//!
//! let key = Hs256Key::new("a secret of at least thirty-two bytes!")?;
//! let claims = json::parse(
//!     r#"{"iss":"https://example.com","aud":"https://hub.example.com","exp":1767225600}"#,
//! )?;
//! let token = jwt::sign_hs256(&key, jwt::ACCESS_TOKEN_TYPE, &claims);
//!
//! let verifier = Verifier::for_issuer("https://example.com", key)
//!     .audience("https://hub.example.com")
//!     .token_type(jwt::ACCESS_TOKEN_TYPE);
//! let now = UNIX_EPOCH + Duration::from_secs(1767225300);
//! assert_eq!(verifier.verify(&token, now)?.issuer(), Some("https://example.com"));
//!
//! let later = UNIX_EPOCH + Duration::from_secs(1767225600);
//! assert_eq!(verifier.verify(&token, later), Err(jwt::Error::Expired));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What a token is
//!
//! A JWT (RFC 7519) in the compact JWS serialization (RFC 7515) is three base64url parts joined
//! by dots: a JSON header that names the signature algorithm (`alg`), a JSON object of claims
//! (who issued it, for whom, until when, and whatever the application adds), and a signature of
//! the first two parts exactly as they appear in the token. With HS256 the signature is the
//! HMAC-SHA-256 of those bytes under a secret key that issuer and verifier share.
//!
//! # What [`Verifier::verify`] checks, in order
//!
//! 1. the token is at most [`DEFAULT_MAX_TOKEN_BYTES`] long ([`Verifier::max_token_bytes`]);
//! 2. it has three parts, each strict base64url ([`base64url`]), the first two JSON objects;
//! 3. `alg` is `HS256`; anything else, `none` included, is refused, whatever the key: the
//!    algorithm is the verifier's choice, never the token's (RFC 8725 section 3.1);
//! 4. there is no `crit` header (it names extensions that must be understood, and none is);
//! 5. `typ` is the one asked for, if one is ([`Verifier::token_type`]);
//! 6. the signature is the HMAC of a trusted key, compared in constant time
//!    ([`constant_time_eq`]); only the keys of the token's issuer are tried
//!    ([`Verifier::for_issuer`]), so that one issuer cannot sign for another;
//! 7. `exp` is in the future (and present, unless [`Verifier::require_expiry`] says otherwise),
//!    `nbf`, if present, is not, both within a leeway for clock skew ([`Verifier::leeway`],
//!    by default [`DEFAULT_LEEWAY`], none);
//! 8. `aud` (a string or an array of strings) holds the verifier's audience
//!    ([`Verifier::audience`]); a token with an `aud` is refused by a verifier with none, as
//!    RFC 7519 section 4.1.3 asks.
//!
//! The current time is an argument, so that callers (and tests) decide what "now" is.
//!
//! # What is not supported, and why
//!
//! Only HS256. RS256, ES256 and EdDSA verify with a public key, which needs big-number or
//! elliptic-curve arithmetic (modular exponentiation on 2048-bit numbers, point multiplication
//! on P-256 or Curve25519). Written with nothing but `std`, that is a project of its own, and
//! one where a subtle mistake (a timing leak, a missing range check) breaks security silently,
//! so it is left out rather than done badly. A token with such an `alg` gets
//! [`Error::UnsupportedAlgorithm`]. Encrypted tokens (JWE, five parts) and the JSON
//! serializations of JWS are not read either; nor are keys from a token's own header (`jwk`,
//! `jku`, `x5u`): keys come only from the verifier.
//!
//! Every part of a token is bounded by its length limit: the JSON inside is parsed by
//! [`crate::json`], whose depth limit keeps nesting from exhausting the stack.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::json::{self, Value};

pub mod base64url;
pub mod hmac;
pub mod sha256;

/// The longest token accepted by default, in bytes: 8 KiB. A token travels in an
/// `Authorization: Bearer` header or a cookie; the server's default limit for a whole request
/// head is 8 KiB too, and browsers keep cookies of about 4 KiB at most, so no token that can
/// arrive by either way is refused by this limit, while anything longer is refused before it is
/// decoded.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The default allowance for clock skew when checking `exp` and `nbf`: none. Tokens are
/// checked against the time the caller passes in exactly; [`Verifier::leeway`] allows for
/// clocks that disagree (RFC 7519 suggests no more than a few minutes).
pub const DEFAULT_LEEWAY: Duration = Duration::ZERO;

/// The shortest HS256 key accepted, in bytes: RFC 7518 section 3.2 asks for a key at least as
/// long as the hash output, 256 bits.
pub const MIN_HS256_KEY_BYTES: usize = 32;

/// The `typ` of a JWT access token (RFC 9068), which the Mercure protocol requires: pass it to
/// [`Verifier::token_type`] and [`sign_hs256`].
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// The one algorithm this module verifies and signs with.
const HS256: &str = "HS256";

/// Why a token was refused (or a key, by [`Hs256Key::new`]).
///
/// A server answering a client should not say which check failed (the Mercure protocol, for
/// one, answers every failure with the same `invalid_token`): the detail is for logs.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// An HS256 key shorter than [`MIN_HS256_KEY_BYTES`].
    KeyTooShort {
        /// The key's length, in bytes.
        length: usize,
    },
    /// The token is longer than the verifier's limit ([`Verifier::max_token_bytes`]).
    TooLong {
        /// The token's length, in bytes.
        length: usize,
        /// The limit.
        limit: usize,
    },
    /// The token is not three base64url parts joined by dots holding a JSON header and JSON
    /// claims, both objects; or the header lacks a string `alg`.
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// A part of the token is not strict unpadded base64url.
    Base64 {
        /// The part.
        part: Part,
        /// Where in the part, and why.
        error: base64url::DecodeError,
    },
    /// The header or the claims are not JSON (or are nested deeper than [`json`] accepts).
    Json {
        /// The part ([`Part::Header`] or [`Part::Claims`]).
        part: Part,
        /// Where in the decoded part, and why.
        error: json::JsonError,
    },
    /// The header names an algorithm other than HS256, `none` included.
    UnsupportedAlgorithm {
        /// The header's `alg`.
        alg: String,
    },
    /// The header has a `crit` parameter: it names extensions the verifier must understand to
    /// accept the token, and this one understands none.
    UnsupportedCriticalHeader,
    /// The header's `typ` is missing or not the one the verifier asks for
    /// ([`Verifier::token_type`]).
    WrongType {
        /// The header's `typ`, if it has a string one.
        typ: Option<String>,
    },
    /// The signature is not the HMAC of any key the verifier trusts for the token's issuer:
    /// the token was altered, or signed with another key.
    BadSignature,
    /// A claim the verifier requires is absent: `exp` (unless [`Verifier::require_expiry`] is
    /// off), `aud` (when the verifier has an audience), `iss` (when every key belongs to an
    /// issuer).
    MissingClaim {
        /// The claim's name.
        name: &'static str,
    },
    /// A registered claim has the wrong JSON type: `exp` or `nbf` not a number, `aud` not a
    /// string or an array of strings, `iss` not a string.
    InvalidClaim {
        /// The claim's name.
        name: &'static str,
        /// What it should be.
        reason: &'static str,
    },
    /// `exp` is not after the current time (less the leeway): the token has expired.
    Expired,
    /// `nbf` is after the current time (plus the leeway): the token is not valid yet.
    NotYetValid,
    /// `aud` does not hold the verifier's audience, or the token has an `aud` and the verifier
    /// has none.
    WrongAudience,
    /// `iss` is not an issuer the verifier has a key for.
    WrongIssuer,
}

/// A part of a compact token, to say where a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The first part: the JOSE header.
    Header,
    /// The second part: the claims (the JWS payload).
    Claims,
    /// The third part: the signature.
    Signature,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Header => "header",
            Part::Claims => "claims",
            Part::Signature => "signature",
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::KeyTooShort { length } => {
                write!(f, "an HS256 key must be at least {MIN_HS256_KEY_BYTES} bytes long, this one is {length}")
            }
            Error::TooLong { length, limit } => {
                write!(f, "the token is {length} bytes long, more than the limit of {limit}")
            }
            Error::Malformed { reason } => write!(f, "malformed token: {reason}"),
            Error::Base64 { part, error } => write!(f, "malformed token: its {part}: {error}"),
            Error::Json { part, error } => write!(f, "malformed token: its {part}: {error}"),
            Error::UnsupportedAlgorithm { alg } => {
                write!(f, "the token's algorithm {alg:?} is not accepted: only HS256 is")
            }
            Error::UnsupportedCriticalHeader => {
                f.write_str("the token's header lists critical extensions (crit), and none is supported")
            }
            Error::WrongType { typ: Some(typ) } => write!(f, "the token's type {typ:?} is not the one expected"),
            Error::WrongType { typ: None } => f.write_str("the token's header has no type (typ)"),
            Error::BadSignature => f.write_str("the token's signature does not match a trusted key"),
            Error::MissingClaim { name } => write!(f, "the token has no {name:?} claim, which is required"),
            Error::InvalidClaim { name, reason } => write!(f, "the token's {name:?} claim is invalid: {reason}"),
            Error::Expired => f.write_str("the token has expired"),
            Error::NotYetValid => f.write_str("the token is not valid yet (nbf)"),
            Error::WrongAudience => f.write_str("the token is not meant for this audience (aud)"),
            Error::WrongIssuer => f.write_str("the token's issuer (iss) is not trusted"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Base64 { error, .. } => Some(error),
            Error::Json { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// A secret key for HS256, at least [`MIN_HS256_KEY_BYTES`] long.
///
/// Its `Debug` shows the length only, so that logging a verifier never logs its secret.
#[derive(Clone)]
pub struct Hs256Key {
    secret: Vec<u8>,
}

impl Hs256Key {
    /// The key made of the bytes of `secret`; [`Error::KeyTooShort`] if it has fewer than
    /// [`MIN_HS256_KEY_BYTES`].
    ///
    /// # Errors
    ///
    /// [`Error::KeyTooShort`] for a secret shorter than [`MIN_HS256_KEY_BYTES`].
    pub fn new(secret: impl Into<Vec<u8>>) -> Result<Hs256Key, Error> {
        let secret = secret.into();
        if secret.len() < MIN_HS256_KEY_BYTES {
            return Err(Error::KeyTooShort { length: secret.len() });
        }
        Ok(Hs256Key { secret })
    }

    /// The HS256 signature of `signing_input`.
    fn sign(&self, signing_input: &[u8]) -> [u8; sha256::DIGEST_BYTES] {
        hmac::hmac_sha256(&self.secret, signing_input)
    }
}

impl fmt::Debug for Hs256Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hs256Key({} bytes)", self.secret.len())
    }
}

/// Whether `a` and `b` are equal, in a time that depends on their lengths only, not on where
/// they differ: comparing a received signature with the expected one byte by byte and stopping
/// at the first difference would tell an attacker, by timing, how much of a forged signature is
/// right.
///
/// Lengths are compared first and openly: a signature's length is fixed by the algorithm, no
/// secret. The bytes are folded together with no branch, and the result is passed through
/// [`std::hint::black_box`] so that the compiler is discouraged from turning the fold back into
/// an early exit (std offers no stronger guarantee).
///
/// ```
/// use bare_sse::jwt::constant_time_eq;
/// assert!(constant_time_eq(b"same", b"same"));
/// assert!(!constant_time_eq(b"same", b"sane"));
/// assert!(!constant_time_eq(b"same", b"same "));
/// ```
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |difference, (x, y)| difference | (x ^ y));
    std::hint::black_box(difference) == 0
}

/// An HS256 token for `claims` (which should be a JSON object), signed with `key`, with a header
/// of `alg` HS256 and `typ` `token_type` (`"JWT"`, or [`ACCESS_TOKEN_TYPE`] for an access token).
///
/// ```
/// use bare_sse::{json, jwt};
/// let key = jwt::Hs256Key::new([7u8; 32])?;
/// let token = jwt::sign_hs256(&key, "JWT", &json::parse(r#"{"sub":"ann"}"#)?);
/// assert_eq!(token.split('.').next(), Some("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn sign_hs256(key: &Hs256Key, token_type: &str, claims: &Value) -> String {
    let header = Value::Object(vec![("alg".into(), HS256.into()), ("typ".into(), token_type.into())]);
    let mut token = base64url::encode(header.to_string().as_bytes());
    token.push('.');
    token.push_str(&base64url::encode(claims.to_string().as_bytes()));
    let signature = key.sign(token.as_bytes());
    token.push('.');
    token.push_str(&base64url::encode(&signature));
    token
}

/// Checks HS256 tokens: their signature against trusted keys, then their claims. Built with
/// [`Verifier::new`] or [`Verifier::for_issuer`] and the setters; see the
/// [module documentation](self) for every check, in order.
#[derive(Debug, Clone)]
pub struct Verifier {
    /// Trusted keys, each for one issuer or, with `None`, for tokens of any issuer.
    keys: Vec<(Option<String>, Hs256Key)>,
    audience: Option<String>,
    /// With no audience: accept a token whatever its `aud` says.
    any_audience: bool,
    token_type: Option<String>,
    leeway: Duration,
    max_token_bytes: usize,
    require_expiry: bool,
}

impl Verifier {
    /// A verifier of tokens signed with `key`, whatever their issuer: `iss` is not checked. Use
    /// [`Verifier::for_issuer`] instead where tokens come from known issuers.
    pub fn new(key: Hs256Key) -> Verifier {
        Verifier::with_key(None, key)
    }

    /// A verifier of tokens whose `iss` is `issuer` (compared exactly), signed with `key`. More
    /// issuers are added with [`Verifier::trust_issuer`].
    pub fn for_issuer(issuer: impl Into<String>, key: Hs256Key) -> Verifier {
        Verifier::with_key(Some(issuer.into()), key)
    }

    fn with_key(issuer: Option<String>, key: Hs256Key) -> Verifier {
        Verifier {
            keys: vec![(issuer, key)],
            audience: None,
            any_audience: false,
            token_type: None,
            leeway: DEFAULT_LEEWAY,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            require_expiry: true,
        }
    }

    /// Also accepts tokens whose `iss` is `issuer`, signed with `key`. An issuer may have several
    /// keys (while one is rotated out, say): each is tried. A token is checked only against the
    /// keys of its own issuer, and against a key given to [`Verifier::new`], which is tried for
    /// every token: give every key its issuer, or use one key with no issuer alone.
    pub fn trust_issuer(mut self, issuer: impl Into<String>, key: Hs256Key) -> Verifier {
        self.keys.push((Some(issuer.into()), key));
        self
    }

    /// Requires `aud` to be `audience` or an array holding it (compared exactly). Without an
    /// audience, a token that has an `aud` claim is refused.
    pub fn audience(mut self, audience: impl Into<String>) -> Verifier {
        self.audience = Some(audience.into());
        self
    }

    /// Accepts a token whatever its `aud` names (a string or an array of strings is still
    /// required where there is one), for a verifier that has no identity of its own to check
    /// for. A verifier told its [`audience`](Self::audience) checks it instead.
    pub fn any_audience(mut self) -> Verifier {
        self.any_audience = true;
        self
    }

    /// Requires the header's `typ` to be `token_type`, compared as RFC 7515 section 4.1.9 says:
    /// without case, and with an `application/` prefix left out (so `at+jwt` also accepts
    /// `application/at+jwt` and `AT+JWT`). Without one, `typ` is not checked.
    pub fn token_type(mut self, token_type: impl Into<String>) -> Verifier {
        self.token_type = Some(token_type.into());
        self
    }

    /// Allows for clocks that disagree by up to `leeway` when checking `exp` and `nbf`
    /// (default [`DEFAULT_LEEWAY`], none).
    pub fn leeway(mut self, leeway: Duration) -> Verifier {
        self.leeway = leeway;
        self
    }

    /// Refuses tokens longer than `max_token_bytes` before decoding them (default
    /// [`DEFAULT_MAX_TOKEN_BYTES`]).
    pub fn max_token_bytes(mut self, max_token_bytes: usize) -> Verifier {
        self.max_token_bytes = max_token_bytes;
        self
    }

    /// Whether a token must have an `exp` claim (default `true`, as RFC 9068 and the Mercure
    /// protocol require). With `false`, a token without one never expires; one with an `exp`
    /// is still checked.
    pub fn require_expiry(mut self, require_expiry: bool) -> Verifier {
        self.require_expiry = require_expiry;
        self
    }

    /// The claims of `token` if it passes every check at the time `now`, or the first check it
    /// fails (see the [module documentation](self) for the checks, in order).
    ///
    /// # Errors
    ///
    /// The [`Error`] of the first check the token fails.
    pub fn verify(&self, token: &str, now: SystemTime) -> Result<Claims, Error> {
        if token.len() > self.max_token_bytes {
            return Err(Error::TooLong { length: token.len(), limit: self.max_token_bytes });
        }
        let mut parts = token.split('.');
        let (Some(header_part), Some(claims_part), Some(signature_part), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            let reason = match token.split('.').count() {
                5 => "it has five parts: an encrypted token (JWE), which is not supported",
                _ => "a token has three parts separated by dots",
            };
            return Err(Error::Malformed { reason });
        };

        let header = decode_json_object(header_part, Part::Header)?;
        match header.get("alg") {
            Some(Value::String(alg)) if alg == HS256 => {}
            Some(Value::String(alg)) => return Err(Error::UnsupportedAlgorithm { alg: alg.clone() }),
            _ => return Err(Error::Malformed { reason: "the header has no string \"alg\"" }),
        }
        if header.get("crit").is_some() {
            return Err(Error::UnsupportedCriticalHeader);
        }
        if let Some(expected) = &self.token_type {
            let typ = header.get("typ").and_then(Value::as_str);
            if !typ.is_some_and(|typ| same_media_type(typ, expected)) {
                return Err(Error::WrongType { typ: typ.map(str::to_string) });
            }
        }

        // The claims are read before the signature is checked, to find the issuer whose keys
        // apply; they are bounded by the length limit, and trusted only once it is checked.
        let claims = decode_json_object(claims_part, Part::Claims)?;
        let issuer = match claims.get("iss") {
            None => None,
            Some(Value::String(issuer)) => Some(issuer.as_str()),
            Some(_) => return Err(Error::InvalidClaim { name: "iss", reason: "it must be a string" }),
        };
        let mut keys = self
            .keys
            .iter()
            .filter(|(key_issuer, _)| key_issuer.is_none() || key_issuer.as_deref() == issuer)
            .map(|(_, key)| key)
            .peekable();
        if keys.peek().is_none() {
            return Err(if issuer.is_none() { Error::MissingClaim { name: "iss" } } else { Error::WrongIssuer });
        }
        let signature =
            base64url::decode(signature_part).map_err(|error| Error::Base64 { part: Part::Signature, error })?;
        // Everything before the second dot, exactly as received, is what was signed.
        let signing_input = &token.as_bytes()[..header_part.len() + 1 + claims_part.len()];
        if !keys.any(|key| constant_time_eq(&key.sign(signing_input), &signature)) {
            return Err(Error::BadSignature);
        }

        self.check_claims(&claims, now)?;
        Ok(Claims { claims })
    }

    /// The registered claims' checks, on claims whose signature is verified.
    fn check_claims(&self, claims: &Value, now: SystemTime) -> Result<(), Error> {
        let now = seconds_since_epoch(now);
        let leeway = self.leeway.as_secs_f64();
        match numeric_date(claims, "exp")? {
            // RFC 7519 section 4.1.4: the current time must be before exp.
            Some(expires) if now >= expires + leeway => return Err(Error::Expired),
            None if self.require_expiry => return Err(Error::MissingClaim { name: "exp" }),
            _ => {}
        }
        // Section 4.1.5: the current time must be at or after nbf.
        if numeric_date(claims, "nbf")?.is_some_and(|not_before| now + leeway < not_before) {
            return Err(Error::NotYetValid);
        }
        // One of ours: the configured audience, or any audience when told so.
        let accepts = |audience: &str| self.audience.as_deref().map_or(self.any_audience, |ours| ours == audience);
        let not_strings = Error::InvalidClaim { name: "aud", reason: "it must be a string or an array of strings" };
        let audience_is_ours = match claims.get("aud") {
            None if self.audience.is_some() => return Err(Error::MissingClaim { name: "aud" }),
            None => true,
            Some(Value::String(audience)) => accepts(audience),
            Some(Value::Array(audiences)) => {
                let audiences: Option<Vec<&str>> = audiences.iter().map(Value::as_str).collect();
                audiences.ok_or(not_strings)?.into_iter().any(accepts)
            }
            Some(_) => return Err(not_strings),
        };
        if !audience_is_ours {
            return Err(Error::WrongAudience);
        }
        Ok(())
    }
}

/// The claims of a verified token: a JSON object.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    /// Always a [`Value::Object`].
    claims: Value,
}

impl Claims {
    /// A claim, by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }

    /// All the claims, as the JSON object they are.
    pub fn as_json(&self) -> &Value {
        &self.claims
    }

    /// All the claims, as the JSON object they are.
    pub fn into_json(self) -> Value {
        self.claims
    }

    /// The issuer, `iss`, if it is a string.
    pub fn issuer(&self) -> Option<&str> {
        self.get("iss").and_then(Value::as_str)
    }

    /// The subject, `sub`, if it is a string.
    pub fn subject(&self) -> Option<&str> {
        self.get("sub").and_then(Value::as_str)
    }

    /// When the token expires, `exp`, if it has one that a [`SystemTime`] can hold: a server
    /// holding a connection open on this token's authority ends it by then.
    pub fn expires_at(&self) -> Option<SystemTime> {
        let seconds = self.get("exp").and_then(Value::as_f64)?;
        UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(seconds).ok()?)
    }
}

/// Decodes one part of a token as a JSON object.
fn decode_json_object(part_text: &str, part: Part) -> Result<Value, Error> {
    let bytes = base64url::decode(part_text).map_err(|error| Error::Base64 { part, error })?;
    let value = json::parse_bytes(&bytes).map_err(|error| Error::Json { part, error })?;
    if !matches!(value, Value::Object(_)) {
        return Err(Error::Malformed {
            reason: match part {
                Part::Header => "the header is not a JSON object",
                _ => "the claims are not a JSON object",
            },
        });
    }
    Ok(value)
}

/// A NumericDate claim (RFC 7519 section 2: seconds since the epoch, maybe with a fraction), if
/// present.
fn numeric_date(claims: &Value, name: &'static str) -> Result<Option<f64>, Error> {
    match claims.get(name) {
        None => Ok(None),
        // Never NaN: every JSON number parses as an f64 (one out of range as an infinity).
        Some(Value::Number(number)) => Ok(Some(number.as_f64())),
        Some(_) => Err(Error::InvalidClaim { name, reason: "it must be a number of seconds since 1970" }),
    }
}

/// `time` as seconds since the epoch, negative before it.
fn seconds_since_epoch(time: SystemTime) -> f64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => since.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    }
}

/// Whether two `typ` values name the same media type: RFC 7515 section 4.1.9 compares them
/// without case, and with an `application/` prefix left out.
fn same_media_type(a: &str, b: &str) -> bool {
    fn short(typ: &str) -> &str {
        match typ.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
            _ => typ,
        }
    }
    short(a).eq_ignore_ascii_case(short(b))
}

#[cfg(test)]
mod tests;
