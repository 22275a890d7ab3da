//! Text bounds: a guest's log lines, failure kinds and messages are cut to a size, never refused.

/// `text` cut to at most `max` bytes on a character boundary, saying how long it was.
pub fn cut(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return text.into();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… (cut: {} bytes in all)", &text[..end], text.len()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        assert_eq!(cut("short", 10), "short");
        let cut_text = cut("ééééé", 3);
        assert!(cut_text.starts_with("é…"), "{cut_text}");
        assert!(cut_text.ends_with("(cut: 10 bytes in all)"), "{cut_text}");
    }
}
