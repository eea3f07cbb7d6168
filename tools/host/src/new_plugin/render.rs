//! A tiny template renderer: `{{key}}` placeholders replaced from a table; an unknown or
//! unterminated placeholder is an error, so a typo in a template cannot ship silently.

/// Replaces every `{{key}}` in `template` with its value in `vars`.
///
/// # Errors
/// A placeholder whose key is not in `vars`, or a `{{` without its `}}`.
pub fn render(template: &str, vars: &[(&str, &str)]) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| format!("unterminated placeholder near `{}`", &rest[start..(start + 20).min(rest.len())]))?;
        let key = after[..end].trim();
        let value = vars.iter().find(|(k, _)| *k == key).map(|(_, v)| *v).ok_or_else(|| format!("unknown placeholder `{{{{{key}}}}}`"))?;
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn replaces_and_rejects() {
        assert_eq!(render("a {{x}} b {{ y }}{{x}}", &[("x", "1"), ("y", "2")]).unwrap(), "a 1 b 21");
        assert_eq!(render("no placeholders { } }}", &[]).unwrap(), "no placeholders { } }}");
        assert!(render("{{nope}}", &[("x", "1")]).unwrap_err().contains("nope"));
        assert!(render("tail {{x", &[("x", "1")]).unwrap_err().contains("unterminated"));
    }
}
