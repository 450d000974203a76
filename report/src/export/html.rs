//! `report.html`: the whole report in one self-contained page, readable with no network:
//! `summary.md`'s tables and flags, every plot as inline SVG, the probes and the run's
//! manifest. A Content-Security-Policy of `default-src 'none'` (inline styles and
//! `data:` images only) keeps the browser from fetching anything.

use super::Exporter;
use crate::ReportError;
use crate::model::Report;
use crate::plot::DrawnPlot;
use crate::trend::{History, Step, steps_markdown};
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use pulldown_cmark_escape::escape_html;
use std::fmt::Write as _;

/// `report.html`, with the plots drawn for it.
#[derive(Clone, Copy, Debug)]
pub struct Html<'a> {
    /// The plots, inlined in the order given.
    pub plots: &'a [DrawnPlot],
    /// Whether plots were drawn at all (`--no-plots` says so on the page).
    pub plots_drawn: bool,
}

impl Exporter for Html<'_> {
    fn serialize(&self, report: &Report) -> Result<Vec<u8>, ReportError> {
        let m = &report.manifest;
        let mut body = String::new();
        body.push_str(
            "<nav><a href=\"#summary\">Summary</a> · <a href=\"#plots\">Plots</a> · \
             <a href=\"#probes\">Probes</a> · <a href=\"#manifest\">Manifest</a></nav>\n",
        );
        body.push_str("<section id=\"summary\">\n");
        body.push_str(&markdown(&super::markdown::render(report)));
        body.push_str("</section>\n<section id=\"plots\">\n<h2>Plots</h2>\n");
        body.push_str(&figures(self.plots, self.plots_drawn));
        body.push_str("</section>\n<section id=\"probes\">\n<h2>Probes</h2>\n");
        body.push_str(&probes(report));
        body.push_str("</section>\n<section id=\"manifest\">\n<h2>Manifest</h2>\n");
        let manifest = serde_json::to_string_pretty(m)
            .map_err(|e| ReportError::Invalid(format!("run.json could not be serialised: {e}")))?;
        let _ = writeln!(
            body,
            "<details><summary><code>run.json</code>: joulebench {}, {}</summary><pre>{}</pre></details>",
            text(&m.joulebench_version),
            text(m.git_revision.as_deref().unwrap_or("revision unknown")),
            text(&manifest)
        );
        body.push_str("</section>\n");
        Ok(page(&format!("joulebench: {}", m.suite.name), &body).into_bytes())
    }
}

/// A whole page around `body`: the head, the policy that forbids any fetch, and the style.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <link rel=\"icon\" href=\"data:,\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        text(title)
    )
}

/// The page of `joulebench trend --html`: the trend plot, each run's verdict against the
/// run before, the table of every run and the ratings.
pub fn trend_page(history: &History, steps: &[Step], plot: Option<&DrawnPlot>) -> String {
    let mut body = String::from("<h1>joulebench: energy per inference across runs</h1>\n");
    match plot {
        Some(plot) => body.push_str(&figures(std::slice::from_ref(plot), true)),
        None => body.push_str("<p>No plot: no run has a figure to draw.</p>\n"),
    }
    body.push_str(&markdown(&steps_markdown(steps, &history.labels)));
    body.push_str(&markdown(&history.markdown()));
    page("joulebench trend", &body)
}

/// The page's style: readable tables, estimates in a warning colour, plots that fit.
const STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:78em;padding:0 1em;color:#222;line-height:1.4}\
nav{position:sticky;top:0;background:#fff;padding:.4em 0;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}\
th,td{border:1px solid #ccc;padding:.2em .5em;vertical-align:top}\
th{background:#f2f2f2}td{font-variant-numeric:tabular-nums}\
em{color:#a04000;font-style:normal;font-weight:600}\
code{background:#f5f5f5;padding:0 .2em}\
pre{background:#f8f8f8;padding:.8em;overflow:auto;font-size:.85em}\
figure{margin:1em 0}figure svg{max-width:100%;height:auto;border:1px solid #ddd}\
figcaption{font-size:.9em;color:#555}";

/// Escapes text for an HTML body or attribute.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    // Writing to a String cannot fail.
    let _ = escape_html(&mut out, s);
    out
}

/// `summary.md` as HTML (GitHub tables). Names from a suite land in it as written, so what
/// they could make of it is defused: raw HTML is shown as text, an image as its alt text,
/// and a link as its text unless it points inside the page (`#...`).
pub fn markdown(md: &str) -> String {
    // Whether each open link is kept (links do not nest, images hold only text).
    let mut links: Vec<bool> = Vec::new();
    let parser = Parser::new_ext(md, Options::ENABLE_TABLES).filter_map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Some(Event::Text(raw)),
        Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image) => None,
        Event::Start(Tag::Link { ref dest_url, .. }) => {
            let keep = dest_url.starts_with('#');
            links.push(keep);
            keep.then_some(event)
        }
        Event::End(TagEnd::Link) => links.pop().unwrap_or(false).then_some(event),
        other => Some(other),
    });
    let mut out = String::new();
    pulldown_cmark::html::push_html(&mut out, parser);
    out
}

/// Every plot inline, each in a figure with its name; or why there are none.
fn figures(plots: &[DrawnPlot], drawn: bool) -> String {
    if !drawn {
        return "<p>Plots were not drawn for this report (<code>--no-plots</code>): run \
                <code>joulebench report DIR</code> to draw them.</p>\n"
            .to_string();
    }
    if plots.is_empty() {
        return "<p>No plot: no configuration has a figure to draw.</p>\n".to_string();
    }
    let mut out = String::new();
    for plot in plots {
        let _ = writeln!(
            out,
            "<figure id=\"plot-{}\">{}<figcaption><code>plots/{}.svg</code></figcaption></figure>",
            text(&plot.stem),
            inline_svg(&plot.svg),
            text(&plot.stem)
        );
    }
    out
}

/// An SVG document as an element of the page (without any XML declaration).
fn inline_svg(svg: &str) -> &str {
    let svg = svg.trim_start();
    match svg.find("<svg") {
        Some(at) if svg.starts_with("<?xml") => &svg[at..],
        _ => svg,
    }
}

/// The energy sources of the run and the ones that were missing, as a table.
fn probes(report: &Report) -> String {
    let m = &report.manifest;
    let mut out = String::from(
        "<table><thead><tr><th>Source</th><th>Label</th><th>Method</th><th>Domains</th>\
         <th>Resolution (s)</th></tr></thead><tbody>\n",
    );
    for p in &m.probes {
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            text(&p.name),
            text(&p.provenance.to_string()),
            text(&p.method),
            text(&p.domains.join(", ")),
            p.resolution_s
        );
    }
    out.push_str("</tbody></table>\n");
    if !m.missing_probes.is_empty() {
        out.push_str("<p>Not available on this run:</p><ul>\n");
        for p in &m.missing_probes {
            let _ = writeln!(
                out,
                "<li><code>{}</code>: {}</li>",
                text(&p.probe),
                text(&p.reason)
            );
        }
        out.push_str("</ul>\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_html_in_the_markdown_is_text() {
        let html = markdown("| a |\n|---|\n| <script>alert(1)</script> |\n");
        assert!(html.contains("<table>"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn names_cannot_bring_images_or_outside_links_into_the_page() {
        let html = markdown(
            "| ![x](http://e/x.png) | [docs](https://e/) | <https://e/a> | [here](#plots) |\n|---|---|---|---|\n",
        );
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("href=\"http"), "{html}");
        assert!(html.contains(">x<") && html.contains("docs"), "{html}");
        assert!(html.contains("<a href=\"#plots\">here</a>"), "{html}");
    }

    #[test]
    fn an_xml_declaration_is_dropped_from_inline_svg() {
        assert_eq!(
            inline_svg("<?xml version=\"1.0\"?>\n<svg a=\"1\"></svg>"),
            "<svg a=\"1\"></svg>"
        );
        assert_eq!(inline_svg("<svg></svg>"), "<svg></svg>");
    }

    #[test]
    fn the_page_forbids_every_fetch() {
        let p = page("a <b>", "<p>x</p>");
        assert!(p.contains("default-src 'none'"));
        assert!(p.contains("<title>a &lt;b&gt;</title>"));
    }
}
