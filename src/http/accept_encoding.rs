//! Choosing a content coding from a request's `Accept-Encoding` (RFC 9110 §12.5.3): each coding
//! the client lists has a weight (`q`, 1 by default, 0 meaning "not acceptable"); `*` stands for
//! every coding not listed, `identity` included.

/// The coding of `offered` (in the server's order of preference) that the client weighs highest,
/// or `None` for the identity coding: when the header is absent, when no offered coding has a
/// weight above 0, or when `identity` (named, or through `*`) weighs more than the best one.
///
/// ```
/// use bare_sse::http::choose_coding;
/// assert_eq!(choose_coding(Some("gzip, deflate, br"), &["gzip"]), Some("gzip"));
/// assert_eq!(choose_coding(Some("gzip;q=0, deflate"), &["gzip"]), None);
/// assert_eq!(choose_coding(None, &["gzip"]), None);
/// ```
pub fn choose_coding<'a>(accept_encoding: Option<&str>, offered: &[&'a str]) -> Option<&'a str> {
    let header = accept_encoding?;
    let weights: Vec<(&str, u16)> = header.split(',').filter_map(parse_entry).collect();
    // A coding named twice weighs its lowest: when in doubt, it is not used.
    let weight_named =
        |coding: &str| weights.iter().filter(|(name, _)| name.eq_ignore_ascii_case(coding)).map(|&(_, q)| q).min();
    let weight_of = |coding: &str| -> Option<u16> { weight_named(coding).or_else(|| weight_named("*")) };
    // Highest weight wins; on a tie, the server's earlier choice.
    let mut best: Option<(&'a str, u16)> = None;
    for &coding in offered {
        let q = weight_of(coding).unwrap_or(0);
        if q > 0 && best.is_none_or(|(_, best_q)| q > best_q) {
            best = Some((coding, q));
        }
    }
    let (coding, q) = best?;
    // An unnamed identity weighs least: only a named (or `*`) weight can prefer it.
    match weight_of("identity") {
        Some(identity) if identity > q => None,
        _ => Some(coding),
    }
}

/// One `coding;q=0.5` entry, the weight in thousandths. A coding named with a weight that does
/// not parse is weighed 0: when in doubt, it is not used.
fn parse_entry(entry: &str) -> Option<(&str, u16)> {
    let mut parts = entry.split(';');
    let coding = parts.next()?.trim();
    if coding.is_empty() {
        return None;
    }
    let mut q = 1000;
    for parameter in parts {
        let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
        if name.trim().eq_ignore_ascii_case("q") {
            // A weight given twice counts at its lowest, as a coding named twice does.
            match parse_weight(value.trim()) {
                Some(weight) => q = q.min(weight),
                None => return Some((coding, 0)),
            }
        }
    }
    Some((coding, q))
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths.
fn parse_weight(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{fraction:0<3}").parse().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_decide_and_zero_refuses() {
        let gzip = &["gzip"][..];
        assert_eq!(choose_coding(Some("gzip"), gzip), Some("gzip"));
        assert_eq!(choose_coding(Some("GZIP ; Q=0.5"), gzip), Some("gzip"));
        assert_eq!(choose_coding(Some("gzip;q=0"), gzip), None, "q=0 means no");
        assert_eq!(choose_coding(Some("gzip;q=0.000"), gzip), None);
        assert_eq!(choose_coding(Some("br"), gzip), None, "not listed, no *");
        assert_eq!(choose_coding(Some("*"), gzip), Some("gzip"));
        assert_eq!(choose_coding(Some("*;q=0"), gzip), None);
        assert_eq!(choose_coding(Some("*, gzip;q=0"), gzip), None, "a named weight beats *");
        assert_eq!(choose_coding(Some(""), gzip), None);
        assert_eq!(choose_coding(Some("identity"), gzip), None);
        assert_eq!(choose_coding(Some("gzip;q=0.5, identity"), gzip), None, "identity named higher");
        assert_eq!(choose_coding(Some("gzip, identity;q=0.5"), gzip), Some("gzip"));
        assert_eq!(choose_coding(Some("gzip;q=0.5, *;q=0.9"), gzip), None, "* covers identity");
        assert_eq!(choose_coding(Some("gzip;q=2"), gzip), None, "a weight that does not parse refuses");
        assert_eq!(choose_coding(Some("*, gzip;q=0.5-"), gzip), None, "even when * accepts everything");
        assert_eq!(choose_coding(Some("gzip, gzip;q=0"), gzip), None, "named twice, the lower weight counts");
        assert_eq!(choose_coding(Some("gzip;q=0;q=1"), gzip), None, "weighed twice, likewise");
        assert_eq!(choose_coding(Some("gzip;q=0.1234"), gzip), None);
        assert_eq!(choose_coding(Some("gzip;q=1.0"), gzip), Some("gzip"));
    }

    #[test]
    fn ties_go_to_the_server_order() {
        assert_eq!(choose_coding(Some("gzip, br"), &["br", "gzip"]), Some("br"));
        assert_eq!(choose_coding(Some("gzip, br;q=0.9"), &["br", "gzip"]), Some("gzip"));
        assert_eq!(choose_coding(Some("deflate, gzip"), &["gzip", "deflate"]), Some("gzip"));
    }
}
