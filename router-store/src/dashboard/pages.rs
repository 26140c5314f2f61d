//! The dashboard's templates (router-store/templates/*.html, built into the binary):
//! minijinja escapes every value for HTML, as it does for any template named `*.html`.

use minijinja::Environment;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
#[error("template {name}: {detail}")]
pub struct RenderError {
    name: &'static str,
    detail: String,
}

#[derive(Debug)]
pub struct Pages {
    env: Environment<'static>,
}

const TEMPLATES: [(&str, &str); 6] = [
    ("base.html", include_str!("../../templates/base.html")),
    ("fleet.html", include_str!("../../templates/fleet.html")),
    ("router.html", include_str!("../../templates/router.html")),
    ("confirm.html", include_str!("../../templates/confirm.html")),
    ("done.html", include_str!("../../templates/done.html")),
    ("error.html", include_str!("../../templates/error.html")),
];

pub const SCRIPT: &str = include_str!("../../templates/dashboard.js");
pub const STYLE: &str = include_str!("../../templates/dashboard.css");

impl Pages {
    /// The templates, compiled. A template that does not compile fails the unit tests.
    pub fn new() -> Result<Pages, RenderError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, text) in TEMPLATES {
            env.add_template(name, text).map_err(|e| RenderError {
                name,
                detail: e.to_string(),
            })?;
        }
        Ok(Pages { env })
    }

    pub fn render(
        &self,
        name: &'static str,
        context: impl Serialize,
    ) -> Result<String, RenderError> {
        let failed = |e: minijinja::Error| RenderError {
            name,
            detail: e.to_string(),
        };
        self.env
            .get_template(name)
            .map_err(failed)?
            .render(context)
            .map_err(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        let pages = Pages::new().expect("templates compile");
        let html = pages
            .render(
                "error.html",
                minijinja::context! { title => "<b>x</b>", message => "a\"<script>" },
            )
            .expect("renders");
        assert!(html.contains("&lt;b&gt;x&lt;&#x2f;b&gt;"), "{html}");
        assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"));
    }
}
