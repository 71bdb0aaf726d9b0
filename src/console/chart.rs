//! Charts of counts per day as inline SVG, drawn on the server (no script):
//! the first series as bars, the second as a line with a dot per day. Each
//! bar and dot carries a `<title>` tooltip; the chart is one `role="img"`
//! with a label that says what it shows.

use chrono::NaiveDate;
use maud::{html, Markup};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// A series: its name (singular noun of the count, e.g. "acquired") and a
/// value for each day.
pub struct Series<'a> {
    pub name: &'a str,
    pub values: Vec<i64>,
}

/// The chart of `bars` and `line` over `days` (oldest first), labelled `label`.
pub fn daily(label: &str, days: &[NaiveDate], bars: &Series, line: &Series) -> Markup {
    let top = nice_max(bars.values.iter().chain(&line.values).copied().max().unwrap_or(0));
    let band = (WIDTH - LEFT - RIGHT) / days.len().max(1) as f64;
    let y = |v: i64| TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - v as f64 / top as f64);
    let x = |i: usize| LEFT + band * (i as f64 + 0.5);
    let points: Vec<String> =
        line.values.iter().enumerate().map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v))).collect();
    let tip = |i: usize, day: &NaiveDate| {
        let (b, l) = (bars.values.get(i).unwrap_or(&0), line.values.get(i).unwrap_or(&0));
        format!("{day}: {b} {}, {l} {}", bars.name, line.name)
    };
    html! {
        figure.chart {
            svg role="img" aria-label=(label) viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } xmlns="http://www.w3.org/2000/svg" {
                title { (label) }
                @for tick in [0, top / 2, top] {
                    line.grid x1=(LEFT) x2=(WIDTH - RIGHT) y1=(y(tick)) y2=(y(tick)) {}
                    text.axis x=(LEFT - 6.0) y=(y(tick) + 4.0) text-anchor="end" { (tick) }
                }
                @for (i, day) in days.iter().enumerate() {
                    @let value = bars.values.get(i).copied().unwrap_or(0);
                    rect.bar x=(format!("{:.1}", x(i) - band * 0.35)) y=(format!("{:.1}", y(value)))
                        width=(format!("{:.1}", band * 0.7)) height=(format!("{:.1}", y(0) - y(value))) {
                        title { (tip(i, day)) }
                    }
                    @if i % 7 == days.len().saturating_sub(1) % 7 {
                        text.axis x=(format!("{:.1}", x(i))) y=(HEIGHT - 8.0) text-anchor="middle" { (day.format("%m-%d")) }
                    }
                }
                polyline.series points=(points.join(" ")) {}
                @for (i, day) in days.iter().enumerate() {
                    @let value = line.values.get(i).copied().unwrap_or(0);
                    circle.series cx=(format!("{:.1}", x(i))) cy=(format!("{:.1}", y(value))) r="3" {
                        title { (tip(i, day)) }
                    }
                }
            }
            figcaption {
                span.key-bar { "■" } " " (bars.name) " (bars)  "
                span.key-line { "●" } " " (line.name) " (line), per UTC day"
            }
        }
    }
}

/// The axis top: at least 1, rounded up to an even number so that the
/// middle tick is a whole count too.
fn nice_max(max: i64) -> i64 {
    let max = max.max(1);
    if max <= 1 {
        return 2;
    }
    max + max % 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(n: u32) -> Vec<NaiveDate> {
        (1..=n).map(|d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap()).collect()
    }

    #[test]
    fn every_day_has_a_bar_and_a_dot_with_a_tooltip() {
        let bars = Series { name: "acquired", values: vec![4, 0, 10] };
        let line = Series { name: "expired", values: vec![1, 0, 3] };

        let svg = daily("Usage", &days(3), &bars, &line).into_string();

        assert_eq!(svg.matches("<rect").count(), 3);
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains("<title>2026-11-03: 10 acquired, 3 expired</title>"), "{svg}");
        assert!(svg.contains("role=\"img\"") && svg.contains("aria-label=\"Usage\""));
    }

    #[test]
    fn the_tallest_bar_reaches_the_top_and_an_empty_chart_still_draws() {
        let bars = Series { name: "acquired", values: vec![10, 5] };
        let line = Series { name: "expired", values: vec![0, 0] };
        let svg = daily("Usage", &days(2), &bars, &line).into_string();
        assert!(svg.contains(&format!("y=\"{TOP:.1}\"")), "{svg}");

        let empty = Series { name: "acquired", values: vec![0; 30] };
        let svg = daily("Usage", &days(30), &empty, &Series { name: "expired", values: vec![0; 30] });
        assert!(!svg.into_string().contains("NaN"));
    }

    #[test]
    fn axis_tops_are_even_and_positive() {
        assert_eq!(nice_max(0), 2);
        assert_eq!(nice_max(7), 8);
        assert_eq!(nice_max(10), 10);
    }
}
