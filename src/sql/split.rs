//! Splitting revision SQL into statements.
//!
//! Statements are sent one at a time so that a failure can be pinned to a line and column
//! of the revision file. Where one statement ends is only known by lexing the text the way
//! PostgreSQL's scanner (and psql, which has to make the same decision) does: a `;` inside
//! a string, quoted identifier, dollar quote, comment, parenthesis or SQL-standard function
//! body does not end a statement, and getting any of those rules wrong would send
//! PostgreSQL half a statement.

/// One statement of a SQL text, with where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement<'a> {
    /// The statement without leading whitespace/comments and without its terminating `;`
    /// (trailing whitespace trimmed; comments inside or after the first token are kept).
    pub sql: &'a str,
    /// Byte offset of `sql` in the input.
    pub offset: usize,
    /// Byte offset just past the statement's terminating `;`, or the end of the input
    /// when the input ends first.
    pub end: usize,
}

/// Splits `text` into statements in order.
pub fn split(text: &str) -> Vec<Statement<'_>> {
    Splitter::new(text, false)
        .run()
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Sql(statement) => Some(statement),
            Piece::Meta(_) | Piece::CopyData(_) => None,
        })
        .collect()
}

/// One piece of a script written for psql: an SQL statement, a meta-command, or the
/// rows of a `COPY ... FROM stdin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    /// A statement for the server.
    Sql(Statement<'a>),
    /// A command for psql itself.
    Meta(MetaCommand<'a>),
    /// The rows psql feeds to the `COPY ... FROM stdin` before them.
    CopyData(CopyData<'a>),
}

/// The rows after a `COPY ... FROM stdin;`, which psql passes to the server as they are:
/// they are not SQL, so no quote, `;` or backslash in them means anything until a line
/// holding only `\.` (see [`ends_copy_data`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyData<'a> {
    /// The rows, from the start of the line after the COPY to the end of the line
    /// before the `\.` (or to the end of the input).
    pub data: &'a str,
    /// Byte offset of `data` in the input.
    pub offset: usize,
    /// Byte offset just past the `\.` line (its line ending included), or the end of
    /// the input.
    pub end: usize,
    /// Byte offset of the COPY statement the rows are for.
    pub copy_offset: usize,
    /// Whether a `\.` line ended the rows; the input ended first otherwise.
    pub terminated: bool,
}

/// Whether `line` (with or without its `\n` or `\r\n`) is the `\.` that ends the rows
/// of a `COPY ... FROM stdin`, as psql recognises it.
pub fn ends_copy_data(line: &str) -> bool {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    line == "\\."
}

/// Whether a statement is a `COPY ... FROM stdin`, after which psql reads rows from the
/// script. psql learns it from the server's answer; a script splitter can only go by
/// the words: COPY first, and FROM directly followed by STDIN.
fn is_copy_from_stdin(sql: &str) -> bool {
    let mut words = sql
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '"'))
        .filter(|w| !w.is_empty());
    if !words.next().is_some_and(|w| w.eq_ignore_ascii_case("copy")) {
        return false;
    }
    let mut after_from = false;
    for word in words {
        if after_from && word.eq_ignore_ascii_case("stdin") {
            return true;
        }
        after_from = word.eq_ignore_ascii_case("from");
    }
    false
}

/// A psql meta-command (`\restrict KEY`, `\connect DB`), which runs to the end of its
/// line. Only its place is known here; what it means is up to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaCommand<'a> {
    /// The command's name without the backslash: `restrict`, `connect`, `c`.
    pub name: &'a str,
    /// The rest of the line, trimmed.
    pub args: &'a str,
    /// Byte offset of the backslash in the input.
    pub offset: usize,
    /// The meta-command came in the middle of a statement (psql would run it with the
    /// statement half read, as `SELECT 1 \g` does); that statement's text then holds
    /// the meta-command's line too.
    pub in_statement: bool,
}

/// Splits `text` the way psql reads a script: statements as [`split`] finds them, a
/// backslash outside quotes and comments starts a meta-command that takes the rest of
/// the line, and a `COPY ... FROM stdin;` is followed by rows up to a `\.` line. Plain
/// dumps (`pg_dump -Fp`) are such scripts.
///
/// The rows start on the first line that begins with no statement under way after the
/// COPY's `;` (pg_dump puts nothing after it on its line). A COPY whose rows the input
/// never ends still gets a (possibly empty) [`CopyData`], with `terminated` false.
pub fn split_psql(text: &str) -> Vec<Piece<'_>> {
    Splitter::new(text, true).run()
}

/// For each line of `text` (split at `\n`), whether it begins inside a token the scanner
/// reads across lines: a string literal, a quoted identifier, a dollar-quoted body or a
/// block comment. Such a line is content, whatever it looks like (a `-- migrate:` line
/// inside a function body is no section marker).
pub fn lines_inside_tokens(text: &str) -> Vec<bool> {
    let mut splitter = Splitter::new(text, false);
    splitter.multiline = Some(Vec::new());
    splitter.scan();
    let mut spans = splitter
        .multiline
        .unwrap_or_default()
        .into_iter()
        .peekable();
    let mut inside = Vec::new();
    let mut offset = 0;
    for line in text.split('\n') {
        while spans.peek().is_some_and(|&(_, end)| end <= offset) {
            spans.next();
        }
        inside.push(
            spans
                .peek()
                .is_some_and(|&(start, end)| start < offset && offset < end),
        );
        offset += line.len() + 1;
    }
    inside
}

/// The `:name` placeholders of `text` (a batch statement's `:lo` and `:hi`), as the
/// byte offset of the colon and the name: only where the scanner reads a lone `:` before
/// an identifier, so casts (`x::int`), literals, quoted identifiers, bodies and comments
/// never hold one.
pub fn placeholders(text: &str) -> Vec<(usize, &str)> {
    let mut splitter = Splitter::new(text, false);
    splitter.colons = Some(Vec::new());
    splitter.scan();
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    for at in splitter.colons.unwrap_or_default() {
        let cast_before = at > 0 && bytes.get(at - 1) == Some(&b':');
        let start = at + 1;
        if cast_before || !bytes.get(start).copied().is_some_and(is_ident_start) {
            continue;
        }
        let mut end = start + 1;
        while bytes.get(end).copied().is_some_and(is_ident_cont) {
            end += 1;
        }
        if let Some(name) = text.get(start..end) {
            found.push((at, name));
        }
    }
    found
}

/// 1-based (line, column) of a byte offset in `text`; the column counts characters
/// (not bytes) from the start of the line, 1-based. Offsets past the end clamp to the end.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    // An offset inside a multi-byte character points at that character.
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = text.get(..offset).unwrap_or_default();
    let line = 1 + before.bytes().filter(|&b| b == b'\n').count();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = 1 + before.get(line_start..).unwrap_or_default().chars().count();
    (line, column)
}

/// PostgreSQL reports an error position as a 1-based index in CHARACTERS into the query
/// string it was sent. Converts such a position in `statement` to a byte offset in it
/// (clamped to the statement's length).
pub fn char_position_to_byte(statement: &str, position: u32) -> usize {
    let Some(index) = usize::try_from(position)
        .ok()
        .and_then(|p| p.checked_sub(1))
    else {
        // 0 is "no position"; the start of the statement is the least surprising place.
        return 0;
    };
    statement
        .char_indices()
        .nth(index)
        .map_or(statement.len(), |(byte, _)| byte)
}

/// PostgreSQL's `space`: no Unicode whitespace, the scanner treats those bytes as
/// identifier characters.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// `ident_start`: every byte of a multi-byte character counts as a letter.
fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

/// `dolq_cont`: an identifier character other than `$`.
fn is_dolq_cont(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit()
}

fn is_ident_cont(b: u8) -> bool {
    is_dolq_cont(b) || b == b'$'
}

struct Splitter<'a> {
    text: &'a str,
    bytes: &'a [u8],
    /// Whether a backslash starts a meta-command (psql) or is just a character (the
    /// server, which rejects it outside strings).
    psql: bool,
    pieces: Vec<Piece<'a>>,
    /// Where the current statement's first token starts, once it has one.
    start: Option<usize>,
    /// psql does not end a statement at a `;` inside parentheses (multi-action rules).
    paren_depth: usize,
    /// Open BEGIN/CASE blocks inside a `BEGIN ATOMIC` function body; 0 outside one.
    atomic_depth: usize,
    /// The previous token was the keyword BEGIN, so an ATOMIC now opens a body.
    after_begin: bool,
    /// Byte offset of a `COPY ... FROM stdin` that ended and whose rows have not
    /// started yet (psql mode only).
    copy_pending: Option<usize>,
    /// When recording: the spans of the tokens read across a line break (string
    /// literals, quoted identifiers, dollar-quoted bodies, block comments).
    multiline: Option<Vec<(usize, usize)>>,
    /// When recording: the offsets of the `:` characters read as tokens of their own
    /// (outside literals, quoted identifiers, bodies and comments).
    colons: Option<Vec<usize>>,
}

impl<'a> Splitter<'a> {
    fn new(text: &'a str, psql: bool) -> Self {
        Splitter {
            text,
            bytes: text.as_bytes(),
            psql,
            pieces: Vec::new(),
            start: None,
            paren_depth: 0,
            atomic_depth: 0,
            after_begin: false,
            copy_pending: None,
            multiline: None,
            colons: None,
        }
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.bytes.get(i).copied()
    }

    fn run(mut self) -> Vec<Piece<'a>> {
        self.scan();
        self.pieces
    }

    fn scan(&mut self) {
        let len = self.bytes.len();
        let mut pos = 0;
        while let Some(b) = self.at(pos) {
            let next = self.at(pos + 1);
            let start = pos;
            pos = match b {
                b'\n' if self.start.is_none() && self.copy_pending.is_some() => {
                    self.copy_data(pos + 1)
                }
                _ if is_space(b) => pos + 1,
                b'-' if next == Some(b'-') => self.skip_line_comment(pos + 2),
                b'/' if next == Some(b'*') => match self.skip_block_comment(pos + 2) {
                    Some(end) => end,
                    None => {
                        // Unterminated: keep it so PostgreSQL reports it instead of the
                        // text silently vanishing.
                        self.start.get_or_insert(pos);
                        len
                    }
                },
                b';' if self.paren_depth == 0 && self.atomic_depth == 0 => {
                    self.finish(pos, pos + 1);
                    pos + 1
                }
                b'\\' if self.psql => self.meta(pos),
                _ if is_ident_start(b) => self.identifier(pos),
                _ => {
                    self.token(pos);
                    match b {
                        b'\'' => self.skip_string(pos + 1, false),
                        b'"' => self.skip_quoted_identifier(pos + 1),
                        b'$' => self.dollar(pos),
                        b'0'..=b'9' => self.skip_number(pos),
                        b'(' => {
                            self.paren_depth += 1;
                            pos + 1
                        }
                        b')' => {
                            self.paren_depth = self.paren_depth.saturating_sub(1);
                            pos + 1
                        }
                        b':' => {
                            if let Some(colons) = self.colons.as_mut() {
                                colons.push(pos);
                            }
                            pos + 1
                        }
                        _ => pos + 1,
                    }
                }
            };
            if let Some(spans) = self.multiline.as_mut() {
                if self
                    .bytes
                    .get(start..pos)
                    .is_some_and(|t| t.contains(&b'\n'))
                {
                    spans.push((start, pos));
                }
            }
        }
        self.finish(len, len);
        if let Some(copy_offset) = self.copy_pending.take() {
            self.pieces.push(Piece::CopyData(CopyData {
                data: "",
                offset: len,
                end: len,
                copy_offset,
                terminated: false,
            }));
        }
    }

    /// The rows of the pending COPY, from `start` (a line start) through the `\.` line.
    fn copy_data(&mut self, start: usize) -> usize {
        let Some(copy_offset) = self.copy_pending.take() else {
            return start;
        };
        let len = self.bytes.len();
        let mut line_start = start;
        let (data_end, end, terminated) = loop {
            if line_start >= len {
                break (len, len, false);
            }
            let line_end = self
                .text
                .get(line_start..)
                .and_then(|rest| rest.find('\n'))
                .map_or(len, |i| line_start + i + 1);
            let line = self.text.get(line_start..line_end).unwrap_or_default();
            if ends_copy_data(line) {
                break (line_start, line_end, true);
            }
            line_start = line_end;
        };
        self.pieces.push(Piece::CopyData(CopyData {
            data: self.text.get(start..data_end).unwrap_or_default(),
            offset: start,
            end,
            copy_offset,
            terminated,
        }));
        end
    }

    /// A meta-command at the backslash `pos`: its name runs to the first whitespace,
    /// its arguments to the end of the line.
    fn meta(&mut self, pos: usize) -> usize {
        let end = self
            .text
            .get(pos..)
            .and_then(|rest| rest.find('\n'))
            .map_or(self.bytes.len(), |i| pos + i);
        let line = self.text.get(pos + 1..end).unwrap_or_default();
        let (name, args) = line
            .split_once(|c: char| c.is_ascii_whitespace())
            .unwrap_or((line, ""));
        self.pieces.push(Piece::Meta(MetaCommand {
            name,
            args: args.trim(),
            offset: pos,
            in_statement: self.start.is_some(),
        }));
        end
    }

    /// A token other than an identifier: it starts the statement if nothing has yet.
    fn token(&mut self, pos: usize) {
        self.start.get_or_insert(pos);
        self.after_begin = false;
    }

    /// Ends the statement under way at `at` (its `;`, or the end of the text); `end` is
    /// just past the terminator.
    fn finish(&mut self, at: usize, end: usize) {
        if let Some(start) = self.start.take() {
            let sql = self
                .text
                .get(start..at)
                .unwrap_or_default()
                .trim_end_matches(|c: char| u8::try_from(c).is_ok_and(is_space));
            if !sql.is_empty() {
                if self.psql && at < self.bytes.len() && is_copy_from_stdin(sql) {
                    self.copy_pending = Some(start);
                }
                self.pieces.push(Piece::Sql(Statement {
                    sql,
                    offset: start,
                    end,
                }));
            }
        }
        self.paren_depth = 0;
        self.atomic_depth = 0;
        self.after_begin = false;
    }

    /// Scans an identifier or keyword at `pos`, which may turn out to be the prefix of
    /// a string (`E'…'`, `B'…'`, `X'…'`, `N'…'`, `U&'…'`) or of `U&"…"`.
    fn identifier(&mut self, pos: usize) -> usize {
        self.start.get_or_insert(pos);
        let was_begin = std::mem::replace(&mut self.after_begin, false);
        let mut end = pos + 1;
        while self.at(end).is_some_and(is_ident_cont) {
            end += 1;
        }
        let word = self.bytes.get(pos..end).unwrap_or_default();
        // The scanner takes the longest match, so a prefix only counts when the
        // identifier is that single letter: `name'\'` is a name and a standard string.
        if let [letter] = word {
            match (letter.to_ascii_lowercase(), self.at(end), self.at(end + 1)) {
                (b'e', Some(b'\''), _) => return self.skip_string(end + 1, true),
                (b'b' | b'x' | b'n', Some(b'\''), _) => return self.skip_string(end + 1, false),
                (b'u', Some(b'&'), Some(b'\'')) => return self.skip_string(end + 2, false),
                (b'u', Some(b'&'), Some(b'"')) => return self.skip_quoted_identifier(end + 2),
                _ => {}
            }
        }
        self.keyword(word, was_begin);
        end
    }

    /// Tracks `BEGIN ATOMIC … END` bodies, whose statements end in `;` but belong to the
    /// CREATE FUNCTION/PROCEDURE. Like psql, only at parenthesis depth 0: that keeps a
    /// column named `begin` inside parentheses from being counted.
    fn keyword(&mut self, word: &[u8], was_begin: bool) {
        let is = |keyword: &[u8]| word.eq_ignore_ascii_case(keyword);
        if self.paren_depth != 0 {
            return;
        }
        if self.atomic_depth > 0 {
            // CASE … END shares END with BEGIN … END, so both open a level.
            if is(b"begin") || is(b"case") {
                self.atomic_depth += 1;
            } else if is(b"end") {
                self.atomic_depth -= 1;
            }
        } else if was_begin && is(b"atomic") {
            self.atomic_depth = 1;
        } else {
            self.after_begin = is(b"begin");
        }
    }

    /// `--` comments run to a newline (`\n` or `\r`), which is left as whitespace.
    fn skip_line_comment(&self, mut pos: usize) -> usize {
        while self.at(pos).is_some_and(|b| b != b'\n' && b != b'\r') {
            pos += 1;
        }
        pos
    }

    /// From just after `/*`: the end of the comment, or `None` if it never closes.
    /// PostgreSQL nests block comments, unlike the SQL standard's wording and most
    /// other databases.
    fn skip_block_comment(&self, mut pos: usize) -> Option<usize> {
        let mut depth = 1usize;
        while let Some(b) = self.at(pos) {
            match (b, self.at(pos + 1)) {
                (b'*', Some(b'/')) => {
                    depth -= 1;
                    pos += 2;
                    if depth == 0 {
                        return Some(pos);
                    }
                }
                (b'/', Some(b'*')) => {
                    depth += 1;
                    pos += 2;
                }
                _ => pos += 1,
            }
        }
        None
    }

    /// From just after the opening quote of a string literal to just after its closing
    /// quote (or the end of the text). `backslash` is set for `E'…'`: with
    /// standard_conforming_strings on, nothing else treats `\` as an escape.
    fn skip_string(&self, mut pos: usize, backslash: bool) -> usize {
        loop {
            match self.at(pos) {
                None => return self.bytes.len(),
                Some(b'\\') if backslash => pos += 2,
                Some(b'\'') => {
                    if self.at(pos + 1) == Some(b'\'') {
                        pos += 2;
                    } else if let Some(resume) = self.quote_continuation(pos + 1) {
                        // `E'a'<newline>'\''` is one E string: the continuation keeps
                        // the backslash rules of the string it continues.
                        pos = resume;
                    } else {
                        return pos + 1;
                    }
                }
                Some(_) => pos += 1,
            }
        }
    }

    /// The scanner's `quotecontinue`: whitespace holding at least one newline (and maybe
    /// `--` comments) followed by another quote continues the same string. Returns the
    /// position just after that quote.
    fn quote_continuation(&self, mut pos: usize) -> Option<usize> {
        // Horizontal whitespace and comments up to the first newline.
        loop {
            match self.at(pos)? {
                b' ' | b'\t' | 0x0c => pos += 1,
                b'-' if self.at(pos + 1) == Some(b'-') => pos = self.skip_line_comment(pos + 2),
                _ => break,
            }
        }
        match self.at(pos)? {
            b'\n' | b'\r' => pos += 1,
            _ => return None,
        }
        loop {
            match self.at(pos)? {
                b'\'' => return Some(pos + 1),
                b if is_space(b) => pos += 1,
                b'-' if self.at(pos + 1) == Some(b'-') => pos = self.skip_line_comment(pos + 2),
                _ => return None,
            }
        }
    }

    /// From just after the opening `"` to just after the closing one; `""` is a quote.
    fn skip_quoted_identifier(&self, mut pos: usize) -> usize {
        loop {
            match self.at(pos) {
                None => return self.bytes.len(),
                Some(b'"') if self.at(pos + 1) == Some(b'"') => pos += 2,
                Some(b'"') => return pos + 1,
                Some(_) => pos += 1,
            }
        }
    }

    /// A `$` where no identifier continues: a dollar quote `$tag$…$tag$`, a parameter
    /// `$1`, or a lone `$`.
    fn dollar(&self, pos: usize) -> usize {
        let mut tag_end = pos + 1;
        match self.at(tag_end) {
            Some(b) if b.is_ascii_digit() => {
                while self.at(tag_end).is_some_and(|b| b.is_ascii_digit()) {
                    tag_end += 1;
                }
                return tag_end;
            }
            Some(b) if is_ident_start(b) => {
                while self.at(tag_end).is_some_and(is_dolq_cont) {
                    tag_end += 1;
                }
            }
            _ => {}
        }
        if self.at(tag_end) != Some(b'$') {
            // `$abc` without a closing `$`: PostgreSQL keeps only the `$` and rescans.
            return pos + 1;
        }
        let body = tag_end + 1;
        let (Some(delimiter), Some(rest)) = (self.text.get(pos..body), self.text.get(body..))
        else {
            return self.bytes.len();
        };
        // Searching for the exact delimiter matches the scanner, which only ever ends
        // the quote at a delimiter equal to the opening one.
        rest.find(delimiter)
            .map_or(self.bytes.len(), |i| body + i + delimiter.len())
    }

    /// Numbers never contain `$`, so `1$$…$$` is a number and a dollar quote, while
    /// letters after a number go on as an identifier that can hold `$` (`1e$$` is not
    /// a dollar quote).
    fn skip_number(&self, mut pos: usize) -> usize {
        let radix_prefix = self.at(pos) == Some(b'0')
            && self
                .at(pos + 1)
                .is_some_and(|b| matches!(b.to_ascii_lowercase(), b'x' | b'o' | b'b'))
            && self
                .at(pos + 2)
                .is_some_and(|b| b.is_ascii_hexdigit() || b == b'_');
        if radix_prefix {
            pos += 2;
            while self
                .at(pos)
                .is_some_and(|b| b.is_ascii_hexdigit() || b == b'_')
            {
                pos += 1;
            }
            return pos;
        }
        while self
            .at(pos)
            .is_some_and(|b| b.is_ascii_digit() || b == b'_' || b == b'.')
        {
            pos += 1;
        }
        if self.at(pos).is_some_and(|b| b == b'e' || b == b'E') {
            let digits = match self.at(pos + 1) {
                Some(b'+' | b'-') => pos + 2,
                _ => pos + 1,
            };
            if self.at(digits).is_some_and(|b| b.is_ascii_digit()) {
                pos = digits;
                while self.at(pos).is_some_and(|b| b.is_ascii_digit()) {
                    pos += 1;
                }
            }
        }
        pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (sql, offset) pairs, the shape most assertions want.
    fn parts(text: &str) -> Vec<(&str, usize)> {
        split(text).into_iter().map(|s| (s.sql, s.offset)).collect()
    }

    /// A psql script's pieces: statements as text, meta-commands as `\name args`.
    fn psql_parts(text: &str) -> Vec<String> {
        split_psql(text)
            .into_iter()
            .map(|piece| match piece {
                Piece::Sql(s) => format!("{}@{}", s.sql, s.offset),
                Piece::CopyData(c) => format!(
                    "rows {:?}@{}..{} for @{}{}",
                    c.data,
                    c.offset,
                    c.end,
                    c.copy_offset,
                    if c.terminated { "" } else { " (unterminated)" }
                ),
                Piece::Meta(m) => format!(
                    "\\{} {}@{}{}",
                    m.name,
                    m.args,
                    m.offset,
                    if m.in_statement {
                        " (in statement)"
                    } else {
                        ""
                    }
                ),
            })
            .collect()
    }

    #[test]
    fn psql_mode_takes_meta_commands_to_the_end_of_their_line() {
        let dump = "--\n-- header\n--\n\n\\restrict AbC12\r\n\nSET x = 1;\n\\connect -reuse-previous=on \"dbname='a b'\"\nCREATE TABLE t (s text DEFAULT '\\x; \\y');\n\\unrestrict AbC12\n";
        assert_eq!(
            psql_parts(dump),
            [
                "\\restrict AbC12@17",
                "SET x = 1@35",
                "\\connect -reuse-previous=on \"dbname='a b'\"@46",
                "CREATE TABLE t (s text DEFAULT '\\x; \\y')@89",
                "\\unrestrict AbC12@131",
            ]
        );
        // The same text for the server: a backslash outside a string is just a character,
        // so wire mode leaves it to PostgreSQL to reject.
        assert_eq!(split(dump).len(), 3);
    }

    #[test]
    fn psql_mode_leaves_backslashes_in_quotes_comments_and_bodies_alone() {
        assert_eq!(
            psql_parts("SELECT E'\\n', \"a\\b\" /* \\x */ -- \\y\n; DO $$ \\z $$;"),
            [
                "SELECT E'\\n', \"a\\b\" /* \\x */ -- \\y@0",
                "DO $$ \\z $$@37"
            ]
        );
    }

    #[test]
    fn psql_mode_passes_copy_rows_through_as_they_are() {
        let dump = "COPY public.t (id, s) FROM stdin;\n\
                    1\ta;b\n\
                    2\tit's \"x\n\
                    3\t$$ /* -- \\N\n\
                    \\.\n\
                    SELECT 1;\n";
        assert_eq!(
            psql_parts(dump),
            [
                "COPY public.t (id, s) FROM stdin@0",
                "rows \"1\\ta;b\\n2\\tit's \\\"x\\n3\\t$$ /* -- \\\\N\\n\"@34..67 for @0",
                "SELECT 1@67",
            ]
        );
        // Read as SQL, the `;` of the first row would end a statement and the quote of
        // the second would swallow the rest.
        assert_eq!(split(dump).len(), 3);
    }

    #[test]
    fn psql_mode_copy_rows_with_crlf_and_without_an_end() {
        let dump =
            "copy t from STDIN;\r\na\r\n\\.\r\nCOPY u FROM stdin WITH (FORMAT csv);\r\n\"x;\r\n";
        assert_eq!(
            psql_parts(dump),
            [
                "copy t from STDIN@0",
                "rows \"a\\r\\n\"@20..27 for @0",
                "COPY u FROM stdin WITH (FORMAT csv)@27",
                "rows \"\\\"x;\\r\\n\"@65..70 for @27 (unterminated)",
            ]
        );
        // Ending the text on the COPY still says that rows were due.
        assert_eq!(
            psql_parts("COPY t FROM stdin;"),
            [
                "COPY t FROM stdin@0",
                "rows \"\"@18..18 for @0 (unterminated)"
            ]
        );
        // `\.` without a line ending at the very end ends the rows too.
        assert_eq!(
            psql_parts("COPY t FROM stdin;\n1\n\\."),
            ["COPY t FROM stdin@0", "rows \"1\\n\"@19..23 for @0"]
        );
    }

    #[test]
    fn psql_mode_only_copy_from_stdin_has_rows() {
        assert_eq!(
            psql_parts("COPY t TO stdout;\nCOPY t FROM '/x';\n\\.\n"),
            ["COPY t TO stdout@0", "COPY t FROM '/x'@18", "\\. @36"]
        );
        // Rows begin on the line after the one the COPY ends on.
        assert_eq!(
            psql_parts("COPY t FROM stdin; -- rows follow\nx;y\n\\.\nSELECT 2;"),
            [
                "COPY t FROM stdin@0",
                "rows \"x;y\\n\"@34..41 for @0",
                "SELECT 2@41"
            ]
        );
    }

    #[test]
    fn psql_mode_end_marker_inside_a_dollar_quote_ends_nothing() {
        let dump = "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$\n\
                    SELECT 'COPY t FROM stdin;'\n\
                    \\.\n\
                    $$;\n\
                    \\connect other\n";
        assert_eq!(
            psql_parts(dump),
            [
                "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$\nSELECT 'COPY t FROM stdin;'\n\\.\n$$@0",
                "\\connect other@87",
            ]
        );
    }

    #[test]
    fn end_marker_is_a_line_of_its_own() {
        assert!(ends_copy_data("\\."));
        assert!(ends_copy_data("\\.\n"));
        assert!(ends_copy_data("\\.\r\n"));
        assert!(!ends_copy_data("\\. \n"));
        assert!(!ends_copy_data(" \\.\n"));
        assert!(!ends_copy_data("\\.x"));
    }

    #[test]
    fn psql_mode_marks_a_meta_command_inside_a_statement() {
        assert_eq!(
            psql_parts("SELECT 1 \\g\nSELECT 2;\n\\q"),
            [
                "\\g @9 (in statement)",
                "SELECT 1 \\g\nSELECT 2@0",
                "\\q @22"
            ]
        );
    }

    #[test]
    fn splits_at_semicolons() {
        assert_eq!(
            parts("SELECT 1; SELECT 2;\nSELECT 3"),
            [("SELECT 1", 0), ("SELECT 2", 10), ("SELECT 3", 20)]
        );
    }

    #[test]
    fn drops_empty_statements() {
        assert_eq!(parts(""), []);
        assert_eq!(
            parts(" \n\t;;; -- only a comment\n/* and another */ ;\n"),
            []
        );
        assert_eq!(parts(";;SELECT 1;;"), [("SELECT 1", 2)]);
    }

    #[test]
    fn skips_leading_comments_and_keeps_the_rest() {
        assert_eq!(
            parts("-- header\n/* block */ SELECT /* inner; */ 1 -- trailing; \n;"),
            [("SELECT /* inner; */ 1 -- trailing;", 22)]
        );
    }

    #[test]
    fn trims_trailing_whitespace() {
        assert_eq!(parts("SELECT 1 \t\r\n ;"), [("SELECT 1", 0)]);
    }

    #[test]
    fn doubled_quote_stays_in_string() {
        assert_eq!(
            parts("SELECT 'it''s; here'; SELECT 2"),
            [("SELECT 'it''s; here'", 0), ("SELECT 2", 22)]
        );
    }

    #[test]
    fn backslash_escapes_quote_in_escape_string() {
        assert_eq!(
            parts(r"SELECT E'a\'; b'; SELECT e'\\'; SELECT 3"),
            [
                (r"SELECT E'a\'; b'", 0),
                (r"SELECT e'\\'", 18),
                ("SELECT 3", 32)
            ]
        );
    }

    #[test]
    fn backslash_is_literal_in_standard_string() {
        assert_eq!(
            parts(r"SELECT 'C:\'; SELECT 2"),
            [(r"SELECT 'C:\'", 0), ("SELECT 2", 14)]
        );
    }

    #[test]
    fn escape_prefix_needs_a_one_letter_identifier() {
        // `name '…'` is a typed literal: a standard string, so `\` does not escape.
        assert_eq!(
            parts(r"SELECT name'\'; SELECT 2"),
            [(r"SELECT name'\'", 0), ("SELECT 2", 16)]
        );
    }

    #[test]
    fn continued_escape_string_keeps_backslash_escapes() {
        assert_eq!(
            parts("SELECT E'a'\n  -- note\n'\\'; still'; SELECT 2"),
            [
                ("SELECT E'a'\n  -- note\n'\\'; still'", 0),
                ("SELECT 2", 35)
            ]
        );
    }

    #[test]
    fn unicode_bit_hex_and_national_strings() {
        assert_eq!(
            parts(r"SELECT U&'\'; SELECT u&'d\0061;'; SELECT B'1;0', X'1F;', N'n;'; SELECT 4"),
            [
                (r"SELECT U&'\'", 0),
                (r"SELECT u&'d\0061;'", 14),
                ("SELECT B'1;0', X'1F;', N'n;'", 34),
                ("SELECT 4", 64),
            ]
        );
    }

    #[test]
    fn quoted_identifiers() {
        assert_eq!(
            parts(r#"SELECT 1 AS "semi;colon""x"; SELECT U&"d\0061;t"; SELECT 3"#),
            [
                (r#"SELECT 1 AS "semi;colon""x""#, 0),
                (r#"SELECT U&"d\0061;t""#, 29),
                ("SELECT 3", 50),
            ]
        );
    }

    #[test]
    fn dollar_quotes() {
        assert_eq!(
            parts("SELECT $$a;b$$; SELECT $tag$ $$; $ $tag$; SELECT $Tag$ $tag$; $Tag$"),
            [
                ("SELECT $$a;b$$", 0),
                ("SELECT $tag$ $$; $ $tag$", 16),
                ("SELECT $Tag$ $tag$; $Tag$", 42),
            ]
        );
    }

    #[test]
    fn dollar_inside_identifier_is_not_a_quote() {
        assert_eq!(
            parts("SELECT a$b$ FROM t; SELECT $b$"),
            [("SELECT a$b$ FROM t", 0), ("SELECT $b$", 20)]
        );
    }

    #[test]
    fn parameter_is_not_a_dollar_quote() {
        assert_eq!(
            parts("PREPARE p AS SELECT $1; EXECUTE p(1); SELECT $1$; SELECT 4"),
            [
                ("PREPARE p AS SELECT $1", 0),
                ("EXECUTE p(1)", 24),
                ("SELECT $1$", 38),
                ("SELECT 4", 50),
            ]
        );
    }

    #[test]
    fn dollar_quote_may_follow_a_number_but_not_a_word() {
        assert_eq!(
            parts("SELECT 1$$;$$; SELECT 2"),
            [("SELECT 1$$;$$", 0), ("SELECT 2", 15)]
        );
        assert_eq!(
            parts("SELECT 1e$$; SELECT 2"),
            [("SELECT 1e$$", 0), ("SELECT 2", 13)]
        );
    }

    #[test]
    fn line_comments() {
        assert_eq!(
            parts("SELECT 1; -- a; b\nSELECT 2 -- c; d\r\n; SELECT 3"),
            [("SELECT 1", 0), ("SELECT 2 -- c; d", 18), ("SELECT 3", 38)]
        );
    }

    #[test]
    fn block_comments_nest() {
        assert_eq!(
            parts("/* a /* b; */ still; */ SELECT 1; SELECT /*/ ; */ 2 **/; SELECT 3"),
            [
                ("SELECT 1", 24),
                ("SELECT /*/ ; */ 2 **/", 34),
                ("SELECT 3", 57)
            ]
        );
    }

    #[test]
    fn begin_atomic_body_is_one_statement() {
        let text = "CREATE FUNCTION f() RETURNS int LANGUAGE sql\n\
                    BEGIN ATOMIC\n  SELECT 1;\n  SELECT 2;\nEND;\nSELECT 3;";
        assert_eq!(
            parts(text),
            [
                (
                    "CREATE FUNCTION f() RETURNS int LANGUAGE sql\n\
                     BEGIN ATOMIC\n  SELECT 1;\n  SELECT 2;\nEND",
                    0
                ),
                ("SELECT 3", 87),
            ]
        );
    }

    #[test]
    fn case_inside_begin_atomic_closes_with_its_own_end() {
        let text = "CREATE OR REPLACE PROCEDURE p() begin /* c */ atomic \
                    INSERT INTO t SELECT CASE WHEN true THEN 1 ELSE 2 END; \
                    INSERT INTO t VALUES (CASE WHEN false THEN 3 END); end; SELECT 4";
        assert_eq!(
            parts(text),
            [
                (
                    "CREATE OR REPLACE PROCEDURE p() begin /* c */ atomic \
                     INSERT INTO t SELECT CASE WHEN true THEN 1 ELSE 2 END; \
                     INSERT INTO t VALUES (CASE WHEN false THEN 3 END); end",
                    0
                ),
                ("SELECT 4", 164),
            ]
        );
    }

    #[test]
    fn plain_begin_is_a_statement() {
        assert_eq!(
            parts(
                "BEGIN; SELECT 1; END; BEGIN TRANSACTION; SELECT CASE WHEN true THEN 1 END; COMMIT;"
            ),
            [
                ("BEGIN", 0),
                ("SELECT 1", 7),
                ("END", 17),
                ("BEGIN TRANSACTION", 22),
                ("SELECT CASE WHEN true THEN 1 END", 41),
                ("COMMIT", 75),
            ]
        );
        // ATOMIC only counts right after BEGIN.
        assert_eq!(
            parts("BEGIN; atomic; END;"),
            [("BEGIN", 0), ("atomic", 7), ("END", 15)]
        );
    }

    #[test]
    fn semicolons_inside_parentheses_do_not_split() {
        let text = "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); \
                    INSERT INTO b VALUES (2)); SELECT 1)); SELECT 2";
        assert_eq!(
            parts(text),
            [
                (
                    "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); \
                     INSERT INTO b VALUES (2))",
                    0
                ),
                ("SELECT 1))", 94),
                ("SELECT 2", 106),
            ]
        );
    }

    #[test]
    fn function_with_dollar_body_and_nested_quote() {
        let text = "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$\n\
                    BEGIN\n  EXECUTE $inner$ SELECT ';'; $x$ $inner$;\n  PERFORM 1;\nEND;\n$$;\n\
                    SELECT f();";
        let body_end = text.find("$$;\n").expect("body end") + 2;
        assert_eq!(
            parts(text),
            [(&text[..body_end], 0), ("SELECT f()", body_end + 2)]
        );
    }

    #[test]
    fn do_block() {
        let text =
            "DO $do$\nBEGIN\n  RAISE NOTICE 'x;';\nEND\n$do$ LANGUAGE plpgsql;\nDO 'SELECT 1';";
        assert_eq!(
            parts(text),
            [
                (
                    "DO $do$\nBEGIN\n  RAISE NOTICE 'x;';\nEND\n$do$ LANGUAGE plpgsql",
                    0
                ),
                ("DO 'SELECT 1'", 62),
            ]
        );
    }

    #[test]
    fn create_index_concurrently_twice() {
        assert_eq!(
            parts("CREATE INDEX CONCURRENTLY a ON t (x); CREATE INDEX CONCURRENTLY b ON t (y);"),
            [
                ("CREATE INDEX CONCURRENTLY a ON t (x)", 0),
                ("CREATE INDEX CONCURRENTLY b ON t (y)", 38),
            ]
        );
    }

    #[test]
    fn crlf_line_endings() {
        let text = "-- migrate\r\nCREATE TABLE t (\r\n  id int\r\n);\r\n\r\nSELECT 'a;\r\nb';\r\n";
        assert_eq!(
            parts(text),
            [
                ("CREATE TABLE t (\r\n  id int\r\n)", 12),
                ("SELECT 'a;\r\nb'", 46),
            ]
        );
        assert_eq!(line_column(text, 46), (6, 1));
        assert_eq!(line_column(text, 46 + "SELECT 'a;\r\n".len()), (7, 1));
        // The `\r` is the last character of its line.
        assert_eq!(line_column(text, 10), (1, 11));
    }

    #[test]
    fn unterminated_dollar_quote_is_the_last_statement() {
        assert_eq!(
            parts("SELECT 1; DO $x$ BEGIN; END; $y$;\n"),
            [("SELECT 1", 0), ("DO $x$ BEGIN; END; $y$;", 10)]
        );
    }

    #[test]
    fn unterminated_strings_and_comments_are_kept() {
        assert_eq!(
            parts("SELECT 1; SELECT 'a; b"),
            [("SELECT 1", 0), ("SELECT 'a; b", 10)]
        );
        assert_eq!(parts(r"SELECT E'a\';"), [(r"SELECT E'a\';", 0)]);
        assert_eq!(parts(r"SELECT E'\"), [(r"SELECT E'\", 0)]);
        assert_eq!(parts("SELECT \"a; b"), [("SELECT \"a; b", 0)]);
        assert_eq!(
            parts("SELECT 1; /* a /* b */ ; c"),
            [("SELECT 1", 0), ("/* a /* b */ ; c", 10)]
        );
        assert_eq!(parts("SELECT 1 /* a; "), [("SELECT 1 /* a;", 0)]);
        assert_eq!(parts("SELECT $"), [("SELECT $", 0)]);
        assert_eq!(parts("SELECT $a"), [("SELECT $a", 0)]);
    }

    #[test]
    fn line_column_counts_characters() {
        let text = "SELECT 1;\nSELECT 'é✓', x";
        let x = text.find('x').expect("x");
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 9), (1, 10));
        assert_eq!(line_column(text, 10), (2, 1));
        assert_eq!(line_column(text, x), (2, 14));
        // Inside a multi-byte character: that character.
        let e = text.find('é').expect("é");
        assert_eq!(line_column(text, e + 1), line_column(text, e));
        assert_eq!(line_column(text, usize::MAX), (2, 15));
        assert_eq!(line_column("", 3), (1, 1));
    }

    #[test]
    fn char_position_to_byte_skips_multibyte_characters() {
        let statement = "SELECT 'é✓' + nope";
        // PostgreSQL would report `nope` at character 15.
        let byte = char_position_to_byte(statement, 15);
        assert_eq!(&statement[byte..], "nope");
        assert_eq!(char_position_to_byte(statement, 1), 0);
        assert_eq!(char_position_to_byte(statement, 0), 0);
        assert_eq!(char_position_to_byte(statement, 19), statement.len());
        assert_eq!(char_position_to_byte(statement, u32::MAX), statement.len());
        assert_eq!(char_position_to_byte("", 1), 0);
    }

    #[test]
    fn error_position_maps_to_file_line_and_column() {
        let text = "-- ünïcode header\nSELECT 1;\nSELECT 'ß' +\n  nope;";
        let statements = split(text);
        let second = &statements[1];
        let position = 1 + second.sql.chars().take_while(|&c| c != 'n').count();
        let byte = second.offset
            + char_position_to_byte(second.sql, u32::try_from(position).expect("small"));
        assert_eq!(line_column(text, byte), (4, 3));
    }

    /// Complete statements (each ending in a top-level `;`) exercising every rule.
    const SNIPPETS: &[&str] = &[
        "SELECT 'it''s; here';",
        r"SELECT E'a\'; b';",
        r"SELECT 'C:\';",
        r"SELECT U&'\', B'1;', X'2;', N'3;';",
        r#"SELECT "semi;colon""x", U&"y;";"#,
        "SELECT $$a;b$$, $t$ $$; $t$;",
        "SELECT a$b$ FROM t;",
        "PREPARE p AS SELECT $1;",
        "-- c; d\nSELECT 1;",
        "/* a /* b; */ c; */ SELECT 2;",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN 1=1 THEN 1 END; END;",
        "BEGIN;",
        "DO $do$ BEGIN RAISE NOTICE ';'; END $do$;",
        "CREATE INDEX CONCURRENTLY a ON t (x);",
        "CREATE RULE r AS ON INSERT TO t DO ALSO (NOTIFY a; NOTIFY b);",
        "SELECT E'x'\r\n'\\'; y';",
        "SELECT 'é✓;', \"ü;\";",
        ";",
        "/* only a comment */;",
    ];

    const SEPARATORS: &[&str] = &["", " ", "\n", "\r\n", " -- x; y\n", "/* ; */", ";\n"];

    fn check_invariants(text: &str, statements: &[Statement<'_>]) {
        let mut end = 0;
        for s in statements {
            assert!(s.offset >= end, "{text:?}: overlapping {statements:?}");
            assert_eq!(
                text.get(s.offset..s.offset + s.sql.len()),
                Some(s.sql),
                "{text:?}"
            );
            assert!(!s.sql.is_empty(), "{text:?}");
            assert_eq!(s.sql.trim(), s.sql, "{text:?}");
            assert!(
                s.end >= s.offset + s.sql.len() && s.end <= text.len(),
                "{text:?}"
            );
            end = s.end;
        }
    }

    #[test]
    fn generated_inputs_split_like_their_parts() {
        // xorshift: deterministic, and no dependency for a test.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % bound as u64).expect("bound fits")
        };
        for _ in 0..400 {
            let mut text = String::new();
            let mut expected = Vec::new();
            for _ in 0..1 + next(6) {
                text.push_str(SEPARATORS[next(SEPARATORS.len())]);
                let snippet = SNIPPETS[next(SNIPPETS.len())];
                let base = text.len();
                expected.extend(split(snippet).into_iter().map(|s| Statement {
                    sql: s.sql,
                    offset: base + s.offset,
                    end: base + s.end,
                }));
                text.push_str(snippet);
            }
            let statements = split(&text);
            check_invariants(&text, &statements);
            let got: Vec<_> = statements
                .iter()
                .map(|s| (s.sql, s.offset, s.end))
                .collect();
            let want: Vec<_> = expected.iter().map(|s| (s.sql, s.offset, s.end)).collect();
            assert_eq!(got, want, "{text:?}");
            // Every truncation is some unterminated construct: no panic, same invariants.
            for (cut, _) in text.char_indices() {
                let prefix = &text[..cut];
                check_invariants(prefix, &split(prefix));
            }
        }
    }
}
