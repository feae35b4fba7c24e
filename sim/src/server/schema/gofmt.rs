//! JSON values printed the way Go's `fmt` prints the `interface{}` values the real server
//! decodes them into, so messages that embed values match byte for byte.

use serde_json::Value;

/// `strconv.Quote`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A float as `%v` prints a float64: shortest digits, exponent form below 1e-4 and from 1e6.
pub fn float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return "0".into();
    }
    let exp = f.abs().log10().floor() as i32;
    if !(-4..6).contains(&exp) {
        // Rust prints `1e6` / `1.5e-5`; Go prints `1e+06` / `1.5e-05`.
        let s = format!("{f:e}");
        let (mantissa, e) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match e.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', e),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    format!("{f}")
}

fn number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        float(n.as_f64().unwrap_or_default())
    }
}

/// `%v`.
pub fn v(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(v).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, x)| format!("{k}:{}", v(x)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// `%#v`.
pub fn sharp_v(value: &Value) -> String {
    match value {
        Value::Null => "interface {}(nil)".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n),
        Value::String(s) => quote(s),
        Value::Array(a) => format!(
            "[]interface {{}}{{{}}}",
            a.iter().map(sharp_v).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "map[string]interface {{}}{{{}}}",
            m.iter()
                .map(|(k, x)| format!("{}:{}", quote(k), sharp_v(x)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `%T`.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prints_like_go() {
        assert_eq!(sharp_v(&json!(true)), "true");
        assert_eq!(
            sharp_v(&json!({"a": "b", "c": [1, 1.5]})),
            r#"map[string]interface {}{"a":"b", "c":[]interface {}{1, 1.5}}"#
        );
        assert_eq!(v(&json!({"a": "b", "c": [1, "x"]})), "map[a:b c:[1 x]]");
        assert_eq!(float(1000000.0), "1e+06");
        assert_eq!(float(123456.0), "123456");
        assert_eq!(float(1.5), "1.5");
        assert_eq!(float(0.00001), "1e-05");
        assert_eq!(float(2.0), "2");
        assert_eq!(quote("a\"b\n"), r#""a\"b\n""#);
        assert_eq!(type_name(&json!("x")), "string");
    }
}
