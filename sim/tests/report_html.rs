//! report.html: well-formed, one SVG per chart with its series and axis titles, nothing loaded
//! from outside, and the same bytes for the same seed.

#[path = "common/report.rs"]
mod fixture;

use roxmltree::{Document, Node};

/// Strict XML parsing: an unclosed or misnested tag fails here (the doctype is allowed).
fn parse(html: &str) -> Document<'_> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    Document::parse_with_options(html, options).unwrap_or_else(|e| panic!("{e}"))
}

fn texts(node: Node) -> Vec<String> {
    node.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(|t| t.trim().to_string()))
        .collect()
}

fn figure<'a, 'i>(doc: &'a Document<'i>, id: &str) -> Node<'a, 'i> {
    doc.descendants()
        .find(|n| n.attribute("id") == Some(id))
        .unwrap_or_else(|| panic!("no element with id {id}"))
}

fn assert_has(texts: &[String], wanted: &[&str], what: &str) {
    for w in wanted {
        assert!(
            texts.iter().any(|t| t == w),
            "{what}: no text {w:?} in {texts:?}"
        );
    }
}

#[test]
fn the_page_parses_and_every_chart_has_its_series_and_axes() {
    let scenario = fixture::scenario(false);
    let html = fixture::html(&scenario, 2);
    let doc = parse(&html);
    let charts: Vec<Node> = doc
        .descendants()
        .filter(|n| n.has_tag_name("figure"))
        .collect();
    assert!(charts.len() >= 10, "{} figures", charts.len());
    for f in &charts {
        let svgs = f.descendants().filter(|n| n.has_tag_name("svg")).count();
        assert_eq!(svgs, 1, "figure {:?} holds {svgs} SVGs", f.attribute("id"));
    }
    let policies = ["sequential", "sync", "async"];

    for metric in ["makespan", "first_update", "result_delay"] {
        let t = texts(figure(&doc, &format!("cdf-{metric}")));
        assert_has(&t, &policies, metric);
        assert_has(
            &t,
            &[&format!("{metric} (s)"), "sessions ≤ x", "50%"],
            metric,
        );
    }
    let t = texts(figure(&doc, "chart-speedups"));
    assert_has(
        &t,
        &[
            "makespan",
            "first_update",
            "turns",
            "1×",
            "sync/async per session (log scale; > 1: async lower)",
        ],
        "speedups",
    );
    let timelines: Vec<Node> = doc
        .descendants()
        .filter(|n| {
            n.attribute("id")
                .is_some_and(|id| id.starts_with("timeline-"))
        })
        .collect();
    assert_eq!(timelines.len(), 3, "a fast, a typical and a slow session");
    for tl in &timelines {
        let t = texts(*tl);
        assert_has(
            &t,
            &[
                "sync: model",
                "async: model",
                "r1.search",
                "r2.lookup",
                "model turn",
                "model idle",
                "tool running",
                "result waits to be read",
                "output shown to the user (turn ends)",
                "result delivered to the agent",
                "seconds since the user's request",
            ],
            "timeline",
        );
        // Sequential is left out of the side-by-side view.
        assert!(!t.iter().any(|s| s == "sequential: model"));
        // Turns are drawn: purple rectangles, one per turn at least.
        let svg = tl.descendants().find(|n| n.has_tag_name("svg")).unwrap();
        let purple = svg
            .descendants()
            .filter(|n| n.attribute("fill") == Some("#6A4C93"))
            .count();
        assert!(purple >= 4, "{purple} turn bars");
    }
    let t = texts(figure(&doc, "chart-idle"));
    assert_has(
        &t,
        &[
            "model busy (turns)",
            "idle: a result waits unread",
            "idle: tools running",
            "seconds per session (mean)",
        ],
        "idle",
    );
    assert_has(&t, &policies, "idle");

    let page_text: String = doc
        .descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect();
    assert!(
        page_text.contains("async shows the first tool result"),
        "the verdict is shown"
    );
    assert!(
        page_text.contains("[tools.search]"),
        "the scenario is shown"
    );
    assert!(
        page_text.contains("<and> an & in the text"),
        "text is escaped and reads back as written"
    );
    // No cost without prices.
    assert!(doc.descendants().all(|n| n.attribute("id") != Some("cost")));
}

#[test]
fn the_page_loads_nothing_from_outside() {
    let html = fixture::html(&fixture::scenario(true), 2);
    let doc = parse(&html);
    for node in doc.descendants().filter(|n| n.is_element()) {
        let tag = node.tag_name().name();
        assert!(
            ![
                "script", "link", "img", "iframe", "object", "embed", "image", "use"
            ]
            .contains(&tag),
            "<{tag}> element"
        );
        for a in node.attributes() {
            match a.name() {
                "src" | "srcset" | "data" | "action" | "poster" => {
                    panic!("<{tag} {}=\"{}\">", a.name(), a.value())
                }
                "href" => assert!(a.value().starts_with('#'), "<{tag} href={}>", a.value()),
                "style" => assert!(!a.value().contains("url("), "{}", a.value()),
                _ => {}
            }
        }
    }
    for style in doc.descendants().filter(|n| n.has_tag_name("style")) {
        let css = style.text().unwrap_or_default();
        assert!(!css.contains("url(") && !css.contains("@import"), "{css}");
    }
    // With prices, cost sits next to latency.
    let cost = doc
        .descendants()
        .find(|n| n.attribute("id") == Some("cost"))
        .expect("a cost section");
    assert!(
        texts(cost)
            .iter()
            .any(|t| t.contains("cost_usd per session"))
    );
}

#[test]
fn a_seed_reproduces_the_page_byte_for_byte() {
    let scenario = fixture::scenario(false);
    let one = fixture::html(&scenario, 1);
    let two = fixture::html(&scenario, 2);
    assert_eq!(one, two, "the page depends on the thread count");
    let mut other = fixture::scenario(false);
    other.seed += 1;
    assert_ne!(one, fixture::html(&other, 2), "the seed changes nothing");
}
