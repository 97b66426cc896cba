//! QR codes for the self check-in: a booking's kiosk link, drawn as SVG on
//! the confirmation page and as PNG in the confirmation mail, so a kiosk
//! with a scanner (or a phone) reads it instead of a typed code.

use qrcode::{Color, EcLevel, QrCode};

/// The link a booking's QR code carries: the office's kiosk with the code
/// filled in. A scanner at the kiosk types it into the code field, which
/// takes the code from it.
pub fn check_in_link(base_url: &str, office_id: &str, code: &str) -> String {
    format!("{}/einchecken/{office_id}?code={code}", base_url.trim_end_matches('/'))
}

/// The modules of `text`'s code (true for dark), row by row, with its
/// width; `None` for a text too long for a QR code.
fn modules(text: &str) -> Option<(usize, Vec<bool>)> {
    // Level M survives a crease or a scratch on a printed mail.
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).ok()?;
    let width = code.width();
    let dark = code.to_colors().into_iter().map(|color| color == Color::Dark).collect();
    Some((width, dark))
}

/// Space around the code, in modules, that scanners need (the standard's
/// quiet zone).
const QUIET: usize = 4;

/// The code as an SVG image with `label` as its accessible name; empty for
/// a text too long for a QR code.
pub fn svg(text: &str, label: &str) -> String {
    let Some((width, dark)) = modules(text) else {
        return String::new();
    };
    let size = width + 2 * QUIET;
    let mut path = String::with_capacity(dark.len() * 4);
    for (index, _) in dark.iter().enumerate().filter(|(_, dark)| **dark) {
        let (x, y) = (index % width + QUIET, index / width + QUIET);
        path.push_str(&format!("M{x} {y}h1v1h-1z"));
    }
    let label = label.replace('&', "&amp;").replace('<', "&lt;").replace('"', "&quot;");
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" role=\"img\" aria-label=\"{label}\" \
         shape-rendering=\"crispEdges\"><rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/>\
         <path d=\"{path}\" fill=\"#000\"/></svg>"
    )
}

/// The code as a black-on-white PNG, `scale` pixels per module; `None` for
/// a text too long for a QR code.
pub fn png(text: &str, scale: usize) -> Option<Vec<u8>> {
    let (width, dark) = modules(text)?;
    let scale = scale.max(1);
    let side = (width + 2 * QUIET) * scale;
    let mut pixels = vec![255u8; side * side];
    for (index, _) in dark.iter().enumerate().filter(|(_, dark)| **dark) {
        let (x, y) = ((index % width + QUIET) * scale, (index / width + QUIET) * scale);
        for row in y..y + scale {
            pixels[row * side + x..row * side + x + scale].fill(0);
        }
    }
    let mut out = Vec::new();
    let side = u32::try_from(side).ok()?;
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().ok()?;
    writer.write_image_data(&pixels).ok()?;
    writer.finish().ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_in_link_becomes_a_scannable_image() {
        let link = check_in_link("https://termine.bergkamen.de/", "bergkamen", "ABCD-2345");
        assert_eq!(link, "https://termine.bergkamen.de/einchecken/bergkamen?code=ABCD-2345");
        let (width, dark) = modules(&link).expect("fits");
        // Version 5 (37 modules) holds this link at level M.
        assert_eq!(width, 37);
        // The finder pattern's corner is dark; the quiet zone is not drawn dark.
        assert!(dark[0]);
        let image = svg(&link, "QR-Code \"Check-in\"");
        assert!(image.starts_with("<svg "));
        assert!(image.contains("aria-label=\"QR-Code &quot;Check-in&quot;\""));
        assert!(image.contains("viewBox=\"0 0 45 45\""));
        assert!(image.contains("M4 4h1v1h-1z"));
        let picture = png(&link, 4).expect("png");
        assert!(picture.starts_with(b"\x89PNG\r\n\x1a\n"));
        let decoder = png::Decoder::new(std::io::Cursor::new(&picture));
        let reader = decoder.read_info().expect("readable");
        assert_eq!((reader.info().width, reader.info().height), (180, 180));
    }

    #[test]
    fn a_text_too_long_gets_no_image() {
        let long = "x".repeat(4000);
        assert_eq!(svg(&long, "zu lang"), "");
        assert!(png(&long, 4).is_none());
    }
}
