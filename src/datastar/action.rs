//! Attribute values for Datastar's backend actions: `get("/x")` is `@get('/x')`, to put in an
//! attribute such as `data-on:click`. URLs and options are escaped for the single-quoted string.

use super::events::escape_js_string;

/// `@get('url')`
pub fn get(url: &str) -> String {
    action("get", url, None)
}

/// `@post('url')`
pub fn post(url: &str) -> String {
    action("post", url, None)
}

/// `@put('url')`
pub fn put(url: &str) -> String {
    action("put", url, None)
}

/// `@patch('url')`
pub fn patch(url: &str) -> String {
    action("patch", url, None)
}

/// `@delete('url')`
pub fn delete(url: &str) -> String {
    action("delete", url, None)
}

/// `@method('url')`, or `@method('url', options)` with an options object written as
/// Datastar expects it, e.g. `{contentType: 'form'}` (inserted as it is).
///
/// ```
/// use bare_sse::datastar::action;
/// assert_eq!(action::action("post", "/todo?x='1'", Some("{contentType: 'form'}")),
///            r"@post('/todo?x=\'1\'', {contentType: 'form'})");
/// ```
pub fn action(method: &str, url: &str, options: Option<&str>) -> String {
    let url = escape_js_string(url);
    match options {
        Some(options) => format!("@{method}('{url}', {options})"),
        None => format!("@{method}('{url}')"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions() {
        assert_eq!(get("/count"), "@get('/count')");
        assert_eq!(post("/a b"), "@post('/a b')");
        assert_eq!(put("/p"), "@put('/p')");
        assert_eq!(patch("/p"), "@patch('/p')");
        assert_eq!(delete("/d\"x"), r"@delete('/d\x22x')");
        assert_eq!(action("post", "/f", Some("{contentType: 'form'}")), "@post('/f', {contentType: 'form'})");
    }
}
