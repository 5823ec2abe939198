//! Topics and the matchers that select them, as Mercure defines them. For now: URLs as the WHATWG
//! URL Standard parses them, and [URL patterns](url_pattern), Mercure's `urlpattern` matcher.

pub mod url_pattern;
mod whatwg_url;

pub use url_pattern::{PatternLimits, UrlComponent, UrlPattern, UrlPatternError, UrlPatternInit};
pub use whatwg_url::{UrlParseError, UrlRecord};
