//! HTML templates (minijinja, auto-escaping on for every `.html` template), compiled into the
//! binary with the stylesheet and the one small script.
//!
//! The templates are constants checked by [`check_templates`] when the server starts (and by
//! the tests), so a broken one stops the start instead of failing requests.

use std::sync::OnceLock;

use minijinja::{Environment, Value};

use crate::error::WebError;

/// The stylesheet, served at `/static/style.css`.
pub const STYLE_CSS: &str = include_str!("../static/style.css");

/// The script (play buttons), served at `/static/app.js`.
pub const APP_JS: &str = include_str!("../static/app.js");

const TEMPLATES: [(&str, &str); 7] = [
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("calls.html", include_str!("../templates/calls.html")),
    ("call.html", include_str!("../templates/call.html")),
    ("audit.html", include_str!("../templates/audit.html")),
    ("users.html", include_str!("../templates/users.html")),
    ("error.html", include_str!("../templates/error.html")),
];

fn environment() -> &'static Result<Environment<'static>, minijinja::Error> {
    static ENV: OnceLock<Result<Environment<'static>, minijinja::Error>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        env.add_filter("when", when);
        env.add_filter("duration", duration);
        env.add_filter("short", short);
        env.add_filter("percent", percent);
        Ok(env)
    })
}

/// Fails (with the template's error) if a template does not compile.
pub fn check_templates() -> Result<(), String> {
    match environment() {
        Ok(_) => Ok(()),
        Err(err) => Err(format!("templates: {err:#}")),
    }
}

/// Renders a template with a context.
pub fn render(name: &str, context: Value) -> Result<String, WebError> {
    let env = environment()
        .as_ref()
        .map_err(|e| WebError::Internal(format!("templates: {e}")))?;
    env.get_template(name)
        .and_then(|t| t.render(context))
        .map_err(|e| WebError::Internal(format!("template {name}: {e:#}")))
}

/// An error page; plain text if even that fails.
pub fn error_page(status: u16, message: &str) -> String {
    let context = minijinja::context! { status, message };
    render("error.html", context).unwrap_or_else(|_| format!("{status}: {message}"))
}

/// `2026-12-04T16:11:37.5Z` as `2026-12-04 16:11:37`.
fn when(value: Option<String>) -> String {
    match value {
        Some(t) => t.get(..19).unwrap_or(&t).replace('T', " "),
        None => "–".into(),
    }
}

/// Seconds as `24.0 s`, `3:05` or `1:02:03`.
fn duration(value: Option<f64>) -> String {
    let Some(s) = value else {
        return "–".into();
    };
    if s < 60.0 {
        return format!("{s:.1} s");
    }
    let total = s.round() as u64;
    let (h, m, sec) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{sec:02}")
    } else {
        format!("{m}:{sec:02}")
    }
}

/// The first 12 characters (of a digest).
fn short(value: Option<String>) -> String {
    value
        .map(|v| v.chars().take(12).collect())
        .unwrap_or_else(|| "–".into())
}

/// `part` of `whole` as a percentage with one decimal.
fn percent(part: f64, whole: f64) -> String {
    if whole <= 0.0 {
        "0.0%".into()
    } else {
        format!("{:.1}%", 100.0 * part / whole)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_compile_and_escape_html() {
        check_templates().unwrap();
        let page = error_page(404, "<script>alert(1)</script>");
        assert!(page.contains("&lt;script&gt;"), "{page}");
        assert!(!page.contains("<script>alert"), "{page}");
    }

    #[test]
    fn filters_format_times_and_durations() {
        assert_eq!(
            when(Some("2026-12-04T16:11:37.123Z".into())),
            "2026-12-04 16:11:37"
        );
        assert_eq!(when(None), "–");
        assert_eq!(duration(Some(7.04)), "7.0 s");
        assert_eq!(duration(Some(185.0)), "3:05");
        assert_eq!(duration(Some(3723.0)), "1:02:03");
        assert_eq!(percent(1.0, 8.0), "12.5%");
        assert_eq!(short(Some("0123456789abcdef".into())), "0123456789ab");
    }
}
