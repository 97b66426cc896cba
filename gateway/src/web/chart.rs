//! Bar charts drawn on the server as SVG: no script, readable by a screen
//! reader as one image with a title and a summary, with the numbers in a
//! table beside them. The geometry is computed here; the template only
//! writes it out.

/// One bar's part: a value in a series.
pub struct Part {
    /// The series' CSS class (`series-1`, …), which sets fill and pattern.
    pub class: &'static str,
    pub value: f64,
}

/// A bar: its label on the axis and its parts, stacked from the bottom.
pub struct Bar {
    pub label: String,
    pub parts: Vec<Part>,
}

/// A rectangle to draw, with what it shows as a tooltip.
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    pub class: &'static str,
    pub title: String,
}

/// A label on the x axis.
pub struct Tick {
    pub x: f64,
    pub text: String,
}

/// A horizontal grid line with its value.
pub struct GridLine {
    pub y: f64,
    pub text: String,
}

/// A chart ready to draw.
pub struct Chart {
    pub id: &'static str,
    pub title: String,
    /// What the chart shows, in words, for those who do not see it.
    pub summary: String,
    pub width: f64,
    pub height: f64,
    pub rects: Vec<Rect>,
    pub ticks: Vec<Tick>,
    pub grid: Vec<GridLine>,
    /// (CSS class, name) of the series, for the legend.
    pub legend: Vec<(&'static str, String)>,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 8.0;

/// A stacked bar chart of `bars`; `unit` formats a value for the axis and
/// the tooltips, `whole` says the values are counts. Series in `legend`
/// order, by class.
pub fn stacked(
    id: &'static str,
    (title, summary): (String, String),
    legend: Vec<(&'static str, String)>,
    bars: &[Bar],
    (unit, whole): (&dyn Fn(f64) -> String, bool),
) -> Chart {
    let highest = bars
        .iter()
        .map(|bar| bar.parts.iter().map(|part| part.value).sum::<f64>())
        .fold(0.0, f64::max);
    // Four steps of a round size; counts step by whole numbers.
    let mut step = nice_ceiling(highest / 4.0);
    if whole {
        step = step.max(1.0);
    }
    let top = step * 4.0;
    let plot_height = HEIGHT - BOTTOM - TOP;
    let slot = (WIDTH - LEFT) / bars.len().max(1) as f64;
    let bar_width = (slot * 0.7).max(1.0);
    let mut rects = Vec::new();
    let mut ticks = Vec::new();
    // At most about 12 labels on the axis.
    let every = bars.len().div_ceil(12).max(1);
    for (index, bar) in bars.iter().enumerate() {
        let x = LEFT + slot * index as f64 + (slot - bar_width) / 2.0;
        let mut base = HEIGHT - BOTTOM;
        for part in bar.parts.iter().filter(|part| part.value > 0.0) {
            let height = part.value / top * plot_height;
            base -= height;
            let series = legend
                .iter()
                .find(|(class, _)| *class == part.class)
                .map_or("", |(_, name)| name.as_str());
            rects.push(Rect {
                x,
                y: base,
                width: bar_width,
                height,
                class: part.class,
                title: format!("{}: {series} {}", bar.label, unit(part.value)),
            });
        }
        if index % every == 0 {
            ticks.push(Tick {
                x: x + bar_width / 2.0,
                text: bar.label.clone(),
            });
        }
    }
    let grid = (0..=4)
        .map(|step| {
            let value = top * f64::from(step) / 4.0;
            GridLine {
                y: HEIGHT - BOTTOM - plot_height * f64::from(step) / 4.0,
                text: unit(value),
            }
        })
        .collect();
    Chart {
        id,
        title,
        summary,
        width: WIDTH,
        height: HEIGHT,
        rects,
        ticks,
        grid,
        legend,
    }
}

/// A round size at least `value`: 1, 2 or 5 times a power of ten.
fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|step| step * power)
        .find(|candidate| *candidate >= value)
        .unwrap_or(10.0 * power)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_axis_ends_on_a_round_number_above_the_highest_bar() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(12.0), 20.0);
        assert_eq!(nice_ceiling(0.34), 0.5);
        assert_eq!(nice_ceiling(50.0), 50.0);
    }

    #[test]
    fn counts_step_by_whole_numbers() {
        let bar = |value| Bar {
            label: String::new(),
            parts: vec![Part {
                class: "series-1",
                value,
            }],
        };
        let grid = |value: f64, whole| {
            let chart = stacked(
                "c",
                (String::new(), String::new()),
                Vec::new(),
                &[bar(value)],
                (&|v| format!("{v:.1}"), whole),
            );
            chart.grid.iter().map(|line| line.text.clone()).collect::<Vec<_>>()
        };
        assert_eq!(grid(1.0, true), ["0.0", "1.0", "2.0", "3.0", "4.0"]);
        assert_eq!(grid(0.0, true), ["0.0", "1.0", "2.0", "3.0", "4.0"]);
        assert_eq!(grid(37.0, true), ["0.0", "10.0", "20.0", "30.0", "40.0"]);
        assert_eq!(grid(0.7, false), ["0.0", "0.2", "0.4", "0.6", "0.8"]);
    }

    #[test]
    fn stacked_parts_fill_the_plot_in_proportion() {
        let bars = [
            Bar {
                label: "Mo".to_owned(),
                parts: vec![
                    Part {
                        class: "series-1",
                        value: 6.0,
                    },
                    Part {
                        class: "series-2",
                        value: 4.0,
                    },
                ],
            },
            Bar {
                label: "Di".to_owned(),
                parts: vec![Part {
                    class: "series-1",
                    value: 5.0,
                }],
            },
        ];
        let legend = vec![("series-1", "online".to_owned()), ("series-2", "Telefon".to_owned())];
        let chart = stacked(
            "c",
            ("T".to_owned(), "S".to_owned()),
            legend,
            &bars,
            (&|v| format!("{v}"), true),
        );
        assert_eq!(chart.rects.len(), 3);
        let plot = HEIGHT - BOTTOM - TOP;
        // The first bar reaches half way (10 of 20).
        assert!((chart.rects[0].height + chart.rects[1].height - plot / 2.0).abs() < 1e-9);
        assert!((chart.rects[1].y - (TOP + plot / 2.0)).abs() < 1e-9);
        assert!((chart.rects[2].height - plot / 4.0).abs() < 1e-9);
        assert_eq!(chart.rects[1].title, "Mo: Telefon 4");
        assert_eq!(chart.ticks.len(), 2);
        // Ten in four steps of 5: the axis ends at 20, in whole numbers.
        let lines: Vec<&str> = chart.grid.iter().map(|line| line.text.as_str()).collect();
        assert_eq!(lines, ["0", "5", "10", "15", "20"]);
    }
}
