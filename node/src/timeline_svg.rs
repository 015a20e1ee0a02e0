//! Draws a [`Timeline`] as a standalone SVG document: a lane per agent (a row per job it
//! ran at the same time as another), a bar per job coloured by proof type, a time axis in
//! ms or s from the epoch's first start, the critical path outlined in black and joined by
//! a dashed line, and a legend. Written by hand: it is a few rectangles and lines of text.
//!
//! Every bar is a `<rect class="bar">` with `data-job`, `data-type`, `data-agent` and
//! `data-critical` attributes and a `<title>` (a tooltip in a browser), so the drawing can
//! be checked by a program as well as by eye.

use crate::epoch_timeline::{Bar, Timeline};
use provemesh_common::ProofType;
use std::fmt::Write as _;

const WIDTH: f64 = 1200.0;
const LABEL_WIDTH: f64 = 170.0;
const RIGHT_MARGIN: f64 = 30.0;
const TOP: f64 = 64.0;
const ROW_HEIGHT: f64 = 20.0;
const BAR_HEIGHT: f64 = 14.0;
const LANE_PADDING: f64 = 6.0;
/// Room for a lane's two lines of label (agent, job count).
const LANE_MIN_HEIGHT: f64 = 40.0;
const AXIS_HEIGHT: f64 = 34.0;
const LEGEND_ROW: f64 = 22.0;
/// Narrower bars are widened to this, so a very short job is still visible.
const MIN_BAR_WIDTH: f64 = 2.0;
const FONT: &str = "DejaVu Sans, Verdana, Arial, sans-serif";
const CRITICAL_STROKE: &str = "#111111";
const FAILED_STROKE: &str = "#d62728";

/// The fill of each proof type's bars: leaves light, the levels above darker, the root
/// rollup the strongest colour.
pub fn colour(t: ProofType) -> &'static str {
    match t {
        ProofType::BaseParity => "#9ecae1",
        ProofType::RootParity => "#3182bd",
        ProofType::PrivateBaseRollup => "#a1d99b",
        ProofType::PublicBaseRollup => "#41ab5d",
        ProofType::MergeRollup => "#fdae6b",
        ProofType::BlockRootRollup => "#e6550d",
        ProofType::BlockMergeRollup => "#9e9ac8",
        ProofType::RootRollup => "#c51b8a",
    }
}

/// The SVG document.
pub fn render(t: &Timeline) -> String {
    let plot_width = WIDTH - LABEL_WIDTH - RIGHT_MARGIN;
    let span = t.span_ms().max(1) as f64;
    let x_of = |ms: u64| LABEL_WIDTH + (ms.saturating_sub(t.origin_ms) as f64) / span * plot_width;

    // Lane tops, in lane order.
    let mut lane_top = Vec::with_capacity(t.lanes.len());
    let mut y = TOP;
    for lane in &t.lanes {
        lane_top.push(y);
        y += lane_height(lane.rows);
    }
    let plot_bottom = y;
    let types: Vec<ProofType> = ProofType::ALL
        .into_iter()
        .filter(|p| t.bars.iter().any(|b| b.proof_type == *p))
        .collect();
    let any_failed = t.bars.iter().any(|b| !b.proved);
    let legend_items = types.len() + 1 + usize::from(any_failed);
    let legend_per_row = 4;
    let legend_rows = legend_items.div_ceil(legend_per_row);
    let height = plot_bottom + AXIS_HEIGHT + 16.0 + legend_rows as f64 * LEGEND_ROW + 12.0;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="{FONT}" font-size="12">"#
    );
    let _ = writeln!(
        s,
        r##"<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        s,
        r#"<text x="12" y="26" font-size="17" font-weight="bold">{}</text>"#,
        esc(&title(t))
    );
    let _ = writeln!(
        s,
        r##"<text x="12" y="46" fill="#555555">{}</text>"##,
        esc(&subtitle(t))
    );

    // Lanes: alternating background, the agent's name and job count.
    let _ = writeln!(s, r#"<g class="lanes">"#);
    for (i, lane) in t.lanes.iter().enumerate() {
        let top = lane_top[i];
        let h = lane_height(lane.rows);
        let fill = if i % 2 == 0 { "#f4f4f4" } else { "#ffffff" };
        let _ = writeln!(
            s,
            r##"<g class="lane" data-agent="{agent}"><rect x="0" y="{top:.1}" width="{WIDTH}" height="{h:.1}" fill="{fill}"/><text x="12" y="{ty:.1}" font-weight="bold">{agent_text}</text><text x="12" y="{ty2:.1}" fill="#666666" font-size="11">{jobs} job{plural}</text></g>"##,
            agent = esc(&lane.agent),
            agent_text = esc(&clip(&lane.agent, 22)),
            ty = top + LANE_PADDING + 12.0,
            ty2 = top + LANE_PADDING + 25.0,
            jobs = lane.jobs,
            plural = if lane.jobs == 1 { "" } else { "s" },
        );
    }
    let _ = writeln!(s, "</g>");

    // Time axis: grid lines through the lanes, labels below.
    let (step, unit_ms, unit) = tick_step(t.span_ms());
    let _ = writeln!(s, r#"<g class="axis">"#);
    let mut tick = 0u64;
    while tick <= t.span_ms() {
        let x = x_of(t.origin_ms + tick);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{y2:.1}" stroke="#cccccc" stroke-width="1"/><text x="{x:.1}" y="{ty:.1}" text-anchor="middle" fill="#333333">{label}</text>"##,
            y2 = plot_bottom + 4.0,
            ty = plot_bottom + 18.0,
            label = tick_label(tick, unit_ms, unit),
        );
        tick += step;
    }
    let _ = writeln!(
        s,
        r##"<line x1="{LABEL_WIDTH}" y1="{y:.1}" x2="{x2:.1}" y2="{y:.1}" stroke="#333333" stroke-width="1"/><text x="{xm:.1}" y="{ty:.1}" text-anchor="middle" fill="#555555">time since the first job started</text>"##,
        y = plot_bottom,
        x2 = LABEL_WIDTH + plot_width,
        xm = LABEL_WIDTH + plot_width / 2.0,
        ty = plot_bottom + 32.0,
    );
    let _ = writeln!(s, "</g>");

    // Bars.
    let lane_index = |agent: &str| t.lanes.iter().position(|l| l.agent == agent).unwrap_or(0);
    let bar_box = |b: &Bar| {
        let x = x_of(b.start_ms);
        let w = (x_of(b.end_ms) - x).max(MIN_BAR_WIDTH);
        let y = lane_top[lane_index(&b.agent)]
            + LANE_PADDING
            + b.row as f64 * ROW_HEIGHT
            + (ROW_HEIGHT - BAR_HEIGHT) / 2.0;
        (x, y, w)
    };
    let _ = writeln!(s, r#"<g class="bars">"#);
    for b in &t.bars {
        let (x, y, w) = bar_box(b);
        let (stroke, stroke_width, dash) = match (b.critical, b.proved) {
            (true, _) => (CRITICAL_STROKE, 2.5, ""),
            (false, false) => (FAILED_STROKE, 2.0, r#" stroke-dasharray="3 2""#),
            (false, true) => ("#ffffff", 0.8, ""),
        };
        let _ = writeln!(
            s,
            r#"<rect class="bar" data-job="{id}" data-type="{ty}" data-agent="{agent}" data-critical="{critical}" data-proved="{proved}" x="{x:.2}" y="{y:.1}" width="{w:.2}" height="{BAR_HEIGHT}" rx="2" fill="{fill}" stroke="{stroke}" stroke-width="{stroke_width}"{dash}><title>{tip}</title></rect>"#,
            id = b.id.to_hex(),
            ty = b.proof_type,
            agent = esc(&b.agent),
            critical = b.critical,
            proved = b.proved,
            fill = colour(b.proof_type),
            tip = esc(&tooltip(b, t.origin_ms)),
        );
    }
    let _ = writeln!(s, "</g>");

    // The critical path: a dashed line from each job's finish to the next one's start.
    let path: Vec<&Bar> = t.critical_path.iter().filter_map(|id| t.bar(id)).collect();
    let _ = writeln!(s, r#"<g class="critical-path">"#);
    for pair in path.windows(2) {
        let (x1, y1, w1) = bar_box(pair[0]);
        let (x2, y2, _) = bar_box(pair[1]);
        let _ = writeln!(
            s,
            r#"<line x1="{:.2}" y1="{:.1}" x2="{x2:.2}" y2="{:.1}" stroke="{CRITICAL_STROKE}" stroke-width="1.5" stroke-dasharray="4 3"/>"#,
            x1 + w1,
            y1 + BAR_HEIGHT / 2.0,
            y2 + BAR_HEIGHT / 2.0,
        );
    }
    let _ = writeln!(s, "</g>");

    // Legend.
    let legend_top = plot_bottom + AXIS_HEIGHT + 16.0;
    let _ = writeln!(s, r#"<g class="legend">"#);
    let mut item = 0usize;
    let mut place = |s: &mut String, swatch: String, label: &str| {
        let col = (item % legend_per_row) as f64;
        let row = (item / legend_per_row) as f64;
        let x = LABEL_WIDTH + col * 250.0;
        let y = legend_top + row * LEGEND_ROW;
        let _ = writeln!(
            s,
            r#"<g transform="translate({x:.1},{y:.1})">{swatch}<text x="24" y="11">{}</text></g>"#,
            esc(label)
        );
        item += 1;
    };
    for p in &types {
        place(
            &mut s,
            format!(
                r#"<rect class="legend-swatch" data-type="{p}" x="0" y="0" width="18" height="13" rx="2" fill="{}"/>"#,
                colour(*p)
            ),
            p.as_str(),
        );
    }
    place(
        &mut s,
        format!(
            r##"<rect x="0" y="0" width="18" height="13" rx="2" fill="#dddddd" stroke="{CRITICAL_STROKE}" stroke-width="2.5"/>"##
        ),
        "critical path",
    );
    if any_failed {
        place(
            &mut s,
            format!(
                r##"<rect x="0" y="0" width="18" height="13" rx="2" fill="#dddddd" stroke="{FAILED_STROKE}" stroke-width="2" stroke-dasharray="3 2"/>"##
            ),
            "failed",
        );
    }
    let _ = writeln!(s, "</g>");
    s.push_str("</svg>\n");
    s
}

fn lane_height(rows: usize) -> f64 {
    (rows.max(1) as f64 * ROW_HEIGHT + 2.0 * LANE_PADDING).max(LANE_MIN_HEIGHT)
}

fn title(t: &Timeline) -> String {
    format!(
        "Epoch {} — {} job{} on {} agent{}, {} from first start to last finish",
        t.epoch,
        t.bars.len(),
        if t.bars.len() == 1 { "" } else { "s" },
        t.lanes.len(),
        if t.lanes.len() == 1 { "" } else { "s" },
        duration_text(t.span_ms()),
    )
}

fn subtitle(t: &Timeline) -> String {
    let path: Vec<&Bar> = t.critical_path.iter().filter_map(|id| t.bar(id)).collect();
    match (path.first(), path.last()) {
        (Some(first), Some(root)) => {
            let busy: u64 = path.iter().map(|b| b.duration_ms()).sum();
            format!(
                "critical path: {} jobs, {} at {} → root rollup at {}; proving {} of those {} \
                 (the rest is waiting between jobs)",
                path.len(),
                first.proof_type,
                duration_text(first.start_ms.saturating_sub(t.origin_ms)),
                duration_text(root.end_ms.saturating_sub(t.origin_ms)),
                duration_text(busy),
                duration_text(root.end_ms.saturating_sub(first.start_ms)),
            )
        }
        _ => "no root rollup result yet: no critical path".to_string(),
    }
}

fn tooltip(b: &Bar, origin_ms: u64) -> String {
    let mut s = format!(
        "{} {} on {} (attempt {}): {} → {} ms, {}",
        b.proof_type,
        b.id.short(),
        b.agent,
        b.attempt,
        b.start_ms - origin_ms,
        b.end_ms - origin_ms,
        duration_text(b.duration_ms()),
    );
    if let Some(e) = &b.error {
        let _ = write!(s, "; failed: {e}");
    }
    if b.critical {
        s.push_str("; on the critical path");
    }
    s
}

/// A tick step of 1, 2 or 5 × 10^k ms giving at most 10 ticks over `span_ms`, and the
/// unit its labels use: ms for steps under a second, s otherwise.
fn tick_step(span_ms: u64) -> (u64, u64, &'static str) {
    let span = span_ms.max(1);
    let mut step = 1u64;
    'search: loop {
        for m in [1, 2, 5] {
            let s = step * m;
            if span / s <= 10 {
                step = s;
                break 'search;
            }
        }
        step *= 10;
    }
    if step >= 1000 {
        (step, 1000, "s")
    } else {
        (step, 1, "ms")
    }
}

fn tick_label(ms: u64, unit_ms: u64, unit: &str) -> String {
    if unit_ms == 1 {
        format!("{ms} {unit}")
    } else {
        format!("{} {unit}", ms as f64 / unit_ms as f64)
    }
}

fn duration_text(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.2} s", ms as f64 / 1000.0)
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max - 1).collect::<String>())
    }
}

/// Escapes text and attribute values (agent names come from agents' configuration).
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::epoch_timeline::tests::{id, sample};
    use crate::epoch_timeline::Timeline;

    fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
        let key = format!(" {name}=\"");
        let start = tag.find(&key)? + key.len();
        let end = start + tag[start..].find('"')?;
        Some(&tag[start..end])
    }

    fn bars(svg: &str) -> Vec<&str> {
        svg.lines()
            .filter(|l| l.starts_with(r#"<rect class="bar""#))
            .collect()
    }

    #[test]
    fn a_bar_per_job_coloured_by_type_and_the_path_flagged() {
        let t = Timeline::build(&sample());
        let svg = render(&t);
        let bars = bars(&svg);
        assert_eq!(bars.len(), 7);
        for b in &bars {
            let ty: ProofType = attr(b, "data-type").unwrap().parse().unwrap();
            assert_eq!(attr(b, "fill"), Some(colour(ty)));
        }
        let critical: Vec<_> = bars
            .iter()
            .filter(|b| attr(b, "data-critical") == Some("true"))
            .map(|b| attr(b, "data-job").unwrap().to_string())
            .collect();
        assert_eq!(critical.len(), 4);
        assert!(
            critical.contains(&id(7).to_hex()),
            "the root is on the path"
        );
        assert_eq!(
            svg.matches(r#"stroke-dasharray="4 3""#).count(),
            3,
            "a connector between each pair of path jobs"
        );
        assert!(svg.contains(
            "critical path: 4 jobs, private_base_rollup at 0 ms → root rollup at 700 ms; \
             proving 660 ms of those 700 ms"
        ));
    }

    #[test]
    fn lanes_and_bar_positions_follow_the_timeline() {
        let t = Timeline::build(&sample());
        let svg = render(&t);
        assert_eq!(svg.matches(r#"<g class="lane" "#).count(), 2);
        let bars = bars(&svg);
        let x = |job: u8| -> (f64, f64) {
            let b = bars
                .iter()
                .find(|b| attr(b, "data-job") == Some(id(job).to_hex().as_str()))
                .unwrap();
            let x: f64 = attr(b, "x").unwrap().parse().unwrap();
            let w: f64 = attr(b, "width").unwrap().parse().unwrap();
            (x, x + w)
        };
        // Jobs 1–3 start at time 0: the left edge of the plot; the root ends at its right.
        assert!((x(1).0 - LABEL_WIDTH).abs() < 0.01);
        assert!((x(7).1 - (WIDTH - RIGHT_MARGIN)).abs() < 0.01);
        // The merge (310–400 ms of 700) sits where its times say.
        let plot = WIDTH - LABEL_WIDTH - RIGHT_MARGIN;
        assert!((x(5).0 - (LABEL_WIDTH + plot * 310.0 / 700.0)).abs() < 0.01);
        // agent-a's second base is on a second row, below the first.
        let y = |job: u8| -> f64 {
            let b = bars
                .iter()
                .find(|b| attr(b, "data-job") == Some(id(job).to_hex().as_str()))
                .unwrap();
            attr(b, "y").unwrap().parse().unwrap()
        };
        assert!((y(2) - y(1) - ROW_HEIGHT).abs() < 0.01);
    }

    #[test]
    fn legend_lists_the_types_present_and_text_is_escaped() {
        let mut rec = sample();
        rec.results[0].agent = provemesh_common::AgentId("<evil & \"agent\">".into());
        let svg = render(&Timeline::build(&rec));
        assert_eq!(
            svg.matches("legend-swatch").count(),
            6,
            "six types in the sample"
        );
        assert!(svg.contains("critical path</text>"));
        assert!(!svg.contains("<evil"));
        assert!(svg.contains("&lt;evil &amp; &quot;agent&quot;&gt;"));
    }

    #[test]
    fn empty_timeline_still_renders() {
        let svg = render(&Timeline::build(&Default::default()));
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("no critical path"));
    }

    #[test]
    fn ticks_are_round_numbers() {
        assert_eq!(tick_step(700), (100, 1, "ms"));
        assert_eq!(tick_step(95), (10, 1, "ms"));
        assert_eq!(tick_step(1800), (200, 1, "ms"));
        assert_eq!(tick_step(45_000), (5000, 1000, "s"));
        assert_eq!(tick_label(2500, 1000, "s"), "2.5 s");
        assert_eq!(tick_step(0), (1, 1, "ms"));
    }
}
