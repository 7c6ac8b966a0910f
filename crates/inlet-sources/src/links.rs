//! The links of a listing page: every `<a href>`, resolved against the page's
//! address (or its `<base href>`), kept when the absolute URL matches the
//! source's pattern.

use std::cell::RefCell;

use lol_html::{HtmlRewriter, Settings, element};
use regex::Regex;
use url::Url;

/// The matching links of `page`, in page order, each once.
pub fn matching_links(page: &[u8], page_url: &Url, pattern: &Regex) -> Result<Vec<Url>, lol_html::errors::RewritingError> {
    let (base, hrefs) = (RefCell::new(None::<String>), RefCell::new(Vec::<String>::new()));
    let mut rewriter = HtmlRewriter::new(
        Settings::new()
            .append_element_content_handler(element!("base[href]", |el| {
                base.borrow_mut().get_or_insert_with(|| el.get_attribute("href").unwrap_or_default());
                Ok(())
            }))
            .append_element_content_handler(element!("a[href]", |el| {
                hrefs.borrow_mut().extend(el.get_attribute("href"));
                Ok(())
            })),
        |_: &[u8]| {},
    );
    rewriter.write(page)?;
    rewriter.end()?;

    let base = base.into_inner().and_then(|href| page_url.join(&unescape(&href)).ok()).unwrap_or_else(|| page_url.clone());
    let mut links: Vec<Url> = Vec::new();
    for href in hrefs.into_inner() {
        let Ok(link) = base.join(unescape(&href).trim()) else { continue };
        if matches!(link.scheme(), "http" | "https" | "ftp") && pattern.is_match(link.as_str()) && !links.contains(&link) {
            links.push(link);
        }
    }
    Ok(links)
}

/// An attribute's text as the browser reads it: `&amp;` is `&`.
fn unescape(value: &str) -> String {
    quick_xml::escape::unescape(value).map(|v| v.into_owned()).unwrap_or_else(|_| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<!doctype html>
<html><body>
<h1>Index of /bom/solar/2024/01/</h1>
<a href="../">Parent</a>
<a href="solar_ghi_20240101_00UT.txt">solar_ghi_20240101_00UT.txt</a>
<a href='solar_dni_20240101_00UT.txt'>dni</a>
<a href=solar_ghi_20240101_01UT.txt>unquoted</a>
<a href="solar_ghi_20240101_00UT.txt">again</a>
<a href="/other/solar_ghi_20240101_02UT.txt?x=1&amp;y=2">absolute path</a>
<a href="README.txt">readme</a>
<a href="mailto:solar_ghi_20240101_03UT.txt">not fetchable</a>
<a name="no-href">anchor</a>
</body></html>"#;

    #[test]
    fn only_matching_links_resolved_once_each() {
        let page_url = Url::parse("https://data.example.com/bom/solar/2024/01/").unwrap();
        let pattern = Regex::new(r"solar_(ghi|dni)_\d{8}_\d{2}UT\.txt").unwrap();
        let links: Vec<String> = matching_links(PAGE.as_bytes(), &page_url, &pattern).unwrap().iter().map(Url::to_string).collect();
        assert_eq!(
            links,
            [
                "https://data.example.com/bom/solar/2024/01/solar_ghi_20240101_00UT.txt",
                "https://data.example.com/bom/solar/2024/01/solar_dni_20240101_00UT.txt",
                "https://data.example.com/bom/solar/2024/01/solar_ghi_20240101_01UT.txt",
                "https://data.example.com/other/solar_ghi_20240101_02UT.txt?x=1&y=2",
            ]
        );
    }

    #[test]
    fn a_base_element_moves_relative_links() {
        let page = r#"<html><head><base href="https://mirror.example.org/files/"></head><a href="a.csv">a</a></html>"#;
        let links = matching_links(page.as_bytes(), &Url::parse("https://example.com/list").unwrap(), &Regex::new(r"\.csv$").unwrap());
        assert_eq!(links.unwrap(), [Url::parse("https://mirror.example.org/files/a.csv").unwrap()]);
    }
}
